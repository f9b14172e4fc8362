"""The RunView: what every lifecycle hook receives as ``run`` (the documented, stable view of a training run)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import torch


class RunView:
    """What every lifecycle hook receives as ``run``: the documented, stable view of a training run.

    Attributes: ``name``, ``plugins`` (the loaded plugins: ``plugins.dataset(name)``, ``plugins.models``), ``config`` (the TrainConfig), ``model`` (the TrainableModel), ``data`` (ImageData, on the
    CPU), ``device``, ``precision`` (fp32/bf16/fp16), ``step``, ``epoch`` (float), ``images_seen``,
    ``steps_per_epoch`` (at one batch per step; a model drawing k batches a step finishes an epoch k times sooner),
    ``run_dir`` (checkpoints/<name>), ``samples_dir`` (samples/<name>), ``fixed_latents`` and ``fixed_labels``
    (the grid's fixed inputs), ``history`` (the metric records logged by this invocation), ``elapsed`` (seconds
    trained, over all invocations), ``fraction`` (0..1 of the run's planned length, None when open-ended),
    ``metric_specs`` (name -> Metric: the model's and the attached callbacks' declared metrics), ``rank`` and
    ``world_size`` (under torchrun: this process's rank and the number of processes; 0 and 1 otherwise; lifecycle
    hooks run on every rank, callbacks on rank 0 only)."""

    def log(self, message: str) -> None:
        """Print a line above the live view (or a plain line)."""
        raise NotImplementedError

    def report(self, name: str, value) -> None:
        """Put a metric into the current record: a tensor is averaged over the log window like the model's
        metrics (no host sync), a float is logged as it is, at this step (e.g. an eval score)."""
        raise NotImplementedError

    def generate(self, latents: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """uint8 images (N, C, H, W) on the CPU from latents (and labels for conditional models), in eval mode."""
        raise NotImplementedError

    def load_split(self, split: str):
        """Another split of the run's dataset (e.g. "test"), loaded the way the training split was."""
        raise NotImplementedError

    def save_copy(self, path, results: Optional[dict] = None) -> Path:
        """Write the run's current state to another checkpoint file (e.g. best.pt), with extra ``results``."""
        raise NotImplementedError
