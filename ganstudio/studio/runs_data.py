"""What the runs pages show, as plain JSON-ready dicts: the rows of the runs table (the columns of ``ganstudio runs``),
a run's live state (progress, speed, ETA, scores with their floor) and its saved grids. Run folders are read the way
``ganstudio runs`` reads them (output.summaries.summarize) and never locked; a summary is read again only when the
run's files change.

    cache = SummaryCache(Path("checkpoints"), plugins)
    rows = [row(s) for s in cache.all()]
    state = run_state(cache.get("fashion-dcgan"), metrics_records, grid_steps)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Optional

from ganstudio.errors import GanstudioError
from ganstudio.limits import LINE_CHARS, clean_text
from ganstudio.output.summaries import RunSummary, age, duration, summarize
from ganstudio.scoring.table import BEST, SCORES, labelled, score
from ganstudio.store.rundir import is_finite, is_whole, read_embedded_image, read_grid_index
from ganstudio.store.runs import NAME, check_run_name, is_run_folder

RECHECK_S = 5.0  # a running run's summary is read again at least this often (its process may have been killed)
WATCHED = ("last.pt", "metrics.jsonl", ".lock")  # the files whose change makes a summary stale
# The runs table: (key, column head, numeric: sorted as numbers and aligned right), as `ganstudio runs` shows them.
COLUMNS = (
    ("name", "run", False),
    ("what", "data · model, options", False),
    ("steps", "steps · epochs", True),
    ("time", "time · img/s", True),
    ("device", "device", False),
    ("score", f"{BEST.short} latest (best)", True),
    ("quality", "prec. / recall", True),
    ("floor", "floor", True),
    ("saved", "saved", True),
    ("status", "status", False),
)


class SummaryCache:
    """Run summaries under ``checkpoints_dir``, each read again when its last.pt, metrics.jsonl or lock file changes
    (and every RECHECK_S while it is running)."""

    def __init__(self, checkpoints_dir: Path, plugins=None):
        self.root, self.plugins = Path(checkpoints_dir), plugins
        self.entries: dict[str, tuple[tuple, float, RunSummary]] = {}
        self.lock = threading.Lock()

    def all(self) -> list[RunSummary]:
        """Every run folder's summary, by name (as list_runs finds them)."""
        if not self.root.is_dir():
            raise GanstudioError(f"no folder {self.root}/ (train a run first, or pass --checkpoints-dir DIR)")
        folders = [p for p in sorted(self.root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        return [self.summary(folder) for folder in folders if is_run_folder(folder)]

    def get(self, name: str) -> RunSummary:
        """The summary of run ``name``; one line when the name is not a plain run name or there is no such run."""
        folder = self.root / check_run_name(name)
        if folder.is_symlink() or not folder.is_dir() or not is_run_folder(folder):
            raise GanstudioError(f"no run '{name}' under {self.root}/ (the runs page lists them)")
        return self.summary(folder)

    def summary(self, folder: Path) -> RunSummary:
        key = signature(folder)
        with self.lock:
            known = self.entries.get(folder.name)
        if known and known[0] == key and not (known[2].status == "running" and time.monotonic() - known[1] > RECHECK_S):
            return known[2]
        try:
            found = summarize(folder, self.plugins)
        except (GanstudioError, OSError) as e:  # a folder or file it may not read: the row says so
            found = RunSummary(folder.name, str(folder), problem=clean_text(e, LINE_CHARS), status="unreadable")
        with self.lock:
            self.entries[folder.name] = (key, time.monotonic(), found)
        return found


def signature(folder: Path) -> tuple:
    """What tells a run's files changed: each watched file's size and modification time."""
    stamps = []
    for name in WATCHED:
        try:
            info = os.stat(folder / name)
            stamps.append((info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def row(s: RunSummary) -> dict:
    """One row of the runs table: each column's shown text and the value it sorts by."""
    cells = {"name": [s.name, s.name], "status": [status_text(s), s.status]}
    if s.status in ("unreadable", "no checkpoint") or (s.status == "running" and not s.steps):
        cells["what"] = [s.problem or "", ""]
        return {"name": s.name, "link": linkable(s.name), "status": s.status, "problem": s.problem, "cells": cells}
    latest, best = s.latest_eval or {}, s.best_eval or {}
    precision, recall = score("precision"), score("recall")
    both = precision.key in latest and recall.key in latest
    device = " ".join(x for x in (s.device, s.precision) if x and x != "auto") or "-"
    cells.update(
        what=[f"{s.data} · {s.model}" + (f" {s.options_text}" if s.options else ""), s.data],
        steps=[f"{s.steps:,} · {s.epochs:.2f}", s.steps],
        time=[duration(s.elapsed_s) + (f" · {s.images_per_s:,.0f}" if s.images_per_s else ""), s.elapsed_s],
        device=[device + (f" x{s.world_size}" if s.world_size > 1 else ""), device],
        score=[f"{BEST.show(latest[BEST.key])} ({BEST.show(best[BEST.key])})" if latest else "-", latest.get("fid")],
        quality=[
            f"{precision.show(latest['precision'])} / {recall.show(latest['recall'])}" if both else "-",
            latest.get("precision"),
        ],
        floor=[BEST.show(s.floor_fid) if s.floor_fid is not None else "-", s.floor_fid],
        saved=[age(s.saved_at), s.saved_at],
    )
    return {"name": s.name, "link": linkable(s.name), "status": s.status, "problem": s.problem, "cells": cells}


def linkable(name: str) -> bool:
    """Whether a run's page can be asked for by this name (a folder renamed by hand may not be a plain name)."""
    return NAME.fullmatch(name) is not None


def status_text(s: RunSummary) -> str:
    return s.status + (f": {s.error}" if s.error else "")


def target_steps(s: RunSummary) -> Optional[int]:
    """The step the run trains to: its --steps, or its --epochs counted in steps; None for --minutes only."""
    steps, epochs = s.config.get("steps"), s.config.get("epochs")
    if is_whole(steps) and steps > 0:
        return steps
    if is_whole(epochs) and epochs > 0 and s.epochs > 0 and s.steps > 0:
        return round(epochs * s.steps / s.epochs)
    return None


def run_state(s: RunSummary, last: Optional[dict], grids: list[int], grid_problem: Optional[str] = None) -> dict:
    """A run page's live numbers: step of target, %, images/s, ETA, elapsed, scores and the saved grids' steps.
    ``last``: the newest log record of metrics.jsonl (it is ahead of last.pt while the run trains)."""
    last = last or {}
    problem = "; ".join(p for p in (s.problem, grid_problem) if p) or None
    note = None
    if s.status == "running" and not s.model:  # before its first save only metrics.jsonl says how it goes
        problem = grid_problem
        note = "its target, ETA and settings show once it saves its first checkpoint (an epoch's end, or every 5 min)"
    step = max(s.steps, last["step"] if is_whole(last.get("step")) else 0)
    target = target_steps(s)
    speed = last.get("images_per_s") if is_finite(last.get("images_per_s")) else s.images_per_s
    steps_per_s = last.get("steps_per_s") if is_finite(last.get("steps_per_s")) else None
    eta = (target - step) / steps_per_s if s.status == "running" and target and steps_per_s else None
    elapsed = last.get("elapsed_s") if is_finite(last.get("elapsed_s")) else s.elapsed_s
    return {
        "name": s.name,
        "status": s.status,
        "status_text": status_text(s),
        "problem": problem,
        "note": note,
        "what": f"{s.data} · {s.model}" + (f" {s.options_text}" if s.options else "") if s.model else "",
        "step": step,
        "target": target,
        "percent": min(100.0, 100.0 * step / target) if target else None,
        "images_per_s": f"{speed:,.0f}" if speed else "-",
        "eta": duration(eta) if eta is not None and eta >= 0 else "-",
        "elapsed": duration(max(elapsed, s.elapsed_s)),
        "scores": score_rows(s),
        "floor": f"{BEST.short} {BEST.show(s.floor_fid)}" if s.floor_fid is not None else None,
        "grids": grids,
    }


def score_rows(s: RunSummary) -> list[dict]:
    """The eval scores as the score table labels them: latest, best (by FD) and which way is better."""
    latest, best = s.latest_eval or {}, s.best_eval or {}
    rows = []
    for entry in SCORES:
        if entry.key in latest:
            rows.append(
                {
                    "label": labelled(entry, None),
                    "latest": entry.show(latest[entry.key]),
                    "best": entry.show(best[entry.key]) if entry.key in best else "-",
                    "better": entry.better,
                }
            )
    if rows:
        rows[0]["steps"] = [latest.get("step"), best.get("step")]
    return rows


def grid_steps(samples: Path) -> tuple[list[int], Optional[str]]:
    """(the steps of a run's saved fixed-latent grids, oldest first; the one-line problem with its index)."""
    try:
        entries = read_grid_index(samples)
    except GanstudioError as e:
        return [], str(e)
    return sorted({e["step"] for e in entries if e["file"].endswith(".png")}), None


def grid_png(samples: Path, step: int) -> Optional[bytes]:
    """The PNG of a run's grid at ``step`` (the last one written for it), through read_embedded_image's checks."""
    entries = [e for e in read_grid_index(samples) if e["step"] == step and e["file"].endswith(".png")]
    if not entries:
        return None
    return read_embedded_image(samples, entries[-1]["file"], "png")
