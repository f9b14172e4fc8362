"""The ``curves`` callback: samples/<name>/curves.png, redrawn after every epoch and when training ends.

    ganstudio train --data fashion --epochs 3
    # -> samples/fashion-dcgan/curves.png

One panel per metric group, as the model and the callbacks declare them (``Metric(label, group, range=...)``):
for the DCGAN, its D and G losses together and D(x) with D(G(z)) on [0, 1]; eval scores as points. A metric
nobody declared gets a panel of its own, so a learning rate or a critic output is never squeezed into
another's scale. Every eval score is labelled with its feature space ("FD (classifier)", "FID (Inception)"), and
a space other than the classifier's has panels of its own: two spaces never share a series or an axis. Drawn
with matplotlib's Agg backend (no display needed). The points come from checkpoints/<name>/metrics.jsonl for
earlier invocations of a resumed run and from the run's own history for this one, so the curves cover the whole
run.

``plot_curves(records, path, title, specs)`` draws any list of metric records (e.g. ``read_metrics(...)``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, Metric
from ganstudio.builtin.callbacks.eval_space import declared_metrics
from ganstudio.store.atomic import atomic_write_bytes, writing
from ganstudio.store.rundir import METRICS_FILE, read_metrics

if TYPE_CHECKING:  # annotations only: numpy is imported where it is used, not at module import
    import numpy as np

NOT_PLOTTED = {"step", "epoch", "elapsed_s", "images_per_s", "steps_per_s", "fp16_skipped_steps"}


def smooth(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average with the given span (bias-corrected, so the start is not pulled to 0)."""
    import numpy as np

    alpha = 2.0 / (span + 1)
    out, avg, weight = np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out[i] = avg / weight
    return out


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    points = [
        (r["step"], r[key])
        for r in records
        if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
    ]
    points = [(s, v) for s, v in points if np.isfinite(v)]
    if not points:
        return np.empty(0), np.empty(0)
    steps, values = zip(*points)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def panels(records: list[dict], specs: dict) -> list[tuple[str, list[tuple[str, Metric]]]]:
    """(group, [(key, spec)]) in first-seen order; an undeclared metric is its own group."""
    groups: dict[str, list] = {}
    for key in dict.fromkeys(k for r in records for k in r):
        if key in NOT_PLOTTED or not len(_series(records, key)[0]):
            continue
        spec = specs.get(key) or Metric(key, key)
        groups.setdefault(spec.group, []).append((key, spec))
    return list(groups.items())


def plot_curves(records: list[dict], path, title: str = "", specs: dict | None = None) -> Path | None:
    """Draw the panels for ``records`` into ``path`` (PNG, written atomically); None when there is nothing to draw."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg", force=True)  # a file, never a window (also on machines without a display)
    import matplotlib.pyplot as plt

    groups = panels(records, specs or {}) if records else []
    if not groups:
        return None
    span = max(1, len(records) // 25)
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.6 * len(groups) + 0.6), sharex=True, squeeze=False)
    for ax, (group, members) in zip(axes[:, 0], groups):
        for i, (key, spec) in enumerate(members):
            steps, values = _series(records, key)
            values = values * spec.scale
            color = f"C{i}"
            if spec.points:  # sparse and precise: points joined by lines, one per evaluation
                changed = np.concatenate([[True], values[1:] != values[:-1]])
                ax.plot(steps[changed], values[changed], "o-", color=color, label=spec.label, markersize=3)
            else:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(
                    steps,
                    smooth(values, span),
                    color=color,
                    label=f"{spec.label} (smoothed)" if span > 1 else spec.label,
                    linewidth=1.6,
                )
            if spec.range is not None:
                low, high = spec.range
                pad = (high - low) * 0.02
                ax.set_ylim(low - pad, high + pad)
        ax.set_ylabel(group)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    last = records[-1]
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(f"{title}  (step {last['step']:,}, epoch {last.get('epoch', 0):.2f})".strip())
    fig.tight_layout()
    try:
        buffer = io.BytesIO()  # drawn in memory, then written atomically: a full disk fails in one place
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    with writing(path):
        return atomic_write_bytes(path, buffer.getbuffer())


def score_specs(run) -> dict:
    """The run's declared metrics, and the scores of every registered feature space (``ganstudio eval`` records
    them between invocations, with or without the eval callback), each labelled with its space."""
    from ganstudio.scoring.table import SCORES, SPACE_NAMES

    spaces = dict.fromkeys([*SPACE_NAMES, *run.plugins.feature_extractors])
    return {**declared_metrics(spaces, SCORES), **run.metric_specs}


class CurvesCallback:
    def __init__(self, options):
        self.earlier: list[dict] = []

    @hookimpl
    def before_training_run(self, run):
        # Records of earlier invocations of a resumed run: run.history only holds this invocation's.
        self.earlier = read_metrics(run.run_dir / METRICS_FILE, up_to_step=run.step) if run.step > 0 else []

    def draw(self, run) -> None:
        first_now = run.history[0]["step"] if run.history else float("inf")
        records = [r for r in self.earlier if r["step"] < first_now] + list(run.history)
        plot_curves(records, run.samples_dir / "curves.png", title=run.name, specs=score_specs(run))

    @hookimpl
    def after_epoch_run(self, run):
        self.draw(run)

    @hookimpl
    def after_training_run(self, run):
        self.draw(run)


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "curves", CurvesCallback, "samples/<name>/curves.png: a panel per metric group, redrawn each epoch"
        )
    )
