"""The training loop: data on the device as one uint8 tensor, batches by index, hooks around every stage.

    ganstudio train --data fashion --model dcgan --minutes 10
    ganstudio train --data fashion --model dcgan --resume --epochs 30

The model plugin owns one optimisation step; this loop owns data order, devices, the live view,
checkpoints (atomic), signals (Ctrl-C / SIGTERM save and exit 130 / 143) and exact resume.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import torch

from ganstudio import __version__
from ganstudio.accel import choose_precision, configure_backends, resolve_device
from ganstudio.api import DataRequest, ImageData, ModelConfig, TrainableModel
from ganstudio.checkpoint import load_checkpoint, save_checkpoint
from ganstudio.errors import GanstudioError
from ganstudio.images import to_float, to_uint8
from ganstudio.live import LiveView
from ganstudio.plugins import Plugins, check_pending

DEFAULT_EPOCHS = 5  # when none of --epochs/--steps/--minutes is given


@dataclass
class TrainConfig:
    data: str = "fashion"
    model: str = "dcgan"
    name: Optional[str] = None  # run name; default "<data>-<model>"
    epochs: Optional[int] = None  # total epochs of the run (a resumed run counts those already done)
    steps: Optional[int] = None  # total optimisation steps of the run
    minutes: Optional[float] = None  # wall-clock budget of this invocation; stops cleanly and saves
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"  # auto picks CUDA when present
    precision: str = "auto"  # auto: bf16 where the hardware runs it natively (CUDA, AVX512-BF16 CPUs), else fp32; see accel.py
    compile: bool = False  # torch.compile the model's networks: pays off on long GPU runs, costs minutes of compiling on CPU
    data_root: Optional[str] = None
    download: bool = False
    image_size: Optional[int] = None
    channels: Optional[int] = None
    checkpoints_dir: str = "checkpoints"
    samples_dir: str = "samples"
    log_every: int = 10  # steps between host syncs: metrics, NaN check, live view, after_batch_run
    save_every_minutes: float = 5.0  # periodic checkpoint besides epoch ends
    grid_samples: int = 64  # size of the fixed-noise sample grid
    callbacks: Optional[list] = None  # None: every callback whose default is on
    disabled_callbacks: list = field(default_factory=list)
    callback_options: dict = field(default_factory=dict)  # e.g. {"grid_every": 500}
    model_options: dict = field(default_factory=dict)  # passed to the model plugin, e.g. {"latent_dim": 64}

    @property
    def run_name(self) -> str:
        return self.name or f"{self.data}-{self.model}"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class DivergenceError(GanstudioError):
    """Losses or weights became NaN/Inf; the run stops without overwriting the last good checkpoint."""


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of an epoch depends only on (seed, epoch): resume needs no sampler state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuple(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


class TrainingRun:
    """One training run; plugins receive it as ``run`` in every lifecycle hook.

    Useful attributes for callbacks: ``config``, ``model``, ``data`` (ImageData on the CPU), ``device``,
    ``step``, ``epoch``, ``steps_per_epoch``, ``run_dir`` (checkpoints/<name>), ``samples_dir``
    (samples/<name>), ``fixed_noise``, ``history`` (the logged metrics), ``log(message)``."""

    def __init__(self, config: TrainConfig, plugins: Plugins, checkpoint: Optional[dict] = None, view: Optional[LiveView] = None):
        self.config = config
        self.plugins = plugins
        self.device = resolve_device(config.device)
        self.precision = choose_precision(self.device, config.precision)
        configure_backends(self.device)
        self.run_dir = Path(config.checkpoints_dir) / config.run_name
        self.samples_dir = Path(config.samples_dir) / config.run_name
        self.checkpoint_path = self.run_dir / "last.pt"
        self.view = view
        self.history: list[dict] = []
        self.extra_metrics: dict = {}  # set by callbacks (e.g. eval scores); merged into every logged record
        self.results: dict = {}  # model.evaluate() at the end of training, stored in the checkpoint
        self.stop_reason: Optional[str] = None
        self.exit_code = 0

        if config.batch_size <= 0:
            raise GanstudioError(f"--batch-size must be a positive number, got {config.batch_size}")
        self.dataset_plugin = plugins.dataset(config.data)
        self.model_plugin = plugins.model(config.model)
        self.data = self._load_data()
        if len(self.data) < config.batch_size:
            raise GanstudioError(f"dataset '{config.data}' has {len(self.data)} images, fewer than --batch-size {config.batch_size}")
        self.steps_per_epoch = len(self.data) // config.batch_size  # the last partial batch is dropped

        if self.model_plugin.supports is not None:
            why_not = self.model_plugin.supports(self.data.image_shape)
            if why_not:
                raise GanstudioError(f"model '{config.model}' cannot train on '{config.data}' {self.data.image_shape}: {why_not}")
        num_classes = len(self.data.classes) if self.data.classes else 0
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        model_config = ModelConfig(self.data.image_shape, num_classes, dict(config.model_options))
        if checkpoint is not None:
            model_config = ModelConfig(**checkpoint["model"]["config"])
        self.model: TrainableModel = self.model_plugin.build(model_config).to(self.device)
        self.optimizers = self.model.configure_optimizers()
        self.model.precision = self.precision  # the model's autocast() sections follow it
        self.model.grad_scaler = self.precision.grad_scaler(self.device)  # fp16 only
        if config.compile:
            self.model.compile_for_training()
        self.step = 0
        self.elapsed_before = 0.0  # seconds trained by earlier invocations of this run
        noise_gen = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_noise = (
            self.model.sample_latent(config.grid_samples, generator=noise_gen) if self.model.kind == "gan" else torch.empty(0)
        )
        # Device copy of the whole split, made once: batches are gathered by index on the device.
        self.images_device = self.data.images.to(self.device)
        self.labels_device = self.data.labels.to(self.device) if self.data.labels is not None else None
        if checkpoint is not None:
            self._restore(checkpoint)

    # --- properties -------------------------------------------------------------------------------

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def target_steps(self) -> Optional[int]:
        targets = []
        if self.config.steps is not None:
            targets.append(self.config.steps)
        if self.config.epochs is not None:
            targets.append(self.config.epochs * self.steps_per_epoch)
        if not targets and self.config.minutes is None:
            targets.append(DEFAULT_EPOCHS * self.steps_per_epoch)
        return min(targets) if targets else None

    # --- data / state -----------------------------------------------------------------------------

    def _load_data(self) -> ImageData:
        c = self.config
        request = DataRequest(
            split="train", root=Path(c.data_root) if c.data_root else None, download=c.download,
            image_size=c.image_size, channels=c.channels,
        )
        data = self.dataset_plugin.load(request)
        if not isinstance(data, ImageData):
            raise GanstudioError(f"dataset plugin '{self.dataset_plugin.plugin}' returned {type(data).__name__}, not ImageData")
        if len(data) == 0:
            raise GanstudioError(f"dataset '{c.data}' is empty ({data.source})")
        return data

    def state_payload(self) -> dict:
        c = self.config
        return {
            "ganstudio_version": __version__,
            "config": asdict(c),
            "model": {
                "name": c.model, "plugin": self.model_plugin.plugin, "kind": self.model.kind,
                "config": {
                    "image_shape": tuple(self.model.config.image_shape), "num_classes": self.model.config.num_classes,
                    "options": dict(self.model.config.options),
                },
            },
            "data": {
                "name": c.data, "plugin": self.dataset_plugin.plugin, "source": self.data.source,
                "image_shape": tuple(self.data.image_shape), "size": len(self.data), "classes": list(self.data.classes or []),
            },
            "state": {
                "model": self.model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            },
            "progress": {"step": self.step, "steps_per_epoch": self.steps_per_epoch, "elapsed_s": self.elapsed},
            "rng": rng_state(self.device),
            "grad_scaler": self.model.grad_scaler.state_dict() if self.model.grad_scaler is not None else {},
            "fixed_noise": self.fixed_noise.cpu(),
            "metrics": self.history[-1] if self.history else {},
            "results": self.results,
        }

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["state"]["model"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(ckpt["state"]["optimizers"][key])
        self.step = int(ckpt["progress"]["step"])
        self.elapsed_before = float(ckpt["progress"].get("elapsed_s", 0.0))
        self.fixed_noise = ckpt["fixed_noise"]
        set_rng_state(ckpt["rng"], self.device)
        if self.model.grad_scaler is not None and ckpt.get("grad_scaler"):
            self.model.grad_scaler.load_state_dict(ckpt["grad_scaler"])

    def last_good(self) -> str:
        if not self.checkpoint_path.exists():
            return f"no checkpoint had been written yet (try a lower learning rate, e.g. --model-option lr=1e-4)"
        return f"{self.checkpoint_path} holds step {self.saved_step:,}, the last good state"

    def check_writable(self) -> None:
        """Fail before training, not after an hour, when an output folder cannot be written."""
        for folder in (self.run_dir, self.samples_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".write-test-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                raise GanstudioError(f"cannot write to {folder}: {e.strerror or e} (choose another folder with --checkpoints-dir / --samples-dir)") from None

    def save(self, notify: bool = True) -> Path:
        """Write last.pt atomically; refuses to overwrite the last good state with non-finite weights."""
        bad = [name for name, p in self.model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:
            raise DivergenceError(
                f"training diverged: non-finite weights in {bad[0]}" + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else "")
                + f" at step {self.step}; not saved: {self.last_good()}"
            )
        path = save_checkpoint(self.state_payload(), self.checkpoint_path)
        self.saved_step = self.step
        if notify:
            self.plugins.call("after_checkpoint_saved", run=self, path=path, step=self.step)
        return path

    # --- sampling helpers for callbacks --------------------------------------------------------------

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """uint8 images from latents, in eval mode (batch-norm running statistics), then back to train mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            out = [to_uint8(self.model.generate(z[i : i + batch_size].to(self.device))) for i in range(0, len(z), batch_size)]
        finally:
            self.model.train(was_training)
        return torch.cat(out)

    def log(self, message: str) -> None:
        if self.view is not None:
            self.view.log(message)
        else:
            print(message, flush=True)

    # --- the loop -----------------------------------------------------------------------------------

    def fit(self) -> "TrainingRun":
        c = self.config
        target = self.target_steps
        if target is not None and self.step >= target:
            self.log(f"nothing to do: the run is at step {self.step:,}, the target is {target:,} (raise --epochs/--steps)")
            self.stop_reason = "done"
            return self
        self.check_writable()
        deadline = time.monotonic() + c.minutes * 60 if c.minutes is not None else None
        self.started = time.monotonic()
        self.saved_step = self.step
        callbacks = self._attach_callbacks()
        previous_handlers = self._install_signal_handlers()
        try:
            self.plugins.call("before_training_run", run=self)
            self._loop(target, deadline)
            if self.stop_reason is None:
                self.stop_reason = "done"
            self._flush()
            self.results = self.model.evaluate(self) or {}
            path = self.save()
            self.log(f"saved {path} at step {self.step:,} ({self.stop_reason})")
            if self.stop_signal is not None:
                self.exit_code = 128 + self.stop_signal
            self.plugins.call("after_training_run", run=self, step=self.step, reason=self.stop_reason)
        except BaseException as error:
            self._fail(error)
            raise
        finally:
            self._restore_signal_handlers(previous_handlers)
            for cb in callbacks:
                self.plugins.pm.unregister(cb)
        return self

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.started if hasattr(self, "started") else 0.0)

    def _loop(self, target: Optional[int], deadline: Optional[float]) -> None:
        c = self.config
        n, bs = len(self.data), c.batch_size
        self._window = {"sums": {}, "count": 0, "t0": time.monotonic(), "step0": self.step}
        next_save = time.monotonic() + c.save_every_minutes * 60
        perm = None
        self.model.train()
        while target is None or self.step < target:
            pos = self.step % self.steps_per_epoch
            if perm is None or pos == 0:
                perm = epoch_permutation(c.seed, self.step // self.steps_per_epoch, n).to(self.device)
            idx = perm[pos * bs : (pos + 1) * bs]
            images = to_float(self.images_device[idx])
            labels = self.labels_device[idx] if self.labels_device is not None else None
            metrics = self.model.training_step(images, labels, self.optimizers)
            self.step += 1
            self._accumulate(metrics)

            epoch_done = self.step % self.steps_per_epoch == 0
            if self.step % c.log_every == 0 or epoch_done:
                self._flush(target, deadline)
            if epoch_done:
                self.save()
                self.plugins.call("after_epoch_run", run=self, epoch=self.step // self.steps_per_epoch, step=self.step)
            elif time.monotonic() >= next_save:
                self._flush(target, deadline)
                self.save()
                next_save = time.monotonic() + c.save_every_minutes * 60
            if self.stop_signal is not None:
                self.stop_reason = "interrupted"
                return
            if deadline is not None and time.monotonic() >= deadline:
                self.stop_reason = "time budget"
                return

    def _accumulate(self, metrics: dict) -> None:
        sums = self._window["sums"]
        for k, v in metrics.items():
            v = v.detach().float()
            sums[k] = sums[k] + v if k in sums else v
        self._window["count"] += 1

    def _flush(self, target=None, deadline=None) -> None:
        """Sync with the device once: average the window's metrics, check them, update the view and hooks."""
        w = self._window if hasattr(self, "_window") else None
        if not w or w["count"] == 0:
            return
        keys = list(w["sums"])
        values = torch.stack([w["sums"][k] for k in keys]).cpu().tolist()  # the one host sync
        now = time.monotonic()
        metrics = {k: v / w["count"] for k, v in zip(keys, values)}
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise DivergenceError(
                f"training diverged: {', '.join(f'{k}={metrics[k]}' for k in bad)} in steps {w['step0'] + 1}-{self.step}; "
                f"stopped without saving: {self.last_good()}"
            )
        metrics.update(self.extra_metrics)
        metrics["images_per_s"] = (self.step - w["step0"]) * self.config.batch_size / max(now - w["t0"], 1e-9)
        record = {"step": self.step, "epoch": round(self.epoch, 4), **metrics}
        self.history.append(record)
        self._window = {"sums": {}, "count": 0, "t0": now, "step0": self.step}
        if self.view is not None:
            fraction, eta = self._progress(target, deadline, metrics["images_per_s"])
            self.view.update(fraction, self.step, self.epoch, metrics, eta, force=self.step % self.steps_per_epoch == 0)
        self.plugins.call("after_batch_run", run=self, step=self.step, metrics=record)

    def _progress(self, target, deadline, images_per_s):
        fractions, etas = [], []
        if target:
            fractions.append(self.step / target)
            etas.append((target - self.step) * self.config.batch_size / max(images_per_s, 1e-9))
        if deadline is not None:
            budget = self.config.minutes * 60
            left = max(0.0, deadline - time.monotonic())
            fractions.append(1 - left / budget if budget else 1.0)
            etas.append(left)
        return (max(fractions) if fractions else 0.0), (min(etas) if etas else None)

    # --- callbacks, signals, errors --------------------------------------------------------------------

    def _attach_callbacks(self) -> list:
        c = self.config
        available = self.plugins.callbacks
        names = list(c.callbacks) if c.callbacks is not None else [n for n, cb in available.items() if cb.default]
        for name in list(names) + list(c.disabled_callbacks):
            self.plugins.callback(name)  # unknown names fail here, with suggestions
        names = [n for n in names if n not in c.disabled_callbacks]
        attached = []
        for name in names:
            instance = available[name].factory(dict(c.callback_options))
            self.plugins.pm.register(instance, name=f"callback:{name}")
            attached.append(instance)
        self.callback_names = names
        check_pending(self.plugins.pm)
        return attached

    stop_signal: Optional[int] = None

    def _install_signal_handlers(self):
        """First Ctrl-C / SIGTERM: finish the current step, save, exit 130 / 143. A second Ctrl-C aborts now."""
        previous = {}

        def handler(signum, frame):
            if self.stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop_signal = signum
            self.log(f"{signal.Signals(signum).name} received: finishing the step and saving (Ctrl-C again to abort)")

        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not in the main thread: leave signals alone
            pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _fail(self, error: BaseException) -> None:
        """Save what can be saved, then tell the plugins. A diverged run or an aborting second Ctrl-C (which may
        land mid-step) is not saved: last.pt keeps the last good, step-aligned state."""
        if not isinstance(error, (DivergenceError, KeyboardInterrupt)) and self.step > self.saved_step:
            try:
                path = self.save(notify=False)
                self.log(f"saved {path} at step {self.step:,} before stopping on the error")
            except Exception as save_error:
                self.log(f"could not save the state after the error: {save_error}")
        try:
            self.plugins.call("on_training_error", run=self, step=self.step, error=error)
        except Exception as hook_error:  # the original error matters more; mention the second one
            self.log(f"while handling the error: {hook_error}")


def load_run(config: TrainConfig, plugins: Plugins, resume: bool, overwrite: bool = False, view: Optional[LiveView] = None) -> TrainingRun:
    """Start a new run or, with resume, continue checkpoints/<name>/last.pt with the run's own settings."""
    path = Path(config.checkpoints_dir) / config.run_name / "last.pt"
    if resume:
        if not path.exists():
            raise GanstudioError(f"--resume: no checkpoint at {path} (train without --resume first, or check --name)")
        ckpt = load_checkpoint(path)
        stored = TrainConfig.from_dict(ckpt["config"])
        # What the run is (data, model, batch, seed, options) comes from the checkpoint; how long and where
        # to run it comes from this invocation.
        for keep in ("epochs", "steps", "minutes", "device", "compile", "log_every", "save_every_minutes", "callbacks",
                     "disabled_callbacks", "callback_options", "checkpoints_dir", "samples_dir", "data_root", "download"):
            setattr(stored, keep, getattr(config, keep))
        stored.name = config.run_name
        if ckpt["model"]["plugin"] and ckpt["model"]["name"] not in plugins.models:
            raise GanstudioError(f"{path}: model '{ckpt['model']['name']}' comes from plugin '{ckpt['model']['plugin']}', which is not installed")
        return TrainingRun(stored, plugins, checkpoint=ckpt, view=view)
    if path.exists() and not overwrite:
        raise GanstudioError(f"{path} already exists: pass --resume to continue that run, --name NEW for a new one, or --overwrite to replace it")
    return TrainingRun(config, plugins, view=view)
