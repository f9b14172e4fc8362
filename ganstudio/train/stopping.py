"""Graceful stop: the first Ctrl-C / SIGTERM finishes the current step, saves and exits 130 / 143; a second Ctrl-C
aborts at once (the run keeps its last saved, step-aligned state). Stops nest: a signal that arrives while a nested
run trains (a classifier for eval) stops the nested run and every run around it.

    with GracefulStop(log) as stop:
        while not stop.requested: ...
    exit_code = stop.exit_code          # 0, 130 or 143
"""

from __future__ import annotations

import signal
import time
from typing import Callable, Optional

_ACTIVE: list = []  # the GracefulStops entered in this process, outermost first


class GracefulStop:
    def __init__(self, log: Callable[[str], None], repeat_grace_s: float = 0.0):
        self.log = log
        self.signum: Optional[int] = None
        self.repeat_grace_s = (
            repeat_grace_s  # a repeat within this many seconds is the same request (torchrun forwards it)
        )
        self._first_at = 0.0
        self._previous: dict = {}

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
        self.log(f"{signal.Signals(signum).name} received: finishing the step and saving (Ctrl-C again to abort)")

    def __enter__(self):
        _ACTIVE.append(self)
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
            # Under torchrun the signals were blocked while the process group started (distributed.py): from here
            # the main thread takes them, and one that came meanwhile is handled now.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        except ValueError:  # not in the main thread: leave signals alone
            pass
        return self

    def __exit__(self, *exc):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        return False
