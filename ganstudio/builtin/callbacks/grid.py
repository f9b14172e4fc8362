"""The ``grid`` callback: the fixed-latent sample grid at the start of a run, after every epoch, every
``--grid-every`` steps and at the end (the loop renders it once when due; see ``after_grid_rendered``).

    ganstudio train --data fashion --steps 600 --grid-every 100

Files in samples/<name>/: step_000000.png (the untrained generator), step_000100.png, ..., epoch_0001.png,
latest.png, and grids.jsonl (one line per grid: file, step, epoch) from which ``ganstudio gif`` rebuilds a timeline.
"""

from __future__ import annotations

import json

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.store.atomic import atomic_write_text, writing
from ganstudio.store.rundir import GRID_INDEX, read_grid_index


class GridCallback:
    def __init__(self, options):
        pass

    @hookimpl
    def before_training_run(self, run):
        index = run.samples_dir / GRID_INDEX
        if run.step == 0:
            index.unlink(missing_ok=True)  # a fresh (or --overwrite) run starts a new index
        elif index.exists():  # resumed: grids after the checkpoint's step will be made again
            kept = [e for e in read_grid_index(run.samples_dir) if e["step"] <= run.step]
            with writing(index):
                atomic_write_text(index, "".join(json.dumps(e) + "\n" for e in kept))

    @hookimpl
    def after_grid_rendered(self, run, grid, step, epoch_done):
        from ganstudio.output.images import save_png

        filename = f"epoch_{epoch_done:04d}.png" if epoch_done is not None else f"step_{step:06d}.png"
        for name in (filename, "latest.png"):
            with writing(run.samples_dir / name):  # a full disk: one line naming the file
                save_png(grid, run.samples_dir / name)
        with writing(run.samples_dir / GRID_INDEX), open(run.samples_dir / GRID_INDEX, "a") as index:
            index.write(json.dumps({"file": filename, "step": step, "epoch": round(run.epoch, 4)}) + "\n")


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "grid", GridCallback, "fixed-latent sample grid at the start, after each epoch and every --grid-every steps"
        )
    )
