"""What a training run is: its config, device, data, model, optimizers, paths and position, built once, and its
state as a checkpoint holds it (``state_dict`` / ``load_state_dict``). Imported by the rest of ganstudio/train.

    run = Run(config, plugins)                  # a new run; Run(config, plugins, checkpoint=ckpt) continues one
    payload = run.state_dict(callbacks)          # what checkpoints/<name>/last.pt holds (store/checkpoint.py writes it)

Opening a run by name (the lock, the checks, --resume) and training it: ``train()`` in ganstudio/train/entry.py.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch

from ganstudio import __version__
from ganstudio.api import ModelConfig, StepContext, TrainableModel
from ganstudio.api.data import load_data
from ganstudio.api.runs import check_weights_fit, recorded_config
from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.store.runs import check_run_name
from ganstudio.train.accel import choose_precision, seed_process
from ganstudio.train.ada import AdaptiveAugment, attach_adaptive
from ganstudio.train.augment import attach as attach_augment
from ganstudio.train.augment import is_adaptive, parse_policy
from ganstudio.train.batches import DeviceBatches
from ganstudio.train.distributed import Distributed
from ganstudio.train.ema import GeneratorEMA, generator_of
from ganstudio.train.process import machine_description, prepare_process, rng_state, set_rng_state


class Run:
    """Everything the loop works on. Plugins never see this object: hooks receive a RunView (ganstudio/train/view.py).

    ``device``: this process's, from prepare_process() (train() calls it once); a Run built on its own prepares
    its process itself."""

    def __init__(
        self,
        config: TrainConfig,
        plugins,
        checkpoint: Optional[dict] = None,
        dist: Optional[Distributed] = None,
        device: Optional[torch.device] = None,
    ):
        check_run_name(config.run_name)
        if config.batch_size <= 0:
            raise GanstudioError(f"--batch-size must be a positive number, got {config.batch_size}")
        self.config = config
        self.dist = dist or Distributed()  # one process unless torchrun started several (distributed.py)
        self.device = device if device is not None else prepare_process(config, self.dist)
        self.precision = choose_precision(self.device, config.precision)
        self.run_dir = Path(config.checkpoints_dir) / config.run_name
        self.samples_dir = Path(config.samples_dir) / config.run_name
        self.checkpoint_path = self.run_dir / "last.pt"
        self.history: list[dict] = []  # the metric records of this invocation
        self.results: dict = {}  # model.evaluate() at the end of training, stored in the checkpoint
        self.step = 0
        self.elapsed_before = 0.0  # seconds trained by earlier invocations of this run
        self.started: Optional[float] = None
        self.in_step = False  # True while a training step runs (set by the loop)
        self.finished = False  # ended by its target or its --minutes budget, not by a signal
        self.callback_state: dict = {}  # the callbacks' states in the checkpoint (load_state_dict)
        self.resumed = checkpoint is not None  # continues a saved run (--resume, or --resume auto that found one)

        self.dataset_plugin = plugins.dataset(config.data.name)
        self.model_plugin = plugins.model(config.model)
        self.data = self._load_data(plugins)
        seed_process(config.seed)
        self.model: TrainableModel = self._build_model(checkpoint)
        self._prepare_training()
        if checkpoint is not None:
            self.load_state_dict(checkpoint)
        if self.dist.rank > 0:
            # Every rank built the same model from the run's seed; from here each draws its own latents. Rank 0 keeps
            # the run's stream (the one the checkpoint holds); the others' depend on the seed, the rank and the step.
            seed_process((config.seed * 1_000_003 + self.dist.rank * 7_919 + self.step) % 2**63)
        self.saved_step = self.step

    def _load_data(self, plugins):
        config, world = self.config, self.dist.world_size
        data = load_data(plugins, config.data, "train")
        if len(data) < config.batch_size * world:
            raise GanstudioError(
                f"dataset '{config.data.name}' has {len(data)} images, fewer than --batch-size "
                f"{config.batch_size}" + (f" x {world} processes" if self.dist.enabled else "")
            )
        if self.model_plugin.supports is not None:
            why_not = self.model_plugin.supports(data.image_shape)
            if why_not:
                raise GanstudioError(
                    f"model '{config.model}' cannot train on '{config.data.name}' {data.image_shape}: {why_not}"
                )
        return data

    def _build_model(self, checkpoint: Optional[dict]) -> TrainableModel:
        """The model from the data (a new run) or from the checkpoint's recorded config (a resumed one)."""
        config, data = self.config, self.data
        if checkpoint is not None:
            model_config = recorded_config(self.model_plugin, checkpoint["model"]["config"])
            check_weights_fit(self.model_plugin, model_config, checkpoint["state"]["model"], self.checkpoint_path)
        else:
            classes = list(data.classes or [])
            model_config = ModelConfig(
                data.image_shape,
                len(classes),
                dict(config.model_options),
                classes,
                list(data.attribute_names or []),
                config.model,
            )
        try:
            return self.model_plugin.build(model_config).to(self.device)
        except ValueError as e:  # a plugin's own check of its config or data, e.g. "needs labelled data"
            raise GanstudioError(f"model '{config.model}' cannot be built for '{config.data.name}': {e}") from None

    def _prepare_training(self) -> None:
        """DDP, optimizers, precision, EMA, DiffAugment, the batches and the fixed grid's inputs."""
        config, model = self.config, self.model
        self.dist.wrap(model, self.device)  # under torchrun: DDP around the model's networks (rank 0's weights)
        self.optimizers = model.configure_optimizers()
        self.schedulers = model.configure_schedulers(self.optimizers) or {}
        model.precision = self.precision  # the model's autocast() sections follow it
        model.grad_scaler = self.precision.grad_scaler(self.device)  # fp16 only
        if config.compile:
            model.compile_for_training()
        is_gan = model.kind == "gan"
        self.ema = self.make_ema(config.ema_decay) if is_gan else None
        self.batches = DeviceBatches(
            self.data, config.batch_size, config.seed, self.device, self.dist.rank, self.dist.world_size
        )
        self.ada: Optional[AdaptiveAugment] = None  # --augment ada (ada.py): made by attach_augment
        self.augment = self.attach_augment(config.augment) if is_gan else ()
        noise = torch.Generator().manual_seed(config.seed + 1)
        self.grid_cols = self.grid_columns(config.grid_samples) if is_gan else 8
        self.fixed_latents = (
            model.sample_latent(self.grid_size(config.grid_samples), generator=noise) if is_gan else torch.empty(0)
        )
        self.fixed_labels = self.grid_labels(len(self.fixed_latents), noise) if is_gan else None

    def attach_augment(self, text: str) -> tuple[str, ...]:
        policy = parse_policy(text, self.data.image_shape[0])
        if policy:
            discriminator = getattr(self.model, "discriminator", None)
            if not isinstance(discriminator, torch.nn.Module):
                raise GanstudioError(
                    f"--augment: model '{self.config.model}' keeps no network named 'discriminator' "
                    f"to augment the inputs of"
                )
            if is_adaptive(text):  # ADA: DiffAugment's ops with an adaptive probability
                self.ada = attach_adaptive(self, discriminator, policy)
            else:
                attach_augment(discriminator, policy)
        return policy

    def make_ema(self, decay: float) -> Optional[GeneratorEMA]:
        if not decay:
            return None
        if not 0 < decay < 1:
            raise GanstudioError(f"--ema-decay must be between 0 and 1 (0 turns the EMA off), got {decay}")
        generator = generator_of(self.model)
        if generator is None:
            print(
                f"note: model '{self.config.model}' keeps no network named 'generator': no generator EMA",
                file=sys.stderr,
            )
            return None
        return GeneratorEMA(generator, decay, model=self.model)  # standing batch-norm statistics (ema.py)

    def grid_columns(self, samples: int) -> int:
        """A class-conditional grid has one row per class; others are square-ish, 8 wide at 64 samples."""
        classes = self.model.config.num_classes if self.model.condition == "class" else 0
        if classes:
            return max(1, round(samples / classes))
        return max(1, int(round(samples**0.5)))

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

    def context(self, budget) -> StepContext:
        """Where the run is as a step starts, with the budget's planned length."""
        return StepContext(
            self.step,
            self.images_seen,
            self.epoch,
            budget.fraction(self.step, self.images_seen),
            total_steps=budget.total_steps,
        )

    # --- the run's state, as a checkpoint holds it (docs/plugins.md describes the layout) -------------------------

    def state_dict(self, callbacks: Optional[dict] = None) -> dict:
        """Everything needed to sample from the run, or resume it exactly; ``callbacks``: {name: state} of the
        attached callbacks (default: the states the run was resumed with)."""
        model_config, scaler = self.model.config, self.model.grad_scaler
        return {
            "ganstudio_version": __version__,
            "config": asdict(self.config),
            "model": {
                "name": self.config.model,
                "plugin": self.model_plugin.plugin,
                "kind": self.model.kind,
                "condition": self.model.condition,
                "config": {**asdict(model_config), "image_shape": tuple(model_config.image_shape)},
            },
            "data": {
                "name": self.config.data.name,
                "plugin": self.dataset_plugin.plugin,
                "source": self.data.source,
                "image_shape": tuple(self.data.image_shape),
                "size": len(self.data),
                "classes": list(self.data.classes or []),
            },
            "state": {
                "model": self.model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            },
            "progress": {
                "step": self.step,
                "images_seen": self.images_seen,
                "steps_per_epoch": self.batches.per_epoch,
                "elapsed_s": self.elapsed,
                "finished": self.finished,
                "world_size": self.dist.world_size,
                "device": str(self.device),
                "precision": self.precision.name,
                "machine": machine_description(self.device),
            },
            "ema": self.ema.state_dict() if self.ema is not None else None,  # the averaged generator: what sample uses
            "ada": self.ada.state_dict() if self.ada is not None else None,  # --augment ada: p and its statistics
            "rng": rng_state(self.device),
            "grad_scaler": scaler.state_dict() if scaler is not None else {},
            "fixed_latents": self.fixed_latents.cpu(),
            "fixed_labels": self.fixed_labels.cpu() if self.fixed_labels is not None else None,
            "metrics": self.history[-1] if self.history else {},
            "results": self.results,
            "callbacks": self.callback_state if callbacks is None else callbacks,
        }

    def load_state_dict(self, ckpt: dict) -> None:
        """Put a checkpoint's weights, optimizer/scheduler/scaler states, position and RNG streams into the run."""
        self.model.load_state_dict(ckpt["state"]["model"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(ckpt["state"]["optimizers"][key])
        for key, scheduler in self.schedulers.items():
            if key in ckpt["state"].get("schedulers", {}):
                scheduler.load_state_dict(ckpt["state"]["schedulers"][key])
        self._load_ema(ckpt.get("ema"))
        if self.ada is not None and ckpt.get("ada"):
            self.ada.load_state_dict(ckpt["ada"])
        self.step = int(ckpt["progress"]["step"])
        # Images seen, not batches: a run saved by W processes resumes on one (or the reverse) at the same place.
        images = int(ckpt["progress"].get("images_seen", self.step * self.config.batch_size))
        self.batches.drawn = images // self.batches.global_batch
        self.elapsed_before = float(ckpt["progress"].get("elapsed_s", 0.0))
        if ckpt.get("fixed_latents") is not None:
            self.fixed_latents = ckpt["fixed_latents"]
        if ckpt.get("fixed_labels") is not None:
            self.fixed_labels = ckpt["fixed_labels"]
        set_rng_state(ckpt["rng"], self.device)
        if self.model.grad_scaler is not None and ckpt.get("grad_scaler"):
            self.model.grad_scaler.load_state_dict(ckpt["grad_scaler"])
        self.callback_state = ckpt.get("callbacks", {})

    def _load_ema(self, state: Optional[dict]) -> None:
        if self.ema is not None and state:
            try:
                self.ema.load_state_dict(state)
            except RuntimeError as e:
                raise GanstudioError(
                    f"the checkpoint's generator EMA does not fit the model: {str(e).splitlines()[0][:160]}"
                ) from None
        elif self.ema is not None:  # a run saved without an EMA: the average starts from the weights as they are
            self.ema.averaged.update_parameters(self.model.generator)
