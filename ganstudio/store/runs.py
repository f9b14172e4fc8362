"""Run names, finding a run's checkpoint, its lock, and what --overwrite may empty, in one place.

check_run_name("fashion-dcgan")                          # plain names only: no separators, not . or ..
run_name_of(ckpt)                                        # the name a checkpoint's run was trained under
path = choose_checkpoint(None, "fashion-dcgan", "checkpoints", kind="gan")   # checkpoints/fashion-dcgan/last.pt
is_run_folder(Path("checkpoints/x"))                     # False for a folder holding only a stale .lock
check_overwritable(folder); empty_run_folder(folder)     # --overwrite: only a run's own files, never through a link
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
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
        self.path = Path(run_dir) / LOCK
        self.name = name
        self.handle = None

    def acquire(self) -> "RunLock":
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
        if not try_flock(handle, fcntl):
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

    def release(self, remove: bool = False) -> None:
        """Drop the lock; ``remove``: delete the .lock file first, while still held (a command that wrote nothing
        leaves no trace; a process that opens it meanwhile makes a new one and its own lock)."""
        if self.handle is not None:
            if remove:
                self.path.unlink(missing_ok=True)
            self.handle.close()  # closing drops the flock
            self.handle = None


def try_flock(handle, fcntl, patience_s: float = 1.0) -> bool:
    """Take the exclusive lock, retrying for ``patience_s``: `runs` and the studio probe a lock by taking it for a
    moment (lock_held), and a training that starts during a probe must not mistake it for another trainer."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def lock_held(run_dir) -> bool:
    """True while a process holds the run's lock (RunLock): the run is being trained."""
    try:
        import fcntl
    except ImportError:
        return False
    lock = Path(run_dir) / LOCK
    if not lock.is_file():
        return False
    try:
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def is_run_folder(folder) -> bool:
    """A run's folder under checkpoints/: it holds last.pt or metrics.jsonl, or a process holds its lock (a run
    before its first save). A folder holding only a stale .lock (a command that failed) is none."""
    folder = Path(folder)
    return any((folder / name).is_file() for name in ("last.pt", "metrics.jsonl")) or lock_held(folder)


# --- --overwrite: emptying a run's folders -----------------------------------------------------------------------

LOCK = ".lock"
# What --overwrite may delete: the files ganstudio and its built-in callbacks write in a run's folders (checkpoints,
# metrics, grids, timeline frames, gifs, exports, samples, reports), by name; anything else means the folder is not
# only a run's, and it is left alone.
RUN_FILE_SUFFIXES = (".pt", ".jsonl", ".json", ".png", ".gif", ".onnx", ".npz", ".html")
RUN_FILE_PREFIXES = ("events.out.tfevents.", ".write-test-")  # TensorBoard's event files; check_writable's probe


def foreign_entry(folder: Path) -> Optional[str]:
    """The first thing under ``folder`` a run never writes (a link, or a file not named as a run's files), as a
    path relative to it; None when everything there is a run's."""
    for top, dirs, files in os.walk(folder, onerror=_raise):  # never follows a link (followlinks=False)
        for name in sorted(dirs + files):
            path = Path(top) / name
            shown_path = path.relative_to(folder)
            if path.is_symlink():
                return f"{shown_path} (a link)"
            is_file = name in files
            if is_file and not (name == LOCK or name.endswith(RUN_FILE_SUFFIXES) or name.startswith(RUN_FILE_PREFIXES)):
                return str(shown_path)
            if is_file and not stat.S_ISREG(os.lstat(path).st_mode):
                return f"{shown_path} (not a plain file)"
    return None


def _raise(error: OSError):
    raise error


def check_overwritable(folder: Path) -> None:
    """One line when --overwrite must not empty ``folder`` (<root>/<run name>): a link (it would lead out of
    --checkpoints-dir / --samples-dir), not a folder, or holding anything a run never writes. Absent: nothing."""
    try:
        mode = os.lstat(folder).st_mode
        if stat.S_ISLNK(mode):
            odd = "is a link (--overwrite never follows one out of the folder)"
        elif not stat.S_ISDIR(mode):
            odd = "is not a folder"
        else:
            entry = foreign_entry(folder)
            odd = f"holds {entry}, which ganstudio never writes" if entry else None
    except FileNotFoundError:
        return
    except OSError as e:
        odd = f"cannot be read ({e.strerror or e})"
    if odd:
        raise GanstudioError(
            f"--overwrite empties only a run's own folders: {shown(folder)} {odd}; move it away, or train under "
            f"another --name"
        )


def empty_run_folder(folder: Path) -> None:
    """Delete everything in ``folder`` (checked by check_overwritable) but its .lock, which this process holds."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    try:
        for entry in entries:
            if entry.name == LOCK:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)  # never follows a link inside
            else:
                os.unlink(entry.path)
    except OSError as e:
        raise GanstudioError(f"--overwrite: cannot delete {e.filename or folder}: {e.strerror or e}") from None
