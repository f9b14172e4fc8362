"""What a run folder says about its run, without loading weights: the summary `ganstudio runs` lists and
`ganstudio report` shows.

    summaries = list_runs("checkpoints")        # one RunSummary per run folder, corrupt ones with their problem
    s = summarize(Path("checkpoints/fashion-dcgan"))
    s.status, s.steps, s.latest_eval["fid"]
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from ganstudio.errors import GanstudioError
from ganstudio.limits import LINE_CHARS, clean_text
from ganstudio.output.run_defaults import DEFAULTS, FLAGS, changed_options  # noqa: F401  (DEFAULTS: for tests)
from ganstudio.scoring.table import BEST, SPACE_NAMES, ordered, record_key, space_keys, spaces_recorded
from ganstudio.store.rundir import is_finite, is_whole
from ganstudio.store.runs import is_run_folder, lock_held


@dataclass
class RunSummary:
    name: str
    run_dir: str
    problem: Optional[str] = None  # a run that cannot be read: what is wrong, in one line
    status: str = "?"  # finished, interrupted, diverged, failed, running, no checkpoint, unreadable
    data: str = ""
    model: str = ""
    kind: str = ""
    condition: Optional[str] = None
    options: dict = field(default_factory=dict)  # what differs from the model's defaults: model options, augment, ...
    steps: int = 0
    epochs: float = 0.0
    elapsed_s: float = 0.0
    images_per_s: Optional[float] = None
    device: str = ""
    precision: str = ""
    world_size: int = 1
    machine: str = ""
    latest_eval: Optional[dict] = None  # the classifier space's newest scores (--eval-every, ganstudio eval), step
    best_eval: Optional[dict] = None  # the classifier space's lowest FD
    floor_fid: Optional[float] = None  # real images' FD in the classifier's space, when measured
    # Every feature space's scores, never mixed: {space: {"latest": {...}, "best": {...}, "floor_fid": x}}, each
    # under the plain score keys (fid, kid, ...); the classifier's are also latest_eval, best_eval and floor_fid.
    scores: dict = field(default_factory=dict)
    saved_at: Optional[str] = None  # last.pt's modification time, ISO 8601 UTC
    error: Optional[str] = None  # how a diverged or failed run ended (the log's last line)
    config: dict = field(default_factory=dict)
    class_names: list = field(default_factory=list)
    results: dict = field(default_factory=dict)  # the model's evaluate() at the end of training (test accuracy, ...)
    ganstudio_version: str = ""

    @property
    def options_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.options.items())

    def to_json(self) -> dict:
        return asdict(self)


def list_runs(checkpoints_dir, plugins=None) -> list[RunSummary]:
    root = Path(checkpoints_dir)
    if not root.is_dir():
        raise GanstudioError(f"no folder {root}/ (train a run first, or pass --checkpoints-dir DIR)")
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".") and is_run_folder(p)]
    return [summarize(folder, plugins) for folder in folders]


def summarize(run_dir: Path, plugins=None) -> RunSummary:
    """A run's summary; never raises for a damaged run: the problem goes into ``problem``, and a value that is not
    what it should be (NaN seconds, a step that is not a number) is left out and named there too. ``plugins`` (the
    loaded Plugins) tells the model's own defaults, so that only what differs from them is listed as options."""
    from ganstudio.store.checkpoint import load_checkpoint
    from ganstudio.store.rundir import metrics_records

    run_dir = Path(run_dir)
    s = RunSummary(name=run_dir.name, run_dir=str(run_dir))
    problems: list[str] = []
    running = lock_held(run_dir)  # a process holds the run lock
    try:
        records, skipped = metrics_records(run_dir / "metrics.jsonl")
    except GanstudioError as e:
        records, skipped = [], 0
        problems.append(str(e))
    if skipped:
        problems.append(
            f"metrics.jsonl: {skipped} record{'s' if skipped > 1 else ''} without a whole-number step skipped"
        )
    read_scores(s, records, known_spaces(plugins))
    path = run_dir / "last.pt"
    if not path.is_file():
        s.status = "running" if running else "no checkpoint"
        problems.append("no last.pt yet" if running else "no last.pt (the run stopped before its first save)")
        return with_problems(s, problems)
    s.saved_at = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    try:
        ckpt = load_checkpoint(path, mmap=True)
        problems += read_checkpoint(s, ckpt, plugins)
    except GanstudioError as e:
        s.status = "unreadable"
        return with_problems(s, [str(e), *problems])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        problem = f"{path}: checkpoint is missing or has a malformed entry ({type(e).__name__}: {e})"
        s.status = "unreadable"
        return with_problems(s, [problem, *problems])
    last = records[-1] if records else {}
    if running:
        s.status = "running"
    elif last.get("event") == "error":
        s.status = "diverged" if last.get("diverged") else "failed"
        s.error = clean_text(last.get("error")) if last.get("error") is not None else None
    else:
        s.status = "finished" if ckpt["progress"].get("finished") else "interrupted"
    return with_problems(s, problems)


