"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") as a third-party model plugin.

    ganstudio --plugins-dir examples/plugins train --data fashion --model wgan-gp-example --minutes 10
    ganstudio --plugins-dir examples/plugins train --data fashion-mini --model wgan-gp-example \\
        --model-option width=32 --model-option n_critic=5 --minutes 2
    ganstudio --plugins-dir examples/plugins sample fashion-wgan-gp-example --n 64

A critic (no sigmoid, no batch norm) is trained n_critic times per generator step, each time on a fresh real
batch, to estimate the Wasserstein-1 distance; a gradient penalty keeps its gradient norm near 1 on random
points between real and fake images. Square images whose side is 28, 32 or 64, with 1 or 3 channels.
It uses only ganstudio's public API (ganstudio.api and hookimpl), like any plugin installed from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio import hookimpl
from ganstudio.api import Metric, ModelConfig, ModelPlugin, TrainableModel, option

# side -> (base, doublings): the generator starts from a base x base map and doubles it; the critic mirrors it.
PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


@dataclass
class WGANGPOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    width: int = option(64, "channels of the highest-resolution hidden layer of G and the critic", min=1)
    n_critic: int = option(5, "critic steps per generator step, each on a fresh real batch", min=1)
    gp_weight: float = option(10.0, "weight of the gradient penalty (lambda in the paper)", min=0)
    lr: float = option(1e-4, "Adam learning rate of G and the critic", above=0)
    beta1: float = option(0.0, "Adam beta1: the paper's 0, no momentum", min=0)
    beta2: float = option(0.9, "Adam beta2", min=0)


def supports(image_shape) -> str | None:
    c, h, w = image_shape
    if c not in (1, 3) or h != w or h not in PLANS:
        return f"wgan-gp-example makes square 1- or 3-channel images of side 28, 32 or 64, not {c}x{h}x{w}"
    return None


class Generator(nn.Module):
    """DCGAN's generator: z -> base x base map, then doublings; batch norm is fine here (the penalty is on the critic)."""

    def __init__(self, latent_dim: int, channels: int, side: int, width: int):
        super().__init__()
        base, k = PLANS[side]
        ch = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.view(len(z), -1, 1, 1))


class Critic(nn.Module):
    """DCGAN's discriminator without batch norm: the penalty is per sample, and batch norm would mix the samples
    of a batch (the paper's advice). GroupNorm(1, ch) is layer normalisation over (C, H, W)."""

    def __init__(self, channels: int, side: int, width: int):
        super().__init__()
        base, k = PLANS[side]
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.GroupNorm(1, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0)]  # an unbounded score, not a probability
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).flatten()


class WGANGP(TrainableModel):
    kind = "gan"
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
        self.latent_dim = self.options.latent_dim
        self.generator = Generator(self.latent_dim, c, side, self.options.width)
        self.critic = Critic(c, side, self.options.width)

    def configure_optimizers(self):
        o = self.options
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2)),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=o.lr, betas=(o.beta1, o.beta2)),
        }

    def generate(self, z, labels=None):
        return self.generator(z)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(||grad critic(x_hat)|| - 1)^2 at random points x_hat on the lines between real and fake images."""
        eps = torch.rand(len(real), 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        with self.autocast():
            score = self.critic(x_hat).float()
        # penalty_gradients: create_graph=True (the penalty is trained through), at true scale under fp16 too.
        grads = self.penalty_gradients(score, x_hat).float()
        return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def training_step(self, batches, optimizers, context):
        opt_g, opt_c = optimizers["generator"], optimizers["critic"]
        o = self.options
        totals = {"loss_critic": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0}
        for _ in range(o.n_critic):
            real = batches.next().images  # a fresh batch each time: the loop counts them all for epochs and images/s
            z = self.sample_latent(len(real), device=real.device)
            opt_c.zero_grad(set_to_none=True)
            with self.autocast():
                with torch.no_grad():  # the critic step needs no gradients through G
                    fake = self.generator(z)
                score_real, score_fake = self.critic(real).float().mean(), self.critic(fake).float().mean()
            penalty = self.gradient_penalty(real, fake.float())
            wasserstein = score_real - score_fake
            loss_c = -wasserstein + o.gp_weight * penalty
            self.backward_step(loss_c, opt_c)
            for key, value in (("loss_critic", loss_c), ("wasserstein", wasserstein), ("gradient_penalty", penalty)):
                totals[key] = totals[key] + value.detach() / o.n_critic  # averaged over the critic steps

        # Generator: raise the critic's score of fresh fakes. It needs no real batch, so it draws none.
        # The critic's weights need no gradients here.
        opt_g.zero_grad(set_to_none=True)
        self.critic.requires_grad_(False)
        try:
            z = self.sample_latent(batches.batch_size, device=real.device)
            with self.autocast():
                loss_g = -self.critic(self.generator(z)).float().mean()
            self.backward_step(loss_g, opt_g)
        finally:
            self.critic.requires_grad_(True)
        return {**totals, "loss_g": loss_g.detach()}


@hookimpl
def register_models(register):
    register(ModelPlugin("wgan-gp-example", WGANGP, kind="gan", supports=supports,
                         description="example plugin: WGAN-GP (critic + gradient penalty); square 28/32/64 images"))
