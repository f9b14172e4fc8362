"""SNGAN (Miyato et al. 2018, "Spectral Normalization for GANs"): ResNet generator and discriminator, spectral norm on
every layer of D, hinge loss. 1x28x28 (MNIST, Fashion-MNIST), 3x32x32 and 3x64x64 (CelebA, image folders), ...

    ganstudio train --data fashion --model sngan --minutes 10

The image side must be base * 2**k with base in 3..8 and k >= 1, as for dcgan (28 = 7*4, 32 = 4*8, 64 = 4*16).
The generator starts from a base x base map and doubles it in k upsampling residual blocks; the discriminator halves
it in k downsampling blocks (the first one the paper's "optimized" block) and adds one block at base x base.
The networks and the training step are in ganstudio/builtin/models/sngan/nets.py, imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option
from ganstudio.builtin.models.shared import square_sides


@dataclass
class SNGANOptions:
    latent_dim: int = option(128, "size of the latent vector z", min=1)
    width: int = option(
        24,
        "channels of G's last and D's first residual block; they double towards the base "
        "resolution (24 trains at about half dcgan's speed on a CPU at 28 px; the paper's 64 about 5x slower)",
        min=1,
    )
    lr: float = option(2e-4, "Adam learning rate of G and D", above=0)
    beta1: float = option(0.0, "Adam beta1 (the paper's 0.0)", min=0, below=1)
    beta2: float = option(0.9, "Adam beta2 (the paper's 0.9)", min=0, below=1)
    n_dis: int = option(
        5,
        "discriminator steps per generator step, each on a fresh real batch (the paper's 5)",
        min=1,
    )  # 1 before 2026-12-06: every checkpoint records it, so those runs keep it
    reference_d: bool = option(
        True,
        "D's residual blocks as the paper's code (Miyato et al. 2018): the first convolution of a block keeps its "
        "input's width, and D's last linear layer has no bias; false: the hidden width of the block's output and a "
        "bias, as sngan checkpoints from before 2026-12-06",
        before=False,
    )
    channels_last: bool = option(True, "NHWC memory format: faster convolutions on CPU (oneDNN) and tensor-core GPUs")


supports = square_sides("sngan")


@hookimpl
def register_models(register):
    register(
        ModelPlugin(
            "sngan",
            "ganstudio.builtin.models.sngan.nets:SNGAN",
            options=SNGANOptions,
            supports=supports,
            description="SNGAN: ResNet G and D, spectral norm on D, hinge loss; square images whose "
            "side is 3..8 x 2^k (28, 32, 64, ...)",
        )
    )
