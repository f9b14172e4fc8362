"""The validating readers of the JSON-lines files a run leaves in its folders: checkpoints/<name>/metrics.jsonl (the
``log`` callback writes it) and samples/<name>/grids.jsonl (the ``grid`` callback's index). Callbacks that write
these files and commands that read them back both import from here, so neither imports the other. Imports only
store.atomic and errors."""

from __future__ import annotations

import math
from pathlib import Path

from ganstudio.errors import GanstudioError
from ganstudio.store.atomic import read_jsonl

METRICS_FILE = "metrics.jsonl"
GRID_INDEX = "grids.jsonl"


def read_metrics(path, up_to_step: float = math.inf) -> list[dict]:
    """The records of a metrics.jsonl file with step <= ``up_to_step``; [] when there is no file.
    A torn last line (the process was killed mid-write) is skipped."""
    return [r for r in read_jsonl(path) if r.get("step", 0) <= up_to_step]


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
