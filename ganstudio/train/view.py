"""What plugins see of a run while it trains: ``Hooks`` builds the RunView snapshot for each hook call and carries
out its methods (log, report, generate, load_split, save_copy). Imported by the loop only.

    hooks = Hooks(run, plugins, log, callbacks, budget, window)   # the loop's budget and metric window live here
    hooks.call("after_training_step", step=run.step)              # every hook gets run=<a fresh RunView>
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ganstudio.api.data import load_data
from ganstudio.api.images import to_float
from ganstudio.api.run_view import RunConfig, RunView
from ganstudio.output.generation import generate_images
from ganstudio.store.checkpoint import save_checkpoint

GENERATE_BATCH = 256  # images per forward pass of run.generate()


class Hooks:
    """The engine behind every RunView of one fit(): the run, the loop's budget and metric window, the callbacks."""

    def __init__(self, run, plugins, log, callbacks=None, budget=None, window=None):
        self.run, self.plugins, self._log, self.callbacks = run, plugins, log, callbacks
        self.budget, self.window = budget, window
        self.config = RunConfig.of(run.config)  # fixed for the run: built once
        # Declared metrics do not change while the run trains: the callbacks' and the model's, once.
        self.metric_specs = {**(callbacks.metric_specs if callbacks else {}), **run.model.metrics}
        if getattr(run, "ada", None) is not None:  # --augment ada: its p and r_t (ada.py)
            self.metric_specs.update(run.ada.metrics)

    def view(self) -> RunView:
        """A snapshot of the run now (cheap: built for each hook call)."""
        run = self.run
        fraction = self.budget.fraction(run.step, run.images_seen) if self.budget is not None else None
        return RunView(
            name=run.config.run_name,
            plugins=self.plugins,
            config=self.config,
            model=run.model,
            data=run.data,
            device=run.device,
            precision=run.precision.name,
            step=run.step,
            epoch=run.epoch,
            images_seen=run.images_seen,
            steps_per_epoch=run.batches.per_epoch,
            total_steps=self.budget.total_steps if self.budget is not None else None,
            run_dir=run.run_dir,
            samples_dir=run.samples_dir,
            fixed_latents=run.fixed_latents,
            fixed_labels=run.fixed_labels,
            history=run.history,
            elapsed=run.elapsed,
            fraction=fraction,
            metric_specs=self.metric_specs,
            rank=run.dist.rank,
            world_size=run.dist.world_size,
            _engine=self,
        )

    def call(self, hook_name: str, **kwargs) -> list:
        """Call a lifecycle hook with a fresh view; none is built when no plugin implements the hook (the per-step
        after_training_step usually has none)."""
        if not getattr(self.plugins.pm.hook, hook_name).get_hookimpls():
            return []
        return self.plugins.call(hook_name, run=self.view(), **kwargs)

    # --- what RunView's methods do ------------------------------------------------------------------------------

    def log(self, message: str) -> None:
        self._log(message)

    def report(self, name: str, value) -> None:
        if self.window is None:
            raise RuntimeError("run.report() is for lifecycle hooks while the run trains")
        self.window.report(name, value)

    def generate(self, latents: torch.Tensor, labels: Optional[torch.Tensor] = None, as_float: bool = False):
        run = self.run
        if run.ema is None:
            images = generate_images(run.model, latents, labels, run.device, batch_size=GENERATE_BATCH)
        else:
            with run.ema.swapped_into(run.model):  # every output of a run comes from the averaged generator
                images = generate_images(run.model, latents, labels, run.device, batch_size=GENERATE_BATCH)
        return to_float(images) if as_float else images

    def load_split(self, split: str, quiet: bool = True):
        return load_data(self.plugins, self.run.config.data, split, quiet=quiet)

    def save_copy(self, path, results: Optional[dict] = None) -> Path:
        payload = self.run.state_dict(self.callbacks.state() if self.callbacks else {})
        payload["results"] = {**payload.get("results", {}), **(results or {})}
        return save_checkpoint(payload, path)
