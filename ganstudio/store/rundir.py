"""The validating readers of the files a run leaves in its folders: checkpoints/<name>/metrics.jsonl (the ``log``
callback writes it), samples/<name>/grids.jsonl (the ``grid`` callback's index) and the images a page embeds
(``read_embedded_image``). Callbacks that write these files and commands that read them back both import from here,
so neither imports the other. Imports only store.atomic, limits and errors."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Optional

from ganstudio import limits
from ganstudio.errors import GanstudioError
from ganstudio.store.atomic import read_jsonl

METRICS_FILE = "metrics.jsonl"
GRID_INDEX = "grids.jsonl"
# What each kind of embedded file must start with: a renamed text file (or /etc/passwd behind a link) is not one.
SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n",), "gif": (b"GIF87a", b"GIF89a")}


def read_metrics(path, up_to_step: float = math.inf) -> list[dict]:
    """The records of a metrics.jsonl file with step <= ``up_to_step``; [] when there is no file.
    A torn last line (the process was killed mid-write) is skipped, and so is a record without a whole-number step
    (``metrics_records`` counts them)."""
    return [r for r in metrics_records(path)[0] if r["step"] <= up_to_step]


def metrics_records(path) -> tuple[list[dict], int]:
    """(the records of a metrics.jsonl file that have a whole-number step, how many records had none)."""
    records = read_jsonl(path)
    kept = [r for r in records if is_whole(r.get("step"))]
    return kept, len(records) - len(kept)


def is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value) -> bool:
    """A real number (not a bool, NaN or infinity): what a score or a duration read from a run file must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_embedded_image(folder, name: str, kind: str) -> Optional[bytes]:
    """The bytes of image ``name`` in a run's ``folder`` for embedding in a page; None when there is no such file.
    Anything else is refused with one line saying why (GanstudioError): a link (the file or the run's folder), a
    path leading outside the folder, not a regular file, over limits.EMBED_BYTES (checked before reading), or
    without the ``kind``'s signature ("png" or "gif")."""
    folder = Path(folder)
    relative = PurePosixPath(str(name))
    if not str(name) or relative.is_absolute() or ".." in relative.parts or "\\" in str(name):
        raise GanstudioError(f"'{limits.clean_text(name)}' is not a plain file name inside {folder}")
    path = folder / relative
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise GanstudioError(f"{path} is a link; only a file inside the run's folder is embedded")
    except FileNotFoundError:
        return None
    if folder.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
        raise GanstudioError(f"{path} lies outside the run's folder (through a link); only its own files are embedded")
    try:
        # O_NOFOLLOW: a link swapped in after the check is refused; O_NONBLOCK: a FIFO cannot hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise GanstudioError(f"{path} cannot be read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise GanstudioError(f"{path} is not a regular file")
        limits.at_most(f"{path} (bytes)", info.st_size, limits.EMBED_BYTES, "a run's image is far smaller")
        data = handle.read(limits.EMBED_BYTES + 1)
    limits.at_most(f"{path} (bytes)", len(data), limits.EMBED_BYTES, "a run's image is far smaller")
    if not data.startswith(SIGNATURES[kind]):
        raise GanstudioError(
            f"{path} is not a {kind.upper()} image (it does not start with a {kind.upper()} signature)"
        )
    return data


def read_grid_index(folder) -> list[dict]:
    """Entries of samples/<name>/grids.jsonl, last entry per file (a resumed run rewrites the same files). A torn
    last line (the process was killed mid-write) is skipped; damage elsewhere is one line naming the file."""
    path = Path(folder) / GRID_INDEX
    entries = {}
    for entry in read_jsonl(path):
        if not isinstance(entry.get("file"), str) or not isinstance(entry.get("step"), int):
            raise GanstudioError(
                f"{path}: an entry without a file name and step ({entry}); delete the file to rebuild it from the grids"
            )
        entries[entry["file"]] = entry
    return sorted(entries.values(), key=lambda e: e["step"])
