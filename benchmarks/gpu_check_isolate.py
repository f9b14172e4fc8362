"""One check of benchmarks/gpu_check.py in a process of its own, under a timeout: a hang, a crash or an exception
becomes a FAILED row with one line, never the end of the run.

    status, payload = isolated(lambda: {"result": "ok"}, timeout=60, log=Path("/tmp/x.log"))

The check runs in a fork of the caller, so it starts with torch and ganstudio already imported (a fresh interpreter
costs seconds per check); the caller must not have touched CUDA (a forked child cannot use a CUDA context its parent
made). Its output goes to ``log``. On a timeout the check and every process under it (torchrun's ranks, which run in
a session of their own; torch.compile's workers) are killed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from ganstudio.train.launch import children_of


def one_line(error: BaseException) -> str:
    """``TypeName: the first line of the message``, at most 200 characters."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return line[:200]


def last_line(log: Path) -> str:
    """The last non-empty line of a log (what a process said before it died), or ''."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children, their children, ...), from /proc."""
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every process under it."""
    for target in [*descendants(pid), pid]:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child(check: Callable[[], dict], writer, log: str) -> None:
    os.setsid()  # its own process group: a timeout kills what it started too
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # Python's own streams too: they may not write to fd 1 and 2 (pytest's capture replaces them)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    try:
        message = ("ok", check())
    except BaseException as e:  # noqa: B036 (any failure, SystemExit included, is the row's one line)
        traceback.print_exc()
        message = ("FAILED", one_line(e))
    sys.stdout.flush()
    sys.stderr.flush()
    writer.send(message)
    writer.close()


def isolated(check: Callable[[], dict], timeout: float, log: Path) -> tuple[str, object]:
    """("ok", what ``check`` returned) or ("FAILED", one line): ``check`` run in a forked process, killed (with
    everything it started) after ``timeout`` seconds."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(check, writer, str(log)))
    process.start()
    writer.close()
    try:
        if not reader.poll(timeout):
            kill_tree(process.pid)
            process.join(10)
            return "FAILED", f"timed out after {timeout:.0f} s (log: {log})"
        try:
            message = reader.recv()
        except EOFError:  # died without a word: a segfault, the OOM killer, os._exit
            message = None
    finally:
        reader.close()
    deadline = time.monotonic() + 30  # a clean exit, past threads the check left running
    while process.is_alive() and time.monotonic() < deadline:
        process.join(0.5)
    if process.is_alive():
        kill_tree(process.pid)
        process.join(10)
    if message is None:
        said = last_line(log)
        return "FAILED", f"the check's process died (exit {process.exitcode})" + (f": {said}" if said else "")
    return message
