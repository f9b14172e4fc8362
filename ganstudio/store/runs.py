"""Run names and finding a run's checkpoint, in one place.

check_run_name("fashion-dcgan")                          # plain names only: no separators, not . or ..
run_name_of(ckpt)                                        # the name a checkpoint's run was trained under
path = choose_checkpoint(None, "fashion-dcgan", "checkpoints", kind="gan")   # checkpoints/fashion-dcgan/last.pt
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from ganstudio.errors import GanstudioError
from ganstudio.store.paths import is_file, shown

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}")


def check_run_name(name: str) -> str:
    """A run name becomes a folder under checkpoints/ and samples/: letters, digits, . _ + = - (up to 100), not
    starting with a dot, so it can never point outside them."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise GanstudioError(
            f"run name '{shown(name)}' is not a plain name: use letters, digits, '.', '_', '+', '=' and '-' "
            f"(at most 100, not starting with '.' or '-')"
        )
    return name


def run_name_of(ckpt: dict) -> str:
    config = ckpt.get("config", {})
    data = config.get("data")
    data_name = data.get("name") if isinstance(data, dict) else data
    return check_run_name(config.get("name") or f"{data_name}-{config.get('model')}")


def find_latest_checkpoint(root="checkpoints", kind: Optional[str] = None) -> Path:
    """The newest ``*/last.pt`` under ``root`` (optionally only runs of a model kind, e.g. 'gan')."""
    from ganstudio.store.checkpoint import checkpoint_kind

    root = Path(root)
    found = sorted(root.glob("*/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for path in found:
        if kind is None or checkpoint_kind(path) == kind:
            return path
    what = f"{kind} " if kind else ""
    raise GanstudioError(
        f"no {what}checkpoint found under {root}/ (train one first: ganstudio train --data fashion --model dcgan), "
        "or pass --checkpoint PATH"
    )


def choose_checkpoint(
    checkpoint: Optional[str], run: Optional[str], checkpoints_dir, kind: Optional[str] = None
) -> tuple[Path, str]:
    """(path, how it was chosen) from --checkpoint PATH, a run name, or else the newest run of ``kind``."""
    if checkpoint and run:
        raise GanstudioError(f"give a run name ('{shown(run)}') or --checkpoint {shown(checkpoint)}, not both")
    if checkpoint:
        return Path(checkpoint), "--checkpoint"
    if run:
        if not NAME.fullmatch(run) and is_file(run):  # a checkpoint file typed where the run name goes
            raise GanstudioError(f"'{shown(run)}' is a file, not a run name: pass it as --checkpoint {shown(run)}")
        check_run_name(run)
        path = Path(checkpoints_dir) / run / "last.pt"
        if not path.is_file():
            known = sorted(p.parent.name for p in Path(checkpoints_dir).glob("*/last.pt"))
            raise GanstudioError(f"no run '{run}' under {checkpoints_dir}/ (runs there: {', '.join(known) or 'none'})")
        return path, f"run '{run}'"
    path = find_latest_checkpoint(checkpoints_dir, kind)
    return path, f"the newest {kind + ' ' if kind else ''}run, '{path.parent.name}' (name a run to choose another)"


class RunLock:
    """One writer per run: an exclusive lock on checkpoints/<name>/.lock (with the holder's pid in it) while a
    process trains the run. The operating system drops the lock when the process ends, kill -9 included, so a lock
    is never stale; the pid is only there to name the holder."""

    def __init__(self, run_dir: Path, name: str):
        self.path = Path(run_dir) / ".lock"
        self.name = name
        self.handle = None

    def acquire(self) -> "RunLock":
        import os

        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as e:
            raise GanstudioError(
                f"cannot write to {self.path.parent}: {e.strerror or e} "
                "(choose another folder with --checkpoints-dir / --samples-dir)"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise GanstudioError(
                f"run '{self.name}' is being trained by process {holder} ({self.path}); wait for it to finish "
                f"or stop it, or train under another --name"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the flock
            self.handle = None
