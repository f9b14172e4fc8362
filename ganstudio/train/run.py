"""What a training run is: its config, device, data, model, optimizers, paths and position, built once.

    run = open_run(config, plugins, resume=False)   # a new run, or checkpoints/<name>/last.pt continued
    fit(run, plugins, view)                          # ganstudio/train/loop.py

Which config fields define the run (kept on --resume) and which only say how to run this invocation is
declared on the fields themselves (metadata "role", see data.py); ``resumed_config`` applies it.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from ganstudio.train.accel import choose_precision, configure_backends, resolve_device, seed_process
from ganstudio.api import ModelConfig, StepContext, TrainableModel
from ganstudio.train.augment import attach as attach_augment, parse_policy
from ganstudio.train.batches import DeviceBatches
from ganstudio.store.checkpoint import load_checkpoint, restore_state
from ganstudio.api.data import load_data
from ganstudio.config import TrainConfig, ignored_on_resume, resumed_config
from ganstudio.train.distributed import Distributed
from ganstudio.train.ema import GeneratorEMA, generator_of
from ganstudio.errors import GanstudioError, OtherRankFailed
from ganstudio.output.generation import check_weights_fit, recorded_config
from ganstudio.store.runs import RunLock, check_run_name

class Run:
    """Everything the loop works on. Plugins never see this object: hooks receive its RunView (hooks.py)."""

    def __init__(self, config: TrainConfig, plugins, checkpoint: Optional[dict] = None, dist: Optional[Distributed] = None):
        check_run_name(config.run_name)
        if config.batch_size <= 0:
            raise GanstudioError(f"--batch-size must be a positive number, got {config.batch_size}")
        self.config = config
        self.dist = dist or Distributed()  # one process unless torchrun started several (distributed.py)
        self.device = self.dist.setup(resolve_device(config.device))
        self.precision = choose_precision(self.device, config.precision)
        configure_backends(self.device)
        self.run_dir = Path(config.checkpoints_dir) / config.run_name
        self.samples_dir = Path(config.samples_dir) / config.run_name
        self.checkpoint_path = self.run_dir / "last.pt"
        self.history: list[dict] = []  # the metric records of this invocation
        self.results: dict = {}  # model.evaluate() at the end of training, stored in the checkpoint
        self.step = 0
        self.elapsed_before = 0.0  # seconds trained by earlier invocations of this run
        self.started: Optional[float] = None
        self.in_step = False  # True while a training step runs (set by the loop)
        self.lock = None  # the RunLock open_run took; fit() releases it
        self.finished = False  # ended by its target or its --minutes budget, not by a signal
        self.callback_state: dict = checkpoint.get("callbacks", {}) if checkpoint else {}

        self.dataset_plugin = plugins.dataset(config.data.name)
        self.model_plugin = plugins.model(config.model)
        self.data = load_data(plugins, config.data, "train")
        if len(self.data) < config.batch_size * self.dist.world_size:
            raise GanstudioError(f"dataset '{config.data.name}' has {len(self.data)} images, fewer than --batch-size {config.batch_size}"
                                 + (f" x {self.dist.world_size} processes" if self.dist.enabled else ""))
        if self.model_plugin.supports is not None:
            why_not = self.model_plugin.supports(self.data.image_shape)
            if why_not:
                raise GanstudioError(f"model '{config.model}' cannot train on '{config.data.name}' {self.data.image_shape}: {why_not}")

        seed_process(config.seed)
        if checkpoint is not None:
            model_config = recorded_config(self.model_plugin, checkpoint["model"]["config"])
            check_weights_fit(self.model_plugin, model_config, checkpoint["state"]["model"], self.checkpoint_path)
        else:
            classes = list(self.data.classes or [])
            model_config = ModelConfig(self.data.image_shape, len(classes), dict(config.model_options), classes,
                                       list(self.data.attribute_names or []), config.model)
        try:
            self.model: TrainableModel = self.model_plugin.build(model_config).to(self.device)
        except ValueError as e:  # a plugin's own check of its config or data, e.g. "needs labelled data"
            raise GanstudioError(f"model '{config.model}' cannot be built for '{config.data.name}': {e}") from None
        self.dist.wrap(self.model, self.device)  # under torchrun: DDP around the model's networks (rank 0's weights)
        self.optimizers = self.model.configure_optimizers()
        self.schedulers = self.model.configure_schedulers(self.optimizers) or {}
        self.model.precision = self.precision  # the model's autocast() sections follow it
        self.model.grad_scaler = self.precision.grad_scaler(self.device)  # fp16 only
        if config.compile:
            self.model.compile_for_training()
        is_gan = self.model.kind == "gan"
        self.augment = self.attach_augment(config.augment) if is_gan else ()
        self.ema = self.make_ema(config.ema_decay) if is_gan else None
        self.batches = DeviceBatches(self.data, config.batch_size, config.seed, self.device, self.dist.rank, self.dist.world_size)
        noise = torch.Generator().manual_seed(config.seed + 1)
        self.grid_cols = self.grid_columns(config.grid_samples) if is_gan else 8
        self.fixed_latents = self.model.sample_latent(self.grid_size(config.grid_samples), generator=noise) if is_gan else torch.empty(0)
        self.fixed_labels = self.grid_labels(len(self.fixed_latents), noise) if is_gan else None
        if checkpoint is not None:
            restore_state(self, checkpoint)
        if self.dist.rank > 0:
            # Every rank built the same model from the run's seed; from here each draws its own latents. Rank 0 keeps
            # the run's stream (the one the checkpoint holds); the others' depend on the seed, the rank and the step.
            seed_process((config.seed * 1_000_003 + self.dist.rank * 7_919 + self.step) % 2**63)
        self.saved_step = self.step

    def attach_augment(self, text: str) -> tuple[str, ...]:
        policy = parse_policy(text, self.data.image_shape[0])
        if policy:
            discriminator = getattr(self.model, "discriminator", None)
            if not isinstance(discriminator, torch.nn.Module):
                raise GanstudioError(f"--augment: model '{self.config.model}' keeps no network named 'discriminator' to augment the inputs of")
            attach_augment(discriminator, policy)
        return policy

    def make_ema(self, decay: float) -> Optional[GeneratorEMA]:
        if not decay:
            return None
        if not 0 < decay < 1:
            raise GanstudioError(f"--ema-decay must be between 0 and 1 (0 turns the EMA off), got {decay}")
        generator = generator_of(self.model)
        if generator is None:
            print(f"note: model '{self.config.model}' keeps no network named 'generator': no generator EMA", file=sys.stderr)
            return None
        return GeneratorEMA(generator, decay)

    def grid_columns(self, samples: int) -> int:
        """A class-conditional grid has one row per class; others are square-ish, 8 wide at 64 samples."""
        classes = self.model.config.num_classes if self.model.condition == "class" else 0
        if classes:
            return max(1, round(samples / classes))
        return max(1, int(round(samples ** 0.5)))

    def grid_size(self, samples: int) -> int:
        classes = self.model.config.num_classes if self.model.condition == "class" else 0
        return classes * self.grid_cols if classes else samples

    def grid_labels(self, n: int, generator) -> Optional[torch.Tensor]:
        """Conditions of the fixed grid: one row per class for class-conditional models."""
        if self.model.condition == "class":
            return torch.arange(n) // self.grid_cols
        return self.model.sample_labels(n, generator=generator)

    @property
    def images_seen(self) -> int:
        return self.batches.images_drawn

    @property
    def epoch(self) -> float:
        return self.batches.epoch

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.started if self.started is not None else 0.0)

    def context(self, fraction: Optional[float]) -> StepContext:
        return StepContext(self.step, self.images_seen, self.epoch, fraction)


def open_run(config: TrainConfig, plugins, resume: bool, overwrite: bool = False, given=(), dist: Optional[Distributed] = None) -> Run:
    """A new run, or with ``resume`` checkpoints/<name>/last.pt continued with the run's own settings. Under torchrun
    rank 0 takes the lock, checks the folders and reads the checkpoint, and hands it to the other ranks."""
    dist = dist or Distributed()
    check_run_name(config.run_name)
    path = Path(config.checkpoints_dir) / config.run_name / "last.pt"
    lock = RunLock(path.parent, config.run_name).acquire() if dist.is_main else None  # fit() releases it
    try:
        problem, ckpt = None, None
        if dist.is_main:
            try:
                ckpt = _check(config, path, resume, overwrite)
            except GanstudioError as e:
                problem = e
        # One broadcast: every rank learns whether rank 0 can go on, and gets the checkpoint to resume from.
        shared = dist.broadcast((str(problem) if problem else None, ckpt))
        if problem is not None:
            raise problem
        if shared[0] is not None:
            raise OtherRankFailed(f"rank 0 could not open the run: {shared[0]}")
        run = _open(config, plugins, path, shared[1], given, dist)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _check(config: TrainConfig, path: Path, resume: bool, overwrite: bool) -> Optional[dict]:
    """The checkpoint to resume (None for a new run), or a one-line error for a run that cannot start."""
    if resume:
        if not path.exists():
            # e.g. a fashion-dcgan run from before fashion's default model became cdcgan: say which runs there are
            runs = sorted(p.parent.name for p in Path(config.checkpoints_dir).glob("*/last.pt"))
            there = f"; runs there: {', '.join(runs[:10])}" + (", ..." if len(runs) > 10 else "") if runs else ""
            raise GanstudioError(f"--resume: no checkpoint at {path} (train without --resume first, or check --name{there})")
        return load_checkpoint(path)
    if path.exists() and not overwrite:
        raise GanstudioError(f"{path} already exists: pass --resume to continue that run, --name NEW for a new one, or --overwrite to replace it")
    samples = Path(config.samples_dir) / config.run_name
    if not overwrite and samples.is_dir() and any(samples.iterdir()):
        raise GanstudioError(f"{samples}/ already holds the outputs of another run (grids, timeline, curves): pass --name NEW, "
                             f"--samples-dir DIR, or --overwrite to replace them")
    return None


def _open(config: TrainConfig, plugins, path: Path, ckpt: Optional[dict], given, dist: Distributed) -> Run:
    if ckpt is not None:
        try:
            if ckpt["model"]["name"] not in plugins.models:
                raise GanstudioError(f"{path}: model '{ckpt['model']['name']}' comes from plugin '{ckpt['model']['plugin']}', which is not installed")
            stored = TrainConfig.from_dict(ckpt["config"])
            merged = resumed_config(stored, config)
            merged.name = config.run_name
            ignored = ignored_on_resume(stored, config, given)
            if ignored and dist.is_main:
                print(f"note: --resume continues the run as it was defined; ignored: {', '.join(ignored)} "
                      f"(train under a new --name to change them)", file=sys.stderr)
            run = Run(merged, plugins, checkpoint=ckpt, dist=dist)
        except (KeyError, TypeError, ValueError) as e:
            raise GanstudioError(f"{path}: checkpoint is missing or has a malformed entry ({type(e).__name__}: {e}); "
                                 f"it cannot be resumed") from None
        size = ckpt.get("data", {}).get("size")
        saved_world = ckpt["progress"].get("world_size", 1)
        if saved_world != dist.world_size and dist.is_main:
            print(f"note: the run was saved by {saved_world} process(es) and resumes on {dist.world_size}: it continues at "
                  f"the same image of its epoch, but the batches differ from an uninterrupted run", file=sys.stderr)
        if size is not None and size != len(run.data) and dist.is_main:
            print(f"note: the data has {len(run.data):,} images now, {size:,} when the run was saved: the epoch order "
                  f"differs from an uninterrupted run ({run.data.source})", file=sys.stderr)
        return run
    return Run(config, plugins, dist=dist)
