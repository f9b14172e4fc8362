"""WGAN-GP (Gulrajani et al. 2017): DCGAN's generator, a critic without batch norm, the gradient penalty and the
n_critic training step. Registered by ganstudio/builtin/models/wgan_gp/__init__.py."""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.api import Metric, ModelConfig
from ganstudio.builtin.models.shared import upsampling_plan
from ganstudio.builtin.models.shared.gan import TwoNetworkGAN
from ganstudio.builtin.models.shared.nets import Generator, init_weights
from ganstudio.builtin.models.wgan_gp import WGANGPOptions


class Critic(nn.Module):
    """DCGAN's discriminator without batch norm: the penalty is per sample, and batch norm would mix the samples
    of a batch (the paper's advice). GroupNorm(1, ch) is layer normalisation over (C, H, W)."""

    def __init__(self, channels: int, side: int, width: int):
        super().__init__()
        base, k = upsampling_plan(side)
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.GroupNorm(1, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0)]  # an unbounded score, not a probability
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).flatten()


class WGANGP(TwoNetworkGAN):
    Options = WGANGPOptions
    metrics = {
        "loss_critic": Metric("critic loss", "losses"),
        "loss_g": Metric("G loss", "losses"),
        "wasserstein": Metric("W estimate", "Wasserstein estimate"),  # critic(real) - critic(fake); unbounded
        "gradient_penalty": Metric("gradient penalty", "gradient penalty", format="{:.4f}"),
    }

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, side, _ = config.image_shape
        o = self.options
        self.generator = Generator(self.latent_dim, c, side, o.width)
        self.generator.apply(init_weights)  # DCGAN's generator, initialised as in DCGAN
        # The critic. The core finds it by this name: DiffAugment (--augment) hooks its inputs.
        self.discriminator = Critic(c, side, o.width)
        self.use_memory_format(o.channels_last)

    def configure_optimizers(self):
        return {"generator": self.adam(self.generator), "critic": self.adam(self.discriminator)}

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(||grad critic(x_hat)|| - 1)^2 at random points x_hat on the lines between real and fake images."""
        eps = torch.rand(len(real), 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        with self.autocast():
            score = self.discriminator(x_hat).float()
        # penalty_gradients: create_graph=True (the penalty is trained through), at true scale under fp16 too.
        grads = self.penalty_gradients(score, x_hat).float()
        return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def training_step(self, batches, optimizers, context):
        opt_g, opt_c = optimizers["generator"], optimizers["critic"]
        o = self.options
        totals = {"loss_critic": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0}
        for _ in range(o.n_critic):
            # A fresh batch each time: the loop counts them all for epochs and images/s.
            real = batches.next().images.contiguous(memory_format=self.memory_format)
            z = self.sample_latent(len(real), device=real.device)
            opt_c.zero_grad(set_to_none=True)
            with self.autocast():
                with torch.no_grad():  # the critic step needs no gradients through G
                    fake = self.generator(z)
                score_real, score_fake = (
                    self.discriminator(real).float().mean(),
                    self.discriminator(fake).float().mean(),
                )
            penalty = self.gradient_penalty(real, fake.float())
            wasserstein = score_real - score_fake
            loss_c = -wasserstein + o.gp_weight * penalty
            self.backward_step(loss_c, opt_c)
            for key, value in (("loss_critic", loss_c), ("wasserstein", wasserstein), ("gradient_penalty", penalty)):
                totals[key] = totals[key] + value.detach() / o.n_critic  # averaged over the critic steps

        # Generator: raise the critic's score of fresh fakes. It needs no real batch, so it draws none.
        z = self.sample_latent(batches.batch_size, device=real.device)
        loss_g = self.generator_step(opt_g, lambda: -self.discriminator(self.generator(z)).float().mean())
        return {**totals, "loss_g": loss_g.detach()}
