"""The generator's exponential moving average (EMA), kept by the loop for every GAN that names its generator
``self.generator``: the averaged weights make the samples, grids, GIFs and eval scores; the raw weights keep training.

    ema = GeneratorEMA(model.generator, decay=0.999)
    ema.update(model.generator)              # after every training step
    with ema.swapped_into(model):            # model.generate(...) now runs the averaged generator
        images = generate_images(model, latents)

Built on ``torch.optim.swa_utils.AveragedModel`` with ``use_buffers=True``: batch-norm running statistics are
averaged along with the weights, so the averaged generator is normalised by statistics of its own kind. The decay
ramps up as min(decay, (1 + t) / (10 + t)) after t updates (TensorFlow's ``num_updates`` rule), so a short run's
average is not dominated by the random initial weights.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

NAME = "generator"  # the attribute a GAN keeps its generator in; EMA and eval find it there


def generator_of(model) -> nn.Module | None:
    net = getattr(model, NAME, None)
    return net if isinstance(net, nn.Module) else None


class GeneratorEMA:
    def __init__(self, generator: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1, got {decay}")
        self.decay = decay
        self.updates = 0  # counted on the host, so the ramp-up needs no device sync
        self.averaged = AveragedModel(generator, multi_avg_fn=self._lerp, use_buffers=True)
        self.averaged.n_averaged = (
            self.averaged.n_averaged.cpu()
        )  # AveragedModel's "first update?" test stays off the device
        self.averaged.eval().requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        """The averaged generator (same class and state_dict keys as the raw one)."""
        return self.averaged.module

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def _lerp(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _n_averaged) -> None:
        weight = 1.0 - self.current_decay()
        if averaged[0].is_floating_point():
            for a, c in zip(averaged, current):
                a.lerp_(c, weight)
        else:  # integer buffers (batch norm's num_batches_tracked): follow the raw model
            for a, c in zip(averaged, current):
                a.copy_(c)

    def update(self, generator: nn.Module) -> None:
        self.averaged.update_parameters(generator)
        self.updates += 1

    @contextlib.contextmanager
    def swapped_into(self, model):
        """``model.generator`` is the averaged generator inside the block, the raw one again after it."""
        raw = getattr(model, NAME)
        setattr(model, NAME, self.module)
        try:
            yield model
        finally:
            setattr(model, NAME, raw)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
        self.averaged.n_averaged.fill_(max(1, self.updates))