def with_problems(s: RunSummary, problems: list[str]) -> RunSummary:
    s.problem = clean_text("; ".join(problems), limit=LINE_CHARS) if problems else None
    return s


class Checked:
    """Reads values from a checkpoint, keeping a default and noting a problem for each one that is not valid."""

    def __init__(self):
        self.problems: list[str] = []

    def _bad(self, where: str, value, what: str, default):
        self.problems.append(f"last.pt: {where} is {clean_text(repr(value), 40)}, not {what}")
        return default

    def count(self, where: str, value, default: int = 0, least: int = 0) -> int:
        return value if is_whole(value) and value >= least else self._bad(where, value, "a whole number", default)

    def amount(self, where: str, value, default: float = 0.0) -> float:
        ok = is_finite(value) and value >= 0
        return float(value) if ok else self._bad(where, value, "a finite number >= 0", default)

    def text(self, where: str, value, default: str = "") -> str:
        if value is None:
            return default
        return clean_text(value) if isinstance(value, str) else self._bad(where, value, "a string", default)

    def plain(self, where: str, value):
        """An option's value as a listing shows it: a clean string, a finite number, a bool or None."""
        if value is None or isinstance(value, bool) or is_finite(value):
            return value
        return self.text(where, value, clean_text(repr(value), 40))


def read_checkpoint(s: RunSummary, ckpt: dict, plugins=None) -> list[str]:
    """Fills ``s`` from the checkpoint; the problems with its values, each in a few words."""
    config, progress, model = ckpt["config"], ckpt["progress"], ckpt["model"]
    check = Checked()
    s.config = config
    data = config.get("data")
    s.data = check.text("config.data.name", data.get("name", "") if isinstance(data, dict) else str(data))
    s.model = check.text("model.name", model["name"])
    s.kind, s.condition = check.text("model.kind", model.get("kind", "")), model.get("condition")
    s.condition = check.text("model.condition", s.condition) or None
    saved = ckpt.get("data", {})
    s.class_names = [clean_text(name) for name in saved.get("classes") or []]
    model_options, settings = changed_options(config, s.model, s.data, plugins)
    options = {**model_options, **settings}
    s.options = {clean_text(k): check.plain(f"option {clean_text(k)}", v) for k, v in options.items()}
    s.steps = check.count("progress.step", progress["step"])
    s.elapsed_s = check.amount("progress.elapsed_s", progress.get("elapsed_s", 0.0))
    images = check.count("progress.images_seen", progress.get("images_seen", 0))
    size = check.count("data.size", saved.get("size") or 0)
    s.world_size = check.count("progress.world_size", progress.get("world_size", 1), default=1, least=1)
    batch = check.count("config.batch_size", config.get("batch_size", 0)) * s.world_size
    epoch_images = size // batch * batch if batch else size  # whole batches, as train counts an epoch (drop_last)
    s.epochs = images / epoch_images if epoch_images else 0.0
    s.images_per_s = images / s.elapsed_s if s.elapsed_s > 0 else None
    s.device = check.text("progress.device", progress.get("device")) or check.text(
        "config.device", config.get("device")
    )
    s.precision = check.text("progress.precision", progress.get("precision")) or check.text(
        "config.precision", config.get("precision")
    )
    s.machine = check.text("progress.machine", progress.get("machine", ""))
    s.ganstudio_version = check.text("ganstudio_version", ckpt.get("ganstudio_version", ""))
    results = (ckpt.get("results") or {}).items()
    s.results = {clean_text(k): check.plain(f"results.{clean_text(k)}", v) for k, v in results if is_plain(v)}
    return check.problems


