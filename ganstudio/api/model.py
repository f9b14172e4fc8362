"""The model contract: what a model plugin implements and what the training loop hands it (re-exported by api).

    class MyGAN(TrainableModel):
        Options = MyOptions                          # dataclass: --model-option KEY=VALUE, typed and checked
        metrics = {"loss_d": Metric("D loss", "losses")}
        def configure_optimizers(self): return {"g": Adam(...), "d": Adam(...)}
        def training_step(self, batches, optimizers, context):
            real = batches.next()                    # draw as many real batches as the step needs
            with self.autocast(): loss = ...
            self.backward_step(loss, optimizers["d"])
            return {"loss_d": loss.detach()}
        def generate(self, z, labels=None): ...      # images in [-1, 1]

The loop owns data order, devices, precision, checkpoints and callbacks; the model owns its networks, optimizers
(and optional schedulers) and one training step, which may take any number of optimizer steps.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
from torch import nn

from ganstudio.api.options import options_dict, parse_options
from ganstudio.api.types import Metric, ModelConfig


@dataclass
class Batch:
    """One batch of real data on the run's device."""

    images: torch.Tensor  # float in [-1, 1], (B, C, H, W)
    labels: Optional[torch.Tensor] = None  # int64 (B,), for labelled data
    attributes: Optional[torch.Tensor] = None  # float 0/1 (B, K), for data with attributes


class Batches:
    """The real data a training step draws from: ``batches.next()`` gives the next batch of the epoch's order.
    The loop counts every batch drawn, so epochs and images/s stay right however many a step takes."""

    batch_size: int

    def next(self) -> Batch:
        raise NotImplementedError


@dataclass(frozen=True)
class StepContext:
    """Where the run is when a step starts."""

    step: int  # steps completed before this one
    images_seen: int  # real images drawn before this step, over the whole run
    epoch: float  # images_seen / dataset size
    fraction: Optional[float]  # 0..1 of the run's planned length (steps, epochs or --minutes); None when open-ended
    # the run's planned length in training steps: the --steps target or epochs x steps per epoch, whichever comes
    # first; None for a --minutes budget alone (open-ended in steps)
    total_steps: Optional[int] = None


