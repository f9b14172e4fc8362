"""``ganstudio train --nproc N``: the same command under torchrun on this machine, N processes.

    ganstudio train --data fashion --nproc 2
    # = torchrun --standalone --nproc-per-node 2 -m ganstudio train --data fashion

torchrun runs in a session of its own, so a Ctrl-C reaches its ranks once, from here: every rank finishes its step,
rank 0 saves, they exit 0 and torchrun with them, quietly; this command then exits 130 (143 for SIGTERM). Stopped
before training began, it says "interrupted" and nothing else.

torchrun and every rank start as ``python -P`` (``--no-python``): no module of the working folder is importable, where
``python -m`` would put it first on sys.path. The ranks' stderr passes through rank_logs.py: a failure is ONE line
from here (which rank, and why), not one per rank and torchrun's ChildFailedError block; --debug shows everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ganstudio.limits import STDERR_TAIL_BYTES
from ganstudio.train.accel import cpu_cores
from ganstudio.train.rank_logs import RankLogs
from ganstudio.train.stopping import REQUEUE

LAUNCHED = "GANSTUDIO_LAUNCHED"  # set for the ranks of `train --nproc`: a rank stopped by a signal exits 0


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (torchrun's ranks), from /proc; [] where there is no /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def torchrun_command(argv: list[str], nproc: int, log_dir: str) -> list[str]:
    """torchrun and its ranks as ``python -P`` (nothing from the working folder), each rank's stderr to a file."""
    safe = [sys.executable, "-P"]
    torchrun = [*safe, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    # -u as torchrun gives its own `-m` ranks: their output comes as it is printed.
    rank = ["--no-python", *safe, "-u", "-m", "ganstudio", *without_nproc(argv)]
    return [*torchrun, "--log-dir", log_dir, "--redirects", "2", *rank]


def _keep_tail(stream, tail: bytearray, verbatim: bool) -> None:
    """torchrun's own stderr: kept (its last STDERR_TAIL_BYTES), shown only with --debug."""
    for line in iter(stream.readline, b""):
        if verbatim:
            sys.stderr.write(line.decode("utf-8", "replace"))
        tail += line
        del tail[:-STDERR_TAIL_BYTES]


def launch_torchrun(argv: list[str], nproc: int, save_on_signal: int | None = None) -> int:
    """Run ``ganstudio <argv>`` on ``nproc`` ranks under torchrun; its exit status, and one line when it failed.
    ``save_on_signal``: that signal too is passed on to the ranks (they save and stop), and the launcher then exits
    REQUEUE, as one process would."""
    shown = " ".join(["torchrun --standalone --nproc-per-node", str(nproc), "-m ganstudio", *without_nproc(argv)])
    print(f"starting {nproc} processes: {shown}", file=sys.stderr, flush=True)
    verbatim = "--debug" in argv or bool(os.environ.get("GANSTUDIO_DEBUG"))
    log_dir = tempfile.mkdtemp(prefix="ganstudio-ranks-")
    try:
        with RankLogs(Path(log_dir), nproc, verbatim) as logs:
            command = torchrun_command(argv, nproc, log_dir)
            code, received, tail = _run_torchrun(command, nproc, logs, verbatim, save_on_signal)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    if received:
        if code != 0:  # stopped before training began, or while it stopped: the ranks' words are not news
            stopped = f"stopped by {signal.Signals(received[0]).name}"
            print("interrupted" if received[0] == signal.SIGINT else stopped, file=sys.stderr)
        elif received[0] == save_on_signal:
            return REQUEUE  # rank 0 said where it saved and how to continue
        return 128 + received[0]
    if code != 0:
        print(f"error: {logs.why_failed(tail.decode('utf-8', 'replace'), code)}", file=sys.stderr)
        return 1
    return 0


def _run_torchrun(command: list[str], nproc: int, logs: RankLogs, verbatim: bool, save_on_signal: int | None):
    received: list[int] = []
    child = None

    def forward(signum, frame):
        received.append(signum)
        logs.quiet = True
        if child is None:
            return  # torchrun has not started: it will not be
        # To the ranks, not to torchrun: a signalled torchrun prints its own traceback and kills the ranks after a
        # grace period, while ranks stopped here save, exit 0, and torchrun ends without a word.
        for pid in children_of(child.pid) or [child.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    # The handlers come first: a Ctrl-C at any moment from here on is forwarded, never a KeyboardInterrupt that
    # would leave torchrun running on its own.
    stopping = (signal.SIGINT, signal.SIGTERM, *([save_on_signal] if save_on_signal else []))
    previous = {sig: signal.signal(sig, forward) for sig in stopping}
    tail = bytearray()
    try:
        if received:
            return 1, received, tail
        # CPU processes share the cores (torchrun would set 1 thread each, with a warning); GPUs are not affected.
        env = {"OMP_NUM_THREADS": str(max(1, cpu_cores() // nproc)), **os.environ, LAUNCHED: "1"}
        child = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE)
        if received:  # came while torchrun was starting, before `child` was set
            forward(received[0], None)
        reader = threading.Thread(target=_keep_tail, args=(child.stderr, tail, verbatim), daemon=True)
        reader.start()
        code = child.wait()
        reader.join()
        return code, received, tail
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
