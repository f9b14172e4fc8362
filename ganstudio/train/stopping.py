"""Graceful stop: the first Ctrl-C / SIGTERM finishes the current step, saves and exits 130 / 143; a second Ctrl-C
aborts at once (the run keeps its last saved, step-aligned state). Stops nest: a signal that arrives while a nested
run trains (a classifier for eval) stops the nested run and every run around it. ``--save-on-signal SIGUSR1`` adds a
batch scheduler's warning signal, which stops the same way; ``train`` then exits REQUEUE (ganstudio train --help).

    with GracefulStop(log, save_on=signal.SIGUSR1) as stop:
        while not stop.requested: ...
    exit_code = stop.exit_code          # 0, or 128 + the signal: 130, 143, 138 for SIGUSR1
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Callable, Iterator, Optional

from ganstudio.errors import GanstudioError

_ACTIVE: list = []  # the GracefulStops entered in this process, outermost first
STOPS = (signal.SIGINT, signal.SIGTERM)  # always a graceful stop
# EX_TEMPFAIL (sysexits.h: "a temporary failure; the user is invited to retry"): saved on the warning signal, the run
# continues when the same command runs again with --resume auto. Under torchrun the ranks exit 0 instead.
REQUEUE = 75
# Not a warning: SIGKILL / SIGSTOP cannot be caught; the others are faults or job control, not a request to stop.
UNFIT = {"SIGKILL", "SIGSTOP", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGCHLD", "SIGCONT", "SIGTSTP"}


def warning_signal(text: str) -> signal.Signals:
    """--save-on-signal's value: a catchable signal by name, SIGUSR1 or USR1 (any case)."""
    name = text.strip().upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    found = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if found is None or name in UNFIT:
        usable = sorted(s.name for s in signal.Signals if s.name not in UNFIT and not s.name.startswith("SIGRT"))
        raise GanstudioError(
            f"--save-on-signal {text}: {'not a signal this program can catch' if found else 'no such signal'}; "
            f"name one of {', '.join(usable)} (a batch scheduler's warning is usually SIGUSR1)"
        )
    return found


@contextlib.contextmanager
def held(signums) -> Iterator[None]:
    """Block ``signums`` in this thread and the threads it starts (gloo's, DDP's) until a GracefulStop takes them in
    the main thread: a warning that comes while the run starts waits for it (its default action would kill the
    process). One that comes after the run ended is dropped, not acted on: the run was saved."""
    signums = set(signums)
    if not signums:
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # not the main thread: handlers stay as they are
            previous = {s: signal.signal(s, signal.SIG_IGN) for s in signums}  # drops a pending one
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signums - set(mask))  # only what this blocked
            for s, handler in previous.items():
                signal.signal(s, handler)


class GracefulStop:
    def __init__(self, log: Callable[[str], None], repeat_grace_s: float = 0.0, save_on: Optional[int] = None):
        self.log = log
        self.signals = (*STOPS, save_on) if save_on and save_on not in STOPS else STOPS
        self.save_on = save_on
        self.signum: Optional[int] = None
        self.repeat_grace_s = (
            repeat_grace_s  # a repeat within this many seconds is the same request (torchrun forwards it)
        )
        self._first_at = 0.0
        self._previous: dict = {}
        self._mask: Optional[set] = None  # the signal mask before __enter__, set again by __exit__

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + self.signum if self.signum is not None else 0

    def _handler(self, signum, frame):
        if self.signum is not None and time.monotonic() - self._first_at < self.repeat_grace_s:
            return
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._first_at = time.monotonic()
        for stop in [*_ACTIVE, self]:
            stop.signum = stop.signum or signum
        then = ", then exiting to be requeued" if signum == self.save_on else " (Ctrl-C again to abort)"
        self.log(f"{signal.Signals(signum).name} received: finishing the step and saving{then}")

    def __enter__(self):
        _ACTIVE.append(self)
        try:
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
            # Under torchrun the signals were blocked while the process group started (distributed.py, and held()
            # for the warning signal): from here the main thread takes them, and one that came meanwhile is handled.
            self._mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, set(self.signals))
        except ValueError:  # not in the main thread: leave signals alone
            pass
        return self

    def __exit__(self, *exc):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._mask is not None:  # signals held before (held(), distributed.py) are held again, not let through
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
            self._mask = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        return False
