"""The RunView: what every lifecycle hook receives as ``run``, and RunConfig, the settings of the run it shows.
Plain frozen dataclasses whose fields are their documentation; the training engine (ganstudio/train/view.py) builds
them. Part of the plugin API: any module may import it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ganstudio.config import DataSpec

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RunConfig:
    """The settings of a run that plugins read: what ``ganstudio train`` was given (or, on --resume, what defines
    the run), after the model's and the dataset's own defaults were applied."""

    data: DataSpec  # the dataset: plugin name, --data-root, image size, channels, --data-option values
    model: str  # the model plugin's name
    model_options: dict  # --model-option KEY=VALUE, as given (the model's parsed options: model.options)
    batch_size: int  # images per batch, on each process
    seed: int  # the run's seed: data order, initial weights, fixed latents
    precision: str  # as asked: auto, fp32, bf16 or fp16 (RunView.precision says what runs)
    ema_decay: float  # the generator EMA's decay; 0: no EMA
    augment: str  # DiffAugment policy before the discriminator: off, on, a list of ops, or ada (adaptive p)
    epochs: Optional[int]  # the run's epoch target (None: none given)
    steps: Optional[int]  # the run's step target (None: none given)
    minutes: Optional[float]  # this invocation's wall-clock budget (None: none)
    device: str  # as asked: auto, cpu, cuda[:N] (RunView.device is the device in use)
    checkpoints_dir: str  # the folder of run folders (RunView.run_dir is this run's)
    samples_dir: str  # the folder of sample folders (RunView.samples_dir is this run's)
    log_every: int  # steps between metric records (host syncs)
    grid_every: Optional[int]  # steps between fixed-latent grids besides epoch ends (None: epoch ends only)

    @classmethod
    def of(cls, config) -> "RunConfig":
        """The view of a config object with (at least) these fields, e.g. the engine's TrainConfig."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class RunView:
    """What every lifecycle hook receives as ``run``: a snapshot of the training run taken when the hook is called.
    Its numbers (step, epoch, elapsed, ...) do not move afterwards: read them from the ``run`` of each hook call,
    not from one kept from an earlier call. The objects it holds (model, data, history) are the run's own: read
    them, do not replace their contents. Lifecycle hooks run on every rank, callbacks on rank 0 only."""

    name: str  # the run's name: its folders are checkpoints/<name> and samples/<name>
    plugins: Any  # the loaded plugins: plugins.dataset(name), plugins.models, ...
    config: RunConfig  # the run's settings
    model: Any  # the TrainableModel being trained (its plain modules, not DDP wrappers)
    data: Any  # the training split (ImageData, on the CPU)
    device: Any  # the torch.device training runs on (cuda:<local rank> under torchrun)
    precision: str  # what runs: fp32, bf16 or fp16
    step: int  # training steps completed
    epoch: float  # images drawn / dataset size
    images_seen: int  # real images drawn over the whole run (all ranks)
    steps_per_epoch: int  # at one batch per step; a model drawing k batches a step finishes an epoch k times sooner
    total_steps: Optional[int]  # the run's planned length in steps (as StepContext.total_steps); None: open-ended
    run_dir: Path  # checkpoints/<name>: last.pt and the callbacks' files about the run
    samples_dir: Path  # samples/<name>: grids, timeline, curves
    fixed_latents: Any  # the latents of the fixed grid (a tensor on the CPU; empty for classifiers)
    fixed_labels: Any  # the grid's conditions (a tensor, or None for unconditional models)
    history: list  # the metric records logged by this invocation, oldest first (the run's own list)
    elapsed: float  # seconds trained, over all invocations of the run
    fraction: Optional[float]  # 0..1 of the run's planned length (steps, epochs or --minutes); None: open-ended
    metric_specs: dict  # name -> Metric: the model's and the attached callbacks' declared metrics
    rank: int  # under torchrun: this process's rank; 0 otherwise
    world_size: int  # under torchrun: the number of processes; 1 otherwise
    _engine: Any = field(default=None, repr=False, compare=False)  # what the methods below act on (the trainer's)

    def log(self, message: str) -> None:
        """Print a line above the live view (or a plain line); other ranks than 0 stay quiet."""
        self._engine.log(message)

    def report(self, name: str, value) -> None:
        """Put a metric into the current record: a tensor is averaged over the log window like the model's
        metrics (no host sync), a float is logged as it is, at this step (e.g. an eval score)."""
        self._engine.report(name, value)

    def generate(
        self, latents: torch.Tensor, labels: Optional[torch.Tensor] = None, as_float: bool = False
    ) -> torch.Tensor:
        """Images (N, C, H, W) on the CPU from latents (and labels for conditional models), in eval mode, from the
        generator EMA when the run keeps one: uint8, or with ``as_float`` floats in [-1, 1]."""
        return self._engine.generate(latents, labels, as_float)

    def load_split(self, split: str):
        """Another split of the run's dataset (e.g. "test"), loaded the way the training split was."""
        return self._engine.load_split(split)

    def save_copy(self, path, results: Optional[dict] = None) -> Path:
        """Write the run's current state to another checkpoint file (e.g. best.pt), with extra ``results``."""
        return self._engine.save_copy(path, results)
