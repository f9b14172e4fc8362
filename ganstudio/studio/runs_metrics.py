"""A run's metrics.jsonl as chart points: each record cut to the finite numbers the charts draw, each key with its
chart and label (eval scores labelled as the score table labels them), and a long history thinned so that a page
gets at most CHART_POINTS records at once.

    records = read_records(Path("checkpoints/fashion-dcgan"))    # the validating reader's records
    points = [point(r) for r in records]                           # {"step": 10, "v": {"loss_d": 0.61, ...}}
    charts = chart_keys(points)                                    # {"loss_d": ["losses", "loss_d"], ...}
"""

from __future__ import annotations

import re
from pathlib import Path

from ganstudio.errors import GanstudioError
from ganstudio.scoring.table import SCORES, SPACE_NAMES, labelled, record_key
from ganstudio.store.rundir import METRICS_FILE, is_finite, metrics_records

CHART_POINTS = 5_000  # records one answer sends; a longer history is thinned (every k-th, evals and the last kept)
PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # a key from a run file is charted only if it is a plain name
NOT_CHARTED = {"step", "epoch", "elapsed_s", "steps_per_s"}
# metrics.jsonl key -> (chart, label) for every eval score in every known feature space, and its floor
SCORE_KEYS: dict[str, tuple[str, str]] = {}
for _space in SPACE_NAMES:
    for _s in SCORES:
        SCORE_KEYS[record_key(_s.key, _space)] = (_s.group, labelled(_s, _space))
        if _s.floor:
            SCORE_KEYS[record_key(_s.floor, _space)] = (_s.group, f"floor {labelled(_s, _space)}")


def read_records(run_dir: Path) -> tuple[list[dict], int]:
    """(metrics.jsonl's records with a whole-number step, how many were skipped), through the validating reader."""
    return metrics_records(Path(run_dir) / METRICS_FILE)


def safe_records(run_dir: Path) -> tuple[list[dict], str | None]:
    """The records, or [] and the one-line problem when metrics.jsonl is damaged."""
    try:
        return read_records(run_dir)[0], None
    except GanstudioError as e:
        return [], str(e)


def point(record: dict) -> dict:
    """A record as the charts take it: its step and the finite numbers of plain keys (an eval record: its scores)."""
    evaluated = record.get("event") == "eval"
    values = {}
    for key, value in record.items():
        if key in NOT_CHARTED or not is_finite(value) or not PLAIN_KEY.fullmatch(key):
            continue
        if evaluated and key not in SCORE_KEYS:
            continue  # an eval record's bookkeeping (sample counts, shares) is not a curve
        values[key] = value
    return {"step": record["step"], "v": values}


def chart_of(key: str) -> tuple[str, str]:
    """(the chart a key is drawn in, its label)."""
    if key in SCORE_KEYS:
        return SCORE_KEYS[key]
    if key.startswith("loss"):
        return "losses", key
    if key == "images_per_s":
        return "images/s", "images/s"
    return "other metrics", key


def chart_keys(points: list[dict]) -> dict[str, list[str]]:
    """Every key the points hold -> [its chart, its label]."""
    keys = dict.fromkeys(key for p in points for key in p["v"])
    return {key: list(chart_of(key)) for key in keys}


def thinned(records: list[dict], most: int = CHART_POINTS) -> list[dict]:
    """At most about ``most`` records: every k-th log record, every eval record and the last one."""
    if len(records) <= most:
        return records
    every = -(-len(records) // most)
    last = len(records) - 1
    return [r for i, r in enumerate(records) if i % every == 0 or i == last or r.get("event") == "eval"]


def last_log(records: list[dict]) -> dict:
    """The newest log record (not an eval or error event): the run's current step, speed and elapsed time."""
    return next((r for r in reversed(records) if "event" not in r), {})


def new_points(records: list[dict], since: int = 0, last_step=None) -> dict:
    """What a page that has the first ``since`` records (the last of them at ``last_step``) lacks: the later records
    as points, or all of them (with ``reset``) when those are no longer the file's first records (a resumed run
    drops the records after its checkpoint and trains those steps again)."""
    reset = since > len(records) or (since > 0 and last_step is not None and records[since - 1]["step"] != last_step)
    since = 0 if reset else max(since, 0)
    fresh = thinned(records[since:])
    points = [point(r) for r in fresh]
    last = records[-1]["step"] if records else None
    return {"reset": reset, "count": len(records), "last_step": last, "points": points, "charts": chart_keys(points)}
