"""What plugins register, and what the core hands them. Everything a third-party plugin imports lives here.

A dataset plugin::

    from ganstudio import hookimpl
    from ganstudio.api import DatasetPlugin, ImageData

    @hookimpl
    def register_datasets(register):
        register(DatasetPlugin(name="noise", load=lambda request: ImageData(...), description="..."))
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn


# --- datasets --------------------------------------------------------------------------------------


@dataclass
class DataRequest:
    """What the user asked for; a dataset plugin's ``load`` receives it."""

    split: str = "train"  # "train" or "test"
    root: Optional[Path] = None  # --data-root; None means "search the usual places"
    download: bool = False  # only ever True when the user passed --download
    image_size: Optional[int] = None  # --image-size, for datasets that can resize
    channels: Optional[int] = None  # --channels, for datasets that can convert
    quiet: bool = False  # suppress warnings/progress (tests, nested use)


@dataclass
class ImageData:
    """A whole dataset split held in memory: batches are drawn by index, no per-sample transforms."""

    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: Optional[torch.Tensor] = None  # int64, (N,), or None for unlabelled data
    classes: Optional[list[str]] = None  # class names, indexable by label
    source: str = ""  # where the data came from, said to the user and stored in checkpoints
    attributes: Optional[torch.Tensor] = None  # uint8 0/1, (N, K): binary attributes (CelebA's 40), or None
    attribute_names: Optional[list[str]] = None  # K names, e.g. "Smiling"

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"ImageData.images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"ImageData has {len(self.images)} images but {len(self.labels)} labels")
        if self.attributes is not None and (self.attributes.dim() != 2 or len(self.attributes) != len(self.images)):
            raise ValueError(f"ImageData has {len(self.images)} images but attributes of shape {tuple(self.attributes.shape)}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class DatasetPlugin:
    """A named dataset. ``load(request) -> ImageData`` raises GanstudioError with a one-line reason on failure."""

    name: str
    load: Callable[[DataRequest], ImageData]
    description: str = ""
    plugin: str = ""  # filled in by the registry: which plugin registered it


# --- models ----------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model from a checkpoint (plain types only: loads with weights_only=True)."""

    image_shape: tuple[int, int, int]  # (C, H, W) of the training data
    num_classes: int = 0  # 0 when the dataset has no labels
    options: dict[str, Any] = field(default_factory=dict)  # model-specific knobs, e.g. {"latent_dim": 100}


class TrainableModel(nn.Module):
    """Base class for model plugins. The core loop owns data, devices, checkpoints and callbacks;
    the model owns its networks, optimizers and one training step."""

    kind = "gan"  # "gan" (can generate) or "classifier" (can score)

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, images: torch.Tensor, labels: Optional[torch.Tensor], optimizers: dict) -> dict[str, torch.Tensor]:
        """One optimisation step on a float batch in [-1, 1]. Return detached scalar tensors (no .item():
        the loop syncs with the device only when it logs). Wrap forward passes and losses in ``self.autocast()``
        and step with ``self.backward_step`` so the run's precision (bf16, fp16 with loss scaling) applies."""
        raise NotImplementedError

    precision: Optional[Any] = None  # set by the training loop: the run's ganstudio.accel.Precision (None: fp32)
    grad_scaler: Optional[Any] = None  # set by the training loop: a torch.amp.GradScaler when training in fp16

    def autocast(self):
        """``with self.autocast():`` around forward passes and losses (not backward or optimizer steps): runs them
        in the run's precision (bf16/fp16 autocast), or as they are in fp32. A context per forward section also
        keeps autocast's cache of cast weights from outliving an optimizer step that changes those weights."""
        if self.precision is None:
            return contextlib.nullcontext()
        return self.precision.autocast(next(self.parameters()).device)

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, through the run's GradScaler when it trains in fp16."""
        if self.grad_scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.grad_scaler.scale(loss).backward()
        self.grad_scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        self.grad_scaler.update()

    def compile_for_training(self) -> None:
        """``--compile``: torch.compile each network in place (state_dict keys stay the same, so checkpoints do too)."""
        for child in self.children():
            child.compile()

    # GANs only
    latent_dim: int = 0

    def sample_latent(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W)."""
        raise NotImplementedError

    def evaluate(self, run) -> dict:
        """Called once when training ends, before the final save; the returned plain-typed dict (e.g. test
        accuracy) is stored in the checkpoint as ``results``. Optional."""
        return {}


@dataclass
class ModelPlugin:
    """A named model. ``build(ModelConfig) -> TrainableModel``; ``supports(image_shape)`` returns None or why not."""

    name: str
    build: Callable[[ModelConfig], TrainableModel]
    kind: str = "gan"
    description: str = ""
    supports: Optional[Callable[[tuple], Optional[str]]] = None
    plugin: str = ""


# --- callbacks -------------------------------------------------------------------------------------


@dataclass
class CallbackPlugin:
    """A named callback. ``factory(options: dict) -> object`` whose methods are lifecycle hookimpls.

    Enabled callbacks are registered with the plugin manager for the length of a run, so they
    receive the same hooks (before_training_run, after_batch_run, ...) as any plugin."""

    name: str
    factory: Callable[[dict], Any]
    description: str = ""
    default: bool = True  # on unless the user passes --no-<name> or a --callbacks list without it
    plugin: str = ""
