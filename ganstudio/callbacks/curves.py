"""The ``curves`` callback: samples/<name>/curves.png, redrawn after every epoch and when training ends.

    ganstudio train --data fashion --epochs 3
    # -> samples/fashion-dcgan/curves.png

Panels: D and G losses (raw, faint, with a smoothed line), D(x) and D(G(z)), and - when the run logs any
other numbers, such as eval scores - one panel for those in [0, 1] (precision, recall) and one for each other
(FID, KID). Drawn with matplotlib's Agg backend (no
display needed). The points come from checkpoints/<name>/metrics.jsonl for earlier invocations of a resumed
run and from the run's own history for this one, so the curves cover the whole run.

``plot_curves(records, path, title)`` draws any list of metric records (e.g. ``read_metrics(...)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.callbacks.log import FILENAME, read_metrics

LOSSES = {"loss_d": "D loss", "loss_g": "G loss", "loss": "loss"}
PROBABILITIES = {"d_real": "D(x)", "d_fake": "D(G(z))"}
NOT_PLOTTED = {"step", "epoch", "elapsed_s", "images_per_s"}


def smooth(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average with the given span (bias-corrected, so the start is not pulled to 0)."""
    alpha = 2.0 / (span + 1)
    out, avg, weight = np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out[i] = avg / weight
    return out


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
    points = [(s, v) for s, v in points if np.isfinite(v)]
    if not points:
        return np.empty(0), np.empty(0)
    steps, values = zip(*points)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def plot_curves(records: list[dict], path, title: str = "") -> Path | None:
    """Draw the panels for ``records`` into ``path`` (PNG, written atomically); None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # a file, never a window (also on machines without a display)
    import matplotlib.pyplot as plt

    if not records:
        return None
    keys = list(dict.fromkeys(k for r in records for k in r))
    losses = [k for k in keys if k in LOSSES or k.startswith("loss_")]
    probabilities = [k for k in keys if k in PROBABILITIES]
    others = [k for k in keys if k not in NOT_PLOTTED and k not in losses and k not in probabilities and len(_series(records, k)[0])]
    # Scores differ in scale (FID ~ tens, precision/recall in [0, 1]): those in [0, 1] share a panel, the
    # others get one each.
    unit = [k for k in others if all(0 <= v <= 1 for v in _series(records, k)[1])]
    panels = [("losses", losses), ("discriminator outputs", probabilities), ("scores", unit)]
    panels += [(key, [key]) for key in others if key not in unit]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    span = max(1, len(records) // 25)

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels) + 0.6), sharex=True, squeeze=False)
    for ax, (name, panel_keys) in zip(axes[:, 0], panels):
        for i, key in enumerate(panel_keys):
            steps, values = _series(records, key)
            if not len(steps):
                continue
            label = LOSSES.get(key) or PROBABILITIES.get(key) or key
            color = f"C{i}"
            if key in others:  # eval scores are few and precise: points joined by lines, not smoothed
                # A score is repeated in every record until the next evaluation: keep where it changes.
                changed = np.concatenate([[True], values[1:] != values[:-1]])
                steps, values = steps[changed], values[changed]
                ax.plot(steps, values, "o-", color=color, label=label, markersize=3)
            else:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(steps, smooth(values, span), color=color, label=f"{label} (smoothed)" if span > 1 else label, linewidth=1.6)
        if name == "discriminator outputs":
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    last = records[-1]
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(f"{title}  (step {last['step']:,}, epoch {last.get('epoch', 0):.2f})".strip())
    fig.tight_layout()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


class CurvesCallback:
    def __init__(self, options: dict):
        self.earlier: list[dict] = []

    @hookimpl
    def before_training_run(self, run):
        # Records of earlier invocations of a resumed run: run.history only holds this invocation's.
        self.earlier = read_metrics(run.run_dir / FILENAME, up_to_step=run.step) if run.step > 0 else []

    def draw(self, run) -> None:
        first_now = run.history[0]["step"] if run.history else float("inf")
        records = [r for r in self.earlier if r["step"] < first_now] + list(run.history)
        plot_curves(records, run.samples_dir / "curves.png", title=run.config.run_name)

    @hookimpl
    def after_epoch_run(self, run):
        self.draw(run)

    @hookimpl
    def after_training_run(self, run):
        self.draw(run)


@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("curves", CurvesCallback, "samples/<name>/curves.png: losses, D(x)/D(G(z)) and scores, redrawn each epoch"))
