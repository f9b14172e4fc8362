"""DCGAN (Radford et al. 2016) that adapts to the data: 1x28x28 (MNIST, Fashion-MNIST), 3x64x64 (CelebA), ...

    ganstudio train --data fashion --model dcgan --minutes 10

The image side must be base * 2**k with base in 3..8 and k >= 1 (28 = 7*4, 32 = 4*8, 64 = 4*16).
The generator starts from a base x base map and doubles it k times; the discriminator mirrors it.
The training step is in ganstudio/builtin/models/dcgan/nets.py and the networks in
ganstudio/builtin/models/shared/nets.py (cdcgan and wgan-gp build on them), imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option
from ganstudio.builtin.models.shared import square_sides


@dataclass
class DCGANOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    width: int = option(64, "channels of the widest-resolution hidden layer (ngf = ndf in the paper)", min=1)
    lr: float = option(2e-4, "Adam learning rate of G and D", above=0)
    beta1: float = option(0.5, "Adam beta1; the paper's 0.5 (0.9 makes DCGAN training oscillate)", min=0, below=1)
    beta2: float = option(0.999, "Adam beta2", min=0, below=1)
    channels_last: bool = option(True, "NHWC memory format: faster convolutions on CPU (oneDNN) and tensor-core GPUs")


supports = square_sides("dcgan")


@hookimpl
def register_models(register):
    register(
        ModelPlugin(
            "dcgan",
            "ganstudio.builtin.models.dcgan.nets:DCGAN",
            options=DCGANOptions,
            supports=supports,
            recognisable_steps=1500,  # garments of most classes at batch 128 on Fashion-MNIST: docs/models.md
            description="DCGAN; square images whose side is 3..8 x 2^k (28, 32, 64, ...)",
        )
    )
