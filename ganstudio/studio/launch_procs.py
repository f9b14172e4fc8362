"""The trainings the studio starts: the ordinary ``ganstudio train`` in a process of its own (its own session, so the
studio's Ctrl-C never reaches it), its output in a log file under the cache (never in the run's folders), stopped
with SIGINT, the clean save of Ctrl-C (ganstudio/train/stopping.py).

    training = Training.start(name, ["train", "--data=fashion", ...], log_dir, resumed=False)
    training.state()      # starting, running, stopping, stopped, finished or failed
    training.stop()       # SIGINT to its process group, once: it finishes the step, saves and exits 130
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ganstudio.api.data import cache_root
from ganstudio.limits import STDERR_TAIL_BYTES, clean_lines

KEPT_LOGS = 50  # logs of earlier trainings kept under the cache; older ones go when a training starts
ANNOUNCED = "data: "  # the first line train prints once the run is open and checked (train.py announce_run)
ERROR = "error: "  # how the CLI starts its one-line problem
SAVED = "saved "  # train's line for a checkpoint written: "saved .../last.pt at step 13 (interrupted)"
STOP_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def log_folder() -> Path:
    """Where the trainings' output goes: the studio's own folder under the cache, outside every run folder."""
    return cache_root() / "studio" / "logs"


@dataclass
class Training:
    """One ``ganstudio train`` process started from the page."""

    name: str
    command: list  # as a person would type it: ["ganstudio", "train", ...]
    process: subprocess.Popen
    log: Path
    resumed: bool
    budget: dict  # {"steps": "200", "minutes": ""}: what Resume continues with
    started: float = field(default_factory=time.time)
    stop_sent: bool = False
    announced: bool = False

    @classmethod
    def start(cls, name: str, args: list, resumed: bool, budget: dict) -> "Training":
        """``python -P -m ganstudio <args>`` in a new session, stdin closed, stdout and stderr into a fresh log."""
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        prune_logs(folder)
        log = folder / f"{name}.{time.strftime('%Y%m%d-%H%M%S')}.{time.monotonic_ns() % 10**6:06d}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines reach the log as train prints them
        with open(log, "xb") as out:  # the child keeps its own handle
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "ganstudio", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: the studio's Ctrl-C is not its Ctrl-C
            )
        return cls(name, ["ganstudio", *args], process, log, resumed, budget)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def lines(self) -> list[str]:
        """The last lines of its output (at most STDERR_TAIL_BYTES), cleaned of control characters."""
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - STDERR_TAIL_BYTES))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        lines = text.splitlines()[1:] if size > STDERR_TAIL_BYTES else text.splitlines()  # the first may be cut
        return [clean_lines(line) for line in lines if line.strip()]

    def state(self) -> str:
        """starting (checking, loading), running, stopping (saving), stopped (saved), finished or failed."""
        code = self.process.poll()
        if not self.announced:
            self.announced = any(line.startswith(ANNOUNCED) for line in self.lines())
        if code is None:
            return "stopping" if self.stop_sent else "running" if self.announced else "starting"
        if code == 0:
            return "finished"
        return "stopped" if code in STOP_CODES and self.problem() is None else "failed"

    def problem(self) -> Optional[str]:
        """The CLI's one-line error (without "error: "), once it printed one."""
        errors = [line for line in self.lines() if line.startswith(ERROR)]
        return errors[-1][len(ERROR) :] if errors else None

    def latest(self) -> str:
        """Its newest line (the progress, a note); once it ended, where it saved (the line train prints)."""
        lines = self.lines()
        saved = [line for line in lines if line.startswith(SAVED)] if not self.alive else []
        return saved[-1] if saved else lines[-1] if lines else ""

    def stop(self) -> bool:
        """Ctrl-C, as a terminal sends it (to the process group); once: a second one would abort without saving."""
        if self.stop_sent or not self.alive:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        self.stop_sent = True
        return True

    def summary(self) -> dict:
        """What the page's list shows."""
        state = self.state()
        return {
            "name": self.name,
            "state": state,
            "resumed": self.resumed,
            "pid": self.process.pid,
            "exit_code": self.process.poll(),
            "problem": self.problem() if state == "failed" else None,
            "latest": self.latest(),
            "command": " ".join(self.command),
            "budget": self.budget,
            "started": time.strftime("%H:%M:%S", time.localtime(self.started)),
        }

    def forget(self) -> None:
        """A start that failed before its run opened leaves no log behind (the page showed its one line)."""
        with contextlib.suppress(OSError):
            self.log.unlink()


def prune_logs(folder: Path) -> None:
    """Keep the newest KEPT_LOGS logs (the studio writes one per training it starts)."""
    with contextlib.suppress(OSError):
        logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for old in logs[: max(0, len(logs) - KEPT_LOGS + 1)]:
            old.unlink(missing_ok=True)
