"""The two-network GAN that dcgan, cdcgan, wgan-gp and sngan are: ``TwoNetworkGAN`` (a ``generator`` and a
``discriminator`` or critic, each trained by Adam, in one memory format, G's update through a frozen D) and the
metrics of a D/G pair (``gan_metrics``, ``step_metrics``). Each model's networks and training step stay in its own
nets.py; only ganstudio/builtin/models/* import this."""

from __future__ import annotations

from typing import Callable

import torch

from ganstudio.api import Metric, ModelConfig, TrainableModel


def gan_metrics(
    real: str = "D(x)",
    fake: str = "D(G(z))",
    *,
    loss_d: str = "D loss",
    outputs: str = "discriminator outputs",
    probabilities: bool = True,
) -> dict[str, Metric]:
    """loss_d, loss_g, d_real and d_fake: D's and G's losses and D's mean output on real and fake images (in (0, 1)
    when ``probabilities``, raw logits otherwise)."""
    value_range = (0.0, 1.0) if probabilities else None
    return {
        "loss_d": Metric(loss_d, "losses"),
        "loss_g": Metric("G loss", "losses"),
        "d_real": Metric(real, outputs, range=value_range),
        "d_fake": Metric(fake, outputs, range=value_range),
    }


def step_metrics(loss_d, loss_g, d_real, d_fake) -> dict[str, torch.Tensor]:
    """What a training step returns for ``gan_metrics``: the losses and the means of D's outputs, detached."""
    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": d_real.detach().mean(),
        "d_fake": d_fake.detach().mean(),
    }


class TwoNetworkGAN(TrainableModel):
    """A GAN of ``self.generator`` and ``self.discriminator`` (the core finds D by this name: DiffAugment hooks its
    inputs), built by the subclass's ``__init__``, which ends with ``use_memory_format``. Its options have
    latent_dim, lr, beta1, beta2 and channels_last."""

    kind = "gan"
    # Which optimizer's step computed each metric of ``step_metrics``: under fp16 the loop keeps G's metrics when
    # only D's update was skipped (and D's when only G's was); a metric not named here is voided by any skip.
    metric_phases = {
        "loss_d": "discriminator",
        "d_real": "discriminator",
        "d_fake": "discriminator",
        "loss_g": "generator",
    }

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.latent_dim = self.options.latent_dim

    def use_memory_format(self, channels_last: bool) -> None:
        """channels_last runs these convolutions faster on CPU (oneDNN) and on tensor-core GPUs
        (benchmarks/throughput.py)."""
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def adam(self, network: torch.nn.Module, lr: float | None = None) -> torch.optim.Adam:
        """Adam over ``network`` with the options' lr (or ``lr``) and betas, fused on the GPU (one kernel per step
        for all parameters; no gain measured on CPU)."""
        o = self.options
        fused = next(self.parameters()).is_cuda
        return torch.optim.Adam(
            network.parameters(), lr=o.lr if lr is None else lr, betas=(o.beta1, o.beta2), fused=fused
        )

    def configure_optimizers(self):
        return {"generator": self.adam(self.generator), "discriminator": self.adam(self.discriminator)}

    def generate(self, z, labels=None):
        return self.generator(z)

    def discriminate(self, images, labels=None):
        """D's raw score of each image (the logit before any sigmoid, or the critic's value), float (N,)."""
        return self.discriminator(images.contiguous(memory_format=self.memory_format)).float()

    def generator_step(self, optimizer: torch.optim.Optimizer, loss: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One update of G: ``loss()`` under autocast, then its backward and step. D's weights need no gradients
        here: not computing them saves about 5% of the step. Returns the loss."""
        optimizer.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                value = loss()
            self.backward_step(value, optimizer)
        finally:
            self.discriminator.requires_grad_(True)
        return value
