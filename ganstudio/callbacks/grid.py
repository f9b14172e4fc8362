"""The ``grid`` callback: the fixed-noise sample grid after every epoch (and every ``--grid-every`` steps).

Files: samples/<name>/epoch_0003.png, samples/<name>/step_000500.png, and samples/<name>/latest.png.
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.images import make_grid, save_png


class GridCallback:
    def __init__(self, options: dict):
        self.every = options.get("grid_every")  # None: epochs only

    def write(self, run, filename: str):
        if run.model.kind != "gan" or len(run.fixed_noise) == 0:
            return None
        grid = make_grid(run.generate(run.fixed_noise))
        path = save_png(grid, run.samples_dir / filename)
        save_png(grid, run.samples_dir / "latest.png")
        return path

    @hookimpl
    def after_batch_run(self, run, step):
        if self.every and step % self.every == 0 and step % run.steps_per_epoch != 0:
            self.write(run, f"step_{step:06d}.png")

    @hookimpl
    def after_epoch_run(self, run, epoch):
        self.write(run, f"epoch_{epoch:04d}.png")


@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("grid", GridCallback, "fixed-noise sample grid after each epoch (and every --grid-every steps)"))
