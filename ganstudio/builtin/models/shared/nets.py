"""The networks and losses more than one built-in model is made of: DCGAN's generator and discriminator (Radford
et al. 2016) with their initialisation (dcgan; cdcgan builds on both, wgan-gp on the generator) and the hinge loss
(sngan, cdcgan). Moved here unchanged from dcgan/nets.py and sngan/nets.py: the parameter names in checkpoints and
the initial weights of every model are as before. Only ganstudio/builtin/models/* import it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.builtin.models.shared import upsampling_plan


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


def hinge_loss_d(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> torch.Tensor:
    """D's hinge loss: real logits are pushed above +1, fake ones below -1; beyond that margin they cost nothing."""
    return F.relu(1.0 - logit_real).mean() + F.relu(1.0 + logit_fake).mean()


def hinge_loss_g(logit_fake: torch.Tensor) -> torch.Tensor:
    """G's loss: raise D's raw logits on its samples."""
    return -logit_fake.mean()
