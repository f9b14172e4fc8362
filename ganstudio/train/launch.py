"""``ganstudio train --nproc N``: the same command under torchrun on this machine, N processes.

    ganstudio train --data fashion --nproc 2
    # = torchrun --standalone --nproc-per-node 2 -m ganstudio train --data fashion

torchrun runs in a session of its own, so a Ctrl-C reaches its ranks once, from here: every rank finishes its step,
rank 0 saves, they exit 0 and torchrun with them, quietly; this command then exits 130 (143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from ganstudio.train.accel import cpu_cores

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


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "ganstudio",
        *without_nproc(argv),
    ]


def launch_torchrun(argv: list[str], nproc: int) -> int:
    command = torchrun_command(argv, nproc)
    shown = " ".join(["torchrun", *command[3:]])
    print(f"starting {nproc} processes: {shown}", file=sys.stderr, flush=True)
    # CPU processes share the cores (torchrun would set 1 thread each, with a warning); GPU runs are not affected.
    env = {"OMP_NUM_THREADS": str(max(1, cpu_cores() // nproc)), **os.environ, LAUNCHED: "1"}
    child = subprocess.Popen(command, env=env, start_new_session=True)
    received: list[int] = []

    def forward(signum, frame):
        received.append(signum)
        # To the ranks, not to torchrun: a signalled torchrun prints its own traceback and kills the ranks after a
        # grace period, while ranks stopped here save, exit 0, and torchrun ends without a word.
        for pid in children_of(child.pid) or [child.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    if code != 0:
        print(
            f"error: the distributed run failed (torchrun exit status {code}); the failing rank says why above",
            file=sys.stderr,
        )
        return 1
    return 0
