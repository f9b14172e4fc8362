"""The ``grid`` callback: the fixed-noise sample grid at the start of a run, after every epoch, every
``--grid-every`` steps and at the end.

    ganstudio train --data fashion --steps 600 --grid-every 100

Files in samples/<name>/: step_000000.png (the untrained generator), step_000100.png, ..., epoch_0001.png,
latest.png, and grids.jsonl (one line per grid: file, step, epoch) from which ``ganstudio gif`` rebuilds a timeline.

Other callbacks (``gif``, ``tensorboard``) get the same picture from ``fixed_noise_grid(run)``, which renders it
once per step however many callbacks ask, and follow the same schedule through ``GridSchedule``.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.images import make_grid, save_png

INDEX = "grids.jsonl"

# run -> (step, grid): the grid of the current step, shared by every callback that shows it.
_rendered: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fixed_noise_grid(run) -> np.ndarray | None:
    """The fixed-noise sample grid of ``run`` at its current step (uint8 (H, W) or (H, W, 3)); None for a
    model that cannot generate. Rendered once per step: later callers get the cached array."""
    if run.model.kind != "gan" or len(run.fixed_noise) == 0:
        return None
    cached = _rendered.get(run)
    if cached is not None and cached[0] == run.step:
        return cached[1]
    grid = make_grid(run.generate(run.fixed_noise))
    _rendered[run] = (run.step, grid)
    return grid


class GridSchedule:
    """When a grid is due: at step 0 of a fresh run, at every epoch end, and whenever the step passes a
    multiple of ``every``. Hooks arrive only on logged steps, so "passes" rather than "equals": with
    --log-every 10 and --grid-every 25 grids come at steps 30, 50, 80, 100, ..."""

    def __init__(self, every: int | None):
        self.every = every
        self.last_step = None

    def start(self, run) -> bool:
        self.last_step = run.step
        return run.step == 0

    def batch_due(self, run, step: int) -> bool:
        if not self.every or step % run.steps_per_epoch == 0:  # epoch ends are handled by after_epoch_run
            return False
        last = self.last_step if self.last_step is not None else step - 1
        if step // self.every > last // self.every:
            self.last_step = step
            return True
        return False

    def epoch_done(self, step: int) -> None:
        self.last_step = step

    def end_due(self, run) -> bool:
        """At the end of training: one last grid unless the final step already has one (a --minutes run
        stops anywhere, and its timeline should end where the run did)."""
        due = self.last_step != run.step
        self.last_step = run.step
        return due


def caption(run, step: int | None = None) -> str:
    step = run.step if step is None else step
    return f"step {step:,}  epoch {step / run.steps_per_epoch:.2f}"


def read_index(folder: Path) -> list[dict]:
    """Entries of samples/<name>/grids.jsonl, last entry per file (a resumed run rewrites the same files)."""
    path = Path(folder) / INDEX
    if not path.is_file():
        return []
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            entries[entry["file"]] = entry
    return sorted(entries.values(), key=lambda e: e["step"])


class GridCallback:
    def __init__(self, options: dict):
        self.schedule = GridSchedule(options.get("grid_every"))  # None: epochs only

    def write(self, run, filename: str):
        grid = fixed_noise_grid(run)
        if grid is None:
            return None
        path = save_png(grid, run.samples_dir / filename)
        save_png(grid, run.samples_dir / "latest.png")
        with open(run.samples_dir / INDEX, "a") as index:
            index.write(json.dumps({"file": filename, "step": run.step, "epoch": round(run.epoch, 4)}) + "\n")
        return path

    @hookimpl
    def before_training_run(self, run):
        index = run.samples_dir / INDEX
        if run.step == 0:
            index.unlink(missing_ok=True)  # a fresh (or --overwrite) run starts a new index
        else:  # resumed: grids after the checkpoint's step will be made again
            kept = [e for e in read_index(run.samples_dir) if e["step"] <= run.step]
            if index.exists():
                index.write_text("".join(json.dumps(e) + "\n" for e in kept))
        if self.schedule.start(run):
            self.write(run, "step_000000.png")

    @hookimpl
    def after_batch_run(self, run, step):
        if self.schedule.batch_due(run, step):
            self.write(run, f"step_{step:06d}.png")

    @hookimpl
    def after_epoch_run(self, run, epoch, step):
        self.schedule.epoch_done(step)
        self.write(run, f"epoch_{epoch:04d}.png")

    @hookimpl
    def after_training_run(self, run):
        if self.schedule.end_due(run):
            self.write(run, f"step_{run.step:06d}.png")


@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("grid", GridCallback, "fixed-noise sample grid at the start, after each epoch and every --grid-every steps"))
