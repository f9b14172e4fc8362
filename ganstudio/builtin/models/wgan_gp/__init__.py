"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") on DCGAN's architecture.

    ganstudio train --data fashion --model wgan-gp --minutes 10
    ganstudio train --data fashion-mini --model wgan-gp --model-option width=32 --model-option n_critic=5 --minutes 2
    ganstudio sample fashion-wgan-gp --n 64

A critic (no sigmoid, no batch norm) is trained n_critic times per generator step, each time on a fresh real
batch, to estimate the Wasserstein-1 distance; a gradient penalty keeps its gradient norm near 1 on random points
between real and fake images. Adam with the paper's lr 1e-4 and betas (0, 0.9). Square images whose side is
3..8 x 2^k, as for dcgan (28, 32, 64, ...). The networks and the training step are in
ganstudio/builtin/models/wgan_gp/nets.py, imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option
from ganstudio.builtin.models.shared import square_sides


@dataclass
class WGANGPOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    width: int = option(64, "channels of the highest-resolution hidden layer of G and the critic", min=1)
    n_critic: int = option(5, "critic steps per generator step, each on a fresh real batch", min=1)
    gp_weight: float = option(10.0, "weight of the gradient penalty (lambda in the paper)", min=0)
    lr: float = option(1e-4, "Adam learning rate of G and the critic", above=0)
    beta1: float = option(0.0, "Adam beta1: the paper's 0, no momentum", min=0, below=1)
    beta2: float = option(0.9, "Adam beta2 (the paper's 0.9)", min=0, below=1)
    channels_last: bool = option(True, "NHWC memory format: faster convolutions on CPU (oneDNN) and tensor-core GPUs")


supports = square_sides("wgan-gp")


@hookimpl
def register_models(register):
    register(
        ModelPlugin(
            "wgan-gp",
            "ganstudio.builtin.models.wgan_gp.nets:WGANGP",
            options=WGANGPOptions,
            supports=supports,
            description="WGAN-GP: critic without batch norm, gradient penalty, 5 critic steps per G step; "
            "square images whose side is 3..8 x 2^k (28, 32, 64, ...)",
        )
    )