def is_plain(value) -> bool:
    return isinstance(value, (int, float, str, bool))


def known_spaces(plugins=None) -> list[str]:
    """The feature spaces whose scores a summary looks for: the built-in ones and every registered one."""
    return list(dict.fromkeys([*SPACE_NAMES, *(plugins.feature_extractors if plugins is not None else ())]))


def read_scores(s: RunSummary, records: list[dict], spaces=tuple(SPACE_NAMES)) -> None:
    """Latest and best evaluation of each feature space in ``spaces``: records with a finite FD in that space, from
    the eval callback or `ganstudio eval`; each space's scores apart, under the plain score keys."""
    for space in dict.fromkeys(name for r in records for name in spaces_recorded(r, spaces)):
        keys = space_keys(space)  # record key -> (score, is the floor)
        best_key, floor_key = record_key(BEST.key, space), record_key(BEST.floor, space)
        evals = [r for r in records if is_finite(r.get(best_key))]
        if not evals:
            continue

        def pick(r: dict, keys=keys) -> dict:
            kept = {(score.floor if floor else score.key): r.get(k) for k, (score, floor) in keys.items()}
            return {"step": r["step"], **{k: v for k, v in kept.items() if is_finite(v)}}

        floors = [r[floor_key] for r in evals if is_finite(r.get(floor_key))]
        s.scores[space] = {
            "latest": pick(evals[-1]),
            "best": pick(min(evals, key=lambda r, key=best_key: r[key])),
            "floor_fid": floors[-1] if floors else None,
        }
    s.scores = {space: s.scores[space] for space in ordered(s.scores)}
    mine = s.scores.get("classifier")
    if mine:
        s.latest_eval, s.best_eval, s.floor_fid = mine["latest"], mine["best"], mine["floor_fid"]


def reproduce_command(s: RunSummary, plugins=None) -> str:
    """The `ganstudio train` command that trains this run again, to the same step: what differs from the model's
    defaults (``plugins``: the loaded Plugins; None: from TrainConfig's, with every model option recorded)."""
    c = s.config
    model_options, settings = changed_options(c, s.model, s.data, plugins)
    data = c.get("data") if isinstance(c.get("data"), dict) else {"name": s.data}
    args = ["ganstudio", "train", "--data", data.get("name", s.data), "--model", s.model]
    if data.get("root"):
        args += ["--data-root", str(data["root"])]
    for key, flag in (("image_size", "--image-size"), ("channels", "--channels")):
        if data.get(key):
            args += [flag, str(data[key])]
    for key, value in (data.get("options") or {}).items():
        args += ["--data-option", f"{key}={value}"]
    for key, value in model_options.items():
        args += ["--model-option", f"{key}={value}"]
    for key, flag in FLAGS:
        if key in settings:
            args += [flag, str(settings[key])]
    args += ["--steps", str(s.steps), "--name", s.name]
    if s.world_size > 1:
        args += ["--nproc", str(s.world_size)]
    return " ".join(shlex.quote(a) for a in args)


def duration(seconds: float) -> str:
    if not is_finite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def age(iso: Optional[str]) -> str:
    """'3 min ago', '2 h ago', '4 days ago'."""
    if not iso:
        return "-"
    seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(iso)).total_seconds()
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"