class TrainableModel(nn.Module):
    """Base class for model plugins. Class attributes say what the model is; methods are what the loop calls."""

    kind: ClassVar[str] = "gan"  # "gan" (can generate) or "classifier" (can score)
    Options: ClassVar[Optional[type]] = None  # options dataclass; parsed into self.options from config.options
    metrics: ClassVar[dict[str, Metric]] = {}  # display of training_step's metrics; undeclared ones get a panel each
    condition: ClassVar[Optional[str]] = None  # None, "class" (generate(z, labels)) or "attributes"
    latent_dim: int = 0  # GANs: size of a latent vector
    # keyword arguments for DistributedDataParallel around each network under torchrun: find_unused_parameters (a step
    # that leaves some parameters of a wrapped network out of a backward, e.g. an R1-only D step) and static_graph
    ddp_options: ClassVar[dict] = {}

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        what = f"model '{config.model or type(self).__name__}'"
        self.options = parse_options(self.Options, dict(config.options), what)
        if self.Options is not None:
            config.options = options_dict(self.options)  # record the defaults too, so a checkpoint rebuilds exactly
        self.precision = None  # set by the loop: the run's ganstudio.train.accel.Precision (None: fp32)
        self.grad_scaler = None  # set by the loop: a torch.amp.GradScaler when training in fp16

    # --- training -------------------------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def configure_schedulers(self, optimizers: dict) -> dict[str, Any]:
        """Optional learning-rate schedulers by name; the loop steps each once per training step and the checkpoint
        keeps their state. (A schedule that follows the run's length can read ``context.fraction`` instead.)"""
        return {}

    def training_step(self, batches: Batches, optimizers: dict, context: StepContext) -> dict[str, torch.Tensor]:
        """One training step: draw real batches with ``batches.next()``, take optimizer steps, return detached
        scalar tensors by name (no .item(): the loop syncs with the device only when it logs)."""
        raise NotImplementedError

    # --- precision: forward passes in autocast, backward and steps through the GradScaler under fp16 ------------

    def autocast(self):
        """``with self.autocast():`` around forward passes and losses (not backward or optimizer steps). A context per
        forward section keeps autocast's cache of cast weights from outliving a step that changes those weights."""
        if self.precision is None:
            return contextlib.nullcontext()
        return self.precision.autocast(next(self.parameters()).device)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """``loss.backward()``, scaled under fp16 so small gradients do not underflow."""
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward(**kwargs)

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the optimizer's gradients back to their true scale (fp16) before clipping or inspecting them."""
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(optimizer)

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; under fp16 skipped when the gradients overflowed (the loop then drops the step's
        metrics and logs the skip instead of calling it divergence)."""
        if self.grad_scaler is None:
            optimizer.step()
            return
        self.grad_scaler.step(optimizer)
        self.grad_scaler.update()

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``backward(loss)`` then ``optimizer_step(optimizer)``."""
        self.backward(loss)
        self.optimizer_step(optimizer)

    def penalty_gradients(self, outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """d(outputs.sum())/d(inputs) with ``create_graph=True``, at true scale in every precision: what a gradient
        penalty (WGAN-GP, R1) needs. Under fp16 the outputs are scaled first so the gradients do not underflow."""
        if self.grad_scaler is None:
            return torch.autograd.grad(outputs.sum(), inputs, create_graph=True)[0]
        scaled_outputs = self.grad_scaler.scale(outputs.sum())  # first: scale() creates the scale on first use
        # The scale as a device tensor, through the public API: no host sync (get_scale() would wait for the device).
        scale = self.grad_scaler.scale(torch.ones((), device=outputs.device))
        scaled = torch.autograd.grad(scaled_outputs, inputs, create_graph=True)[0]
        return scaled / scale

    def distributed_networks(self) -> dict[str, nn.Module]:
        """The networks DistributedDataParallel wraps under torchrun, by attribute name: every direct child module
        with trainable parameters (e.g. ``generator`` and ``discriminator``). Inside ``training_step`` these
        attributes are the DDP wrappers, so calling them averages their gradients over the ranks; call the
        networks themselves (not their submodules) for that. Override to name others."""
        return {
            name: child for name, child in self.named_children() if any(p.requires_grad for p in child.parameters())
        }

    def compile_for_training(self) -> None:
        """``--compile``: torch.compile each network in place (state_dict keys stay the same, so checkpoints do too)."""
        for child in self.children():
            child.compile()

    # --- generation (GANs) ---------------------------------------------------------------------------

    def sample_latent(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def sample_labels(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Optional[torch.Tensor]:
        """Conditions for n samples when the caller asks for none: uniform classes, or attribute vectors drawn
        independently at 50%; None for an unconditional model."""
        if self.condition == "class":
            return torch.randint(0, self.config.num_classes, (n,), generator=generator, device=device)
        if self.condition == "attributes":
            return (torch.rand(n, len(self.config.attribute_names), generator=generator, device=device) < 0.5).float()
        return None

    def generate(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W). Conditional models use ``labels`` (class indices or attributes)."""
        raise NotImplementedError

    def discriminate(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """GANs: the discriminator's (critic's) raw score of each image, float (N,), higher meaning "more real", for
        images in [-1, 1] (N, C, H, W) and, for conditional models, their labels. What a callback scores images
        with, whatever the discriminator's forward takes. Optional: the default says the model has none."""
        raise NotImplementedError(
            f"model '{self.config.model or type(self).__name__}' does not implement discriminate(images, labels=None)"
        )

    def evaluate(self, run) -> dict:
        """Called once when training ends, before the final save; the returned plain-typed dict (e.g. test
        accuracy) is stored in the checkpoint as ``results``. Optional."""
        return {}
