"""SNGAN (Miyato et al. 2018): the ResNet networks and the hinge-loss training step. Registered by
ganstudio/builtin/models/sngan/__init__.py."""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganstudio.api import ModelConfig
from ganstudio.builtin.models.shared import upsampling_plan
from ganstudio.builtin.models.shared.gan import TwoNetworkGAN, gan_metrics, step_metrics
from ganstudio.builtin.models.shared.nets import hinge_loss_d, hinge_loss_g
from ganstudio.builtin.models.sngan import SNGANOptions


def _init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """Glorot-uniform weights and zero biases, as the paper's code (gain sqrt(2) inside the residual branches)."""
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _sn(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    return spectral_norm(_init(layer, gain))


class GBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus upsample-conv1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(in_ch), nn.BatchNorm2d(out_ch)
        self.conv1 = _init(nn.Conv2d(in_ch, out_ch, 3, 1, 1), math.sqrt(2))
        self.conv2 = _init(nn.Conv2d(out_ch, out_ch, 3, 1, 1), math.sqrt(2))
        self.shortcut = _init(nn.Conv2d(in_ch, out_ch, 1, 1, 0))

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 (-avgpool), plus a conv1x1 (-avgpool) shortcut when the shape changes.
    ``optimized``: the first block, on the image itself: no leading ReLU, and the shortcut pools before its conv.
    ``hidden``: the width between the two convolutions; the reference code's is the input's (the optimized block's:
    its output's, as the image has too few channels)."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool, optimized: bool = False, hidden: int = 0):
        super().__init__()
        self.downsample, self.optimized = downsample, optimized
        hidden = hidden or out_ch
        self.conv1 = _sn(nn.Conv2d(in_ch, hidden, 3, 1, 1), math.sqrt(2))
        self.conv2 = _sn(nn.Conv2d(hidden, out_ch, 3, 1, 1), math.sqrt(2))
        self.shortcut = _sn(nn.Conv2d(in_ch, out_ch, 1, 1, 0)) if downsample or in_ch != out_ch or optimized else None

    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(x if self.optimized else F.relu(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is None:
            return h + x
        if self.optimized:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        s = self.shortcut(x)
        return h + (F.avg_pool2d(s, 2) if self.downsample else s)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, side: int, width: int):
        super().__init__()
        base, k = upsampling_plan(side)
        widths = [width * 2 ** (k - 1 - i) for i in range(k)] + [width]  # e.g. 28 px: 2w at 7x7, w at 14, w at 28
        self.base, self.ch = base, widths[0]
        self.linear = _init(nn.Linear(latent_dim, widths[0] * base * base))
        self.blocks = nn.Sequential(*(GBlock(widths[i], widths[i + 1]) for i in range(k)))
        self.bn = nn.BatchNorm2d(width)
        self.conv = _init(nn.Conv2d(width, channels, 3, 1, 1))

    def forward(self, z):
        h = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        h = self.blocks(h)  # the convolutions follow their weights' memory format
        return torch.tanh(self.conv(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    def __init__(self, channels: int, side: int, width: int, reference: bool = True):
        super().__init__()
        base, k = upsampling_plan(side)
        widths = [width * 2**i for i in range(k)]  # e.g. 28 px: w at 14x14, 2w at 7x7
        hidden = (lambda in_ch: in_ch) if reference else (lambda in_ch: 0)  # 0: the output's width, as before
        blocks = [DBlock(channels, widths[0], downsample=True, optimized=True)]
        blocks += [DBlock(widths[i - 1], widths[i], downsample=True, hidden=hidden(widths[i - 1])) for i in range(1, k)]
        # one more block at base x base, as the paper's
        blocks += [DBlock(widths[-1], widths[-1], downsample=False, hidden=hidden(widths[-1]))]
        self.blocks = nn.Sequential(*blocks)
        self.linear = _sn(nn.Linear(widths[-1], 1, bias=not reference))  # the reference's SNLinear(..., nobias=True)

    def forward(self, x):
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.linear(h).flatten()  # a raw logit; the hinge loss uses it as is


class SNGAN(TwoNetworkGAN):
    Options = SNGANOptions
    metrics = gan_metrics(loss_d="D hinge loss", outputs="discriminator outputs (raw)", probabilities=False)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, side, _ = config.image_shape
        self.generator = Generator(self.latent_dim, c, side, self.options.width)
        self.discriminator = Discriminator(c, side, self.options.width, reference=self.options.reference_d)
        self.use_memory_format(self.options.channels_last)

    def training_step(self, batches, optimizers, context):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        n_dis = self.options.n_dis
        for i in range(n_dis):
            images = batches.next().images.contiguous(memory_format=self.memory_format)
            z = self.sample_latent(images.shape[0], device=images.device)
            last = i == n_dis - 1
            opt_d.zero_grad(set_to_none=True)
            with self.autocast():
                # The last D step's fakes keep their graph: the G step reuses them (through the updated D).
                with contextlib.nullcontext() if last else torch.no_grad():
                    fake = self.generator(z)
                # One D call on real and fake together: D has no batch norm, so they do not mix, and one call is faster.
                logits = self.discriminator(torch.cat([images, fake.detach()])).float()
                logit_real, logit_fake = logits[: len(images)], logits[len(images) :]
                loss_d = hinge_loss_d(logit_real, logit_fake)
            self.backward_step(loss_d, opt_d)

        # Generator: maximise D(G(z)), through the updated D.
        loss_g = self.generator_step(opt_g, lambda: hinge_loss_g(self.discriminator(fake).float()))
        return step_metrics(loss_d, loss_g, logit_real, logit_fake)
