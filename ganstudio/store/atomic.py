"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

    atomic_write("samples/run/curves.png", lambda tmp: fig.savefig(tmp))      # any writer that takes a path
    atomic_write_text("checkpoints/run/metrics.jsonl", "".join(lines))
    atomic_write_bytes("out.png", png_bytes)      # made in memory first: a writer that fails leaves nothing open
    atomic_write(path, lambda tmp: torch.save(payload, tmp), durable=True)     # fsync file and folder too

The temp file sits beside the target (same file system, so the rename is atomic) and keeps the target's
suffix, so writers that choose a format from the name (Pillow, matplotlib, imageio) still work.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Callable


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def atomic_write(path, write: Callable[[Path], object], durable: bool = False) -> Path:
    """Call ``write(tmp)``, then rename tmp over ``path``. ``durable``: fsync the file and the folder, so the new
    file survives a power cut (checkpoints). On any error the temp file is removed and the old file kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # removing the temp file never hides why the write failed
            tmp.unlink(missing_ok=True)
    if durable:
        fsync_folder(path.parent)
    remove_stale_temp_files(path)
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path, data, durable: bool = False) -> Path:
    """``data`` (bytes, made in memory first) as ``path``, atomically. Image and model writers make their bytes
    in memory, so a full disk fails here, in Python, as an OSError: never inside a C++ writer (torch aborts) or a
    writer object whose later clean-up fails again (imageio's PluginV3.__del__ traceback)."""
    return atomic_write(path, lambda tmp: write_all(tmp, data), durable=durable)


def write_all(tmp: Path, data) -> None:
    """Write every byte of ``data`` to a new file ``tmp`` (unbuffered: nothing is left to fail when it closes)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort: some file systems refuse to open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def remove_stale_temp_files(path: Path) -> None:
    """Temp files of ``path`` left by writers killed mid-write are never read; remove those of dead processes."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.stem}.tmp-*{path.suffix}"):
        pid = stale.name[len(f".{path.stem}.tmp-") : len(stale.name) - len(path.suffix)]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_jsonl(path) -> list[dict]:
    """The JSON objects of a JSON-lines file this package appends to ([] when there is none). A torn last line (the
    writer was killed mid-line) is skipped; damage anywhere else is one line naming the file and the line."""
    import json

    from ganstudio.errors import GanstudioError

    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            if number == len(lines):
                break
            raise GanstudioError(f"{path}:{number} is not a JSON object; delete or repair the line") from None
        records.append(record)
    return records


# What to do about a write that failed, by its errno (one line must say the fix, not only the cause).
FIXES = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or write elsewhere",
    errno.EROFS: "a read-only file system: write elsewhere",
    errno.EACCES: "no permission there: write to a folder of yours",
    errno.EPERM: "no permission there: write to a folder of yours",
    errno.ENOENT: "that folder cannot hold files: write elsewhere",
    errno.EISDIR: "a folder has that name: choose another name",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
}


def write_failure(out, e: OSError):
    """One line for an OSError while writing ``out``: the file, the cause, and the fix."""
    from ganstudio.errors import GanstudioError
    from ganstudio.store.paths import shown

    fix = FIXES.get(e.errno)
    return GanstudioError(f"could not write {shown(out)}: {e.strerror or e}" + (f" ({fix})" if fix else ""))


@contextlib.contextmanager
def writing(out):
    """``with writing(path): ...``: an OSError while writing a command's output is one line naming the file."""
    try:
        yield
    except OSError as e:
        raise write_failure(out, e) from None
