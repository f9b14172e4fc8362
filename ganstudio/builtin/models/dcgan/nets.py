"""DCGAN (Radford et al. 2016): the networks and the training step. Registered by ganstudio/builtin/models/dcgan/__init__.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.api import Metric, ModelConfig, TrainableModel
from ganstudio.builtin.models.dcgan import DCGANOptions, upsampling_plan


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, side: int, width: int):
        super().__init__()
        base, k = upsampling_plan(side)
        ch = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels: int, side: int, width: int):
        super().__init__()
        base, k = upsampling_plan(side)
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0, bias=False)]  # a logit; the loss applies the sigmoid
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).flatten()


class DCGAN(TrainableModel):
    kind = "gan"
    Options = DCGANOptions
    metrics = {
        "loss_d": Metric("D loss", "losses"),
        "loss_g": Metric("G loss", "losses"),
        "d_real": Metric("D(x)", "discriminator outputs", range=(0.0, 1.0)),
        "d_fake": Metric("D(G(z))", "discriminator outputs", range=(0.0, 1.0)),
    }

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, side, _ = config.image_shape
        self.latent_dim = self.options.latent_dim
        self.generator = Generator(self.latent_dim, c, side, self.options.width)
        self.discriminator = Discriminator(c, side, self.options.width)
        self.apply(init_weights)
        # channels_last runs these convolutions faster on CPU (oneDNN) and on tensor-core GPUs (benchmarks/throughput.py).
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def configure_optimizers(self):
        o = self.options
        fused = next(self.parameters()).is_cuda  # one kernel per step for all parameters on the GPU (no gain measured on CPU)
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), fused=fused),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), fused=fused),
        }

    def generate(self, z, labels=None):
        return self.generator(z)

    def training_step(self, batches, optimizers, context):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        images = batches.next().images.contiguous(memory_format=self.memory_format)
        z = self.sample_latent(images.shape[0], device=images.device)

        # Discriminator: real -> 1, fake -> 0. softplus(-x) == BCE-with-logits against 1.
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.generator(z)
            logit_real = self.discriminator(images).float()
            logit_fake = self.discriminator(fake.detach()).float()
            loss_d = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()
        self.backward_step(loss_d, opt_d)

        # Generator, non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))), through the
        # updated D. D's weights need no gradients here: not computing them saves about 5% of the step.
        opt_g.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                loss_g = F.softplus(-self.discriminator(fake).float()).mean()
            self.backward_step(loss_g, opt_g)
        finally:
            self.discriminator.requires_grad_(True)

        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(logit_real.detach()).mean(),
            "d_fake": torch.sigmoid(logit_fake.detach()).mean(),
        }
