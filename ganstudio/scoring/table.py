"""The one score table: every eval score's key, labels, better direction, format, scale, curves panel and floor.
Plain data, no torch: ``ganstudio eval``, the eval callback, curves, report and runs all read it; anyone may import it.

    from ganstudio.scoring.table import SCORES, score
    for s in SCORES:
        print(s.label, s.show(result["samples"][s.key]), s.better)      # FID 12.34 lower
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Score:
    key: str  # its name in score dicts, --json, metrics.jsonl and run summaries
    label: str  # eval's table, the log line of --eval-every, the live view and the curves' legend
    short: str  # the run pages and tables (ganstudio report / runs), where the column heads are tight
    better: str  # "lower", "higher" or "about 1"
    format: str = "{:.3f}"  # of the shown value (after ``scale``)
    scale: float = 1.0  # shown multiplied by this: KID is shown x1000
    group: str = ""  # the curves panel it shares with the scores of the same group
    range: Optional[tuple[float, float]] = None  # the curves panel's fixed y range
    in_training: bool = True  # reported into the step's record by the eval callback (--eval-every)
    # Every score has a floor: the same score for held-out real images (the "real" column of ganstudio eval).
    # ``floor`` names the metrics.jsonl key ganstudio eval records it under (runs and report show it); None: not
    # recorded.
    floor: Optional[str] = None
    # An unbiased estimate of a distance (KID): for two sets from one distribution it scatters around 0, so a value
    # below 0 means "indistinguishable at this many images", not a distance; shown as ``≈0`` (--json and
    # metrics.jsonl keep the estimate itself, and eval's report prints it beside the note).
    unbiased: bool = False

    def show(self, value: Optional[float]) -> str:
        """The value as every table and log line shows it: ``0.0281`` -> ``28.10`` for KID×10³; ``≈0`` for an
        unbiased estimate below 0; ``—`` for a score the space has not (no Inception Score in DINOv2's)."""
        if value is None:
            return "—"
        if self.unbiased and value < 0:
            return "≈0"
        return self.format.format(value * self.scale)


SCORES = (
    Score("fid", "FID", "FD", "lower", "{:.2f}", group="Fréchet distance", floor="floor_fid"),
    Score("kid", "KID×10³", "KID×10³", "lower", "{:.2f}", scale=1000.0, group="KID×10³", unbiased=True),
    # Not reported during training: the log line of --eval-every shows it, the curves do not.
    Score("inception_score", "Inception Score", "IS", "higher", "{:.2f}", group="Inception Score", in_training=False),
    Score("precision", "precision", "precision", "higher", group="precision / recall", range=(0.0, 1.0)),
    Score("recall", "recall", "recall", "higher", group="precision / recall", range=(0.0, 1.0)),
    Score("density", "density", "density", "about 1", group="density / coverage"),
    Score("coverage", "coverage", "coverage", "higher", group="density / coverage"),
)
BY_KEY = {s.key: s for s in SCORES}
KEYS = tuple(BY_KEY)
TRAINING_SCORES = tuple(s for s in SCORES if s.in_training)  # what --eval-every reports at its step
BEST = BY_KEY["fid"]  # the score best.pt, `runs --sort fid` and the report's "best" column go by


def score(key: str) -> Score:
    return BY_KEY[key]


# Every score is labelled with the feature space it was measured in, and a space other than the classifier's keeps
# its scores under its own keys (``fid_inception``): a classifier FD and an Inception FID never share a column.
SPACE_NAMES = {"classifier": "classifier", "inception": "Inception", "dinov2": "DINOv2", "dinov2-l": "DINOv2-L"}


def space_name(space: Optional[str]) -> str:
    return SPACE_NAMES.get(space or "classifier", space)


def labelled(s: Score, space: Optional[str], short: bool = False) -> str:
    """``FID (Inception)``, ``FD (classifier)``, ``KID×10³ (Inception)``: only Inception's Fréchet distance is FID.
    ``short``: the tight label of run pages and tables (``IS (Inception)``)."""
    if s.key == "fid":
        label = "FID" if space == "inception" else "FD"
    else:
        label = s.short if short else s.label
    return f"{label} ({space_name(space)})"


def record_key(key: str, space: Optional[str]) -> str:
    """The metrics.jsonl key of a score measured in ``space``: ``fid`` in the classifier's, ``fid_inception`` else."""
    return key if space in (None, "classifier") else f"{key}_{space}"


def ordered(spaces) -> list[str]:
    """Feature space names, the classifier's first, then the built-in ones, then the rest by name (a stable order
    for columns, series and sort keys)."""
    known = list(SPACE_NAMES)
    return sorted(dict.fromkeys(spaces), key=lambda n: (known.index(n) if n in known else len(known), n))


def space_keys(space: Optional[str]) -> dict[str, tuple[Score, bool]]:
    """Every metrics.jsonl key a score in ``space`` is recorded under -> (its score, True for the floor's key)."""
    keys = {record_key(s.key, space): (s, False) for s in SCORES}
    keys.update({record_key(s.floor, space): (s, True) for s in SCORES if s.floor})
    return keys


def sort_key(space: Optional[str]) -> str:
    """``runs --sort``'s key for the best score in ``space``: ``fid``, ``fid_inception``."""
    return record_key(BEST.key, space)


def spaces_recorded(record: dict, spaces) -> list[str]:
    """Which of ``spaces`` (known feature space names) a metrics record holds a Fréchet distance of."""
    return [space for space in ordered(spaces) if sort_key(space) in record]
