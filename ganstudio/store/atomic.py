"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

    atomic_write("samples/run/curves.png", lambda tmp: fig.savefig(tmp))      # any writer that takes a path
    atomic_write_text("checkpoints/run/metrics.jsonl", "".join(lines))
    atomic_write(path, lambda tmp: torch.save(payload, tmp), durable=True)     # fsync file and folder too

The temp file sits beside the target (same file system, so the rename is atomic) and keeps the target's
suffix, so writers that choose a format from the name (Pillow, matplotlib, imageio) still work.
"""

from __future__ import annotations

import contextlib
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
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_folder(path.parent)
    remove_stale_temp_files(path)
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


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


@contextlib.contextmanager
def writing(out):
    """``with writing(path): ...``: an OSError while writing a command's output is one line naming the file."""
    from ganstudio.errors import GanstudioError

    try:
        yield
    except OSError as e:
        raise GanstudioError(f"could not write {out}: {e.strerror or e}") from None
