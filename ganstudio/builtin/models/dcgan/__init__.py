"""DCGAN (Radford et al. 2016) that adapts to the data: 1x28x28 (MNIST, Fashion-MNIST), 3x64x64 (CelebA), ...

    ganstudio train --data fashion --model dcgan --minutes 10

The image side must be base * 2**k with base in 3..8 and k >= 1 (28 = 7*4, 32 = 4*8, 64 = 4*16).
The generator starts from a base x base map and doubles it k times; the discriminator mirrors it.
The networks and the training step are in ganstudio/builtin/models/dcgan/nets.py, imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option


@dataclass
class DCGANOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    width: int = option(64, "channels of the widest-resolution hidden layer (ngf = ndf in the paper)", min=1)
    lr: float = option(2e-4, "Adam learning rate of G and D", above=0)
    beta1: float = option(0.5, "Adam beta1; the paper's 0.5 (0.9 makes DCGAN training oscillate)", min=0, below=1)
    beta2: float = option(0.999, "Adam beta2", min=0, below=1)
    channels_last: bool = option(True, "NHWC memory format: faster convolutions on CPU (oneDNN) and tensor-core GPUs")


def upsampling_plan(side: int) -> tuple[int, int] | None:
    """(base, k) with side == base * 2**k, base in 4..8 where possible (3 for 3*2^k), k >= 1; else None.

    Halving down to the smallest base >= 4 gives the canonical 4x4 start at 64x64 and 7x7 at 28x28."""
    base, k = side, 0
    while base % 2 == 0 and base // 2 >= 3:
        base //= 2
        k += 1
        if base // 2 < 4:
            break
    return (base, k) if k >= 1 and base <= 8 else None


def square_sides(model: str):
    """A ``supports(image_shape)`` for models built on ``upsampling_plan``: square images whose side it can build
    (shared by dcgan, cdcgan, wgan-gp and sngan)."""

    def supports(image_shape) -> str | None:
        c, h, w = image_shape
        if h != w:
            return f"{model} needs square images, got {h}x{w}"
        if upsampling_plan(h) is None:
            return f"{model} cannot build {h}x{w} images: the side must be 3..8 times a power of two (e.g. 28, 32, 64, 128)"
        return None

    return supports


supports = square_sides("dcgan")


@hookimpl
def register_models(register):
    register(ModelPlugin("dcgan", "ganstudio.builtin.models.dcgan.nets:DCGAN", options=DCGANOptions, supports=supports,
                         description="DCGAN; square images whose side is 3..8 x 2^k (28, 32, 64, ...)"))
