"""The generator's exponential moving average (EMA), kept by the loop for every GAN that names its generator
``self.generator``: the averaged weights make the samples, grids, GIFs and eval scores; the raw weights keep training.

    ema = GeneratorEMA(model.generator, decay=0.999)
    ema.update(model.generator)              # after every training step
    with ema.swapped_into(model):            # model.generate(...) now runs the averaged generator
        images = generate_images(model, latents)

Built on ``torch.optim.swa_utils.AveragedModel``; the decay ramps up as min(decay, (1 + t) / (10 + t)) after t
updates (TensorFlow's ``num_updates`` rule), so a short run's average is not dominated by the random initial weights.

Batch norm: an average of the raw generator's running statistics does not describe the averaged weights'
activations. Given the ``model``, the EMA averages the weights alone and, before every output (``swapped_into``,
``state_dict``), recomputes its batch norms' statistics from its own activations ("standing statistics", BigGAN):
STANDING_BATCHES fixed batches of latents forwarded in train mode, without gradients, their batch means and
variances averaged. They are derived from the averaged weights alone (fixed latents, a generator of their own), so
recomputing them, or not, changes no later average: a resumed run stays exact. Without a ``model``, and for runs
whose checkpoint was written before (no ``bn_stats`` in it), the statistics are averaged with the weights as before.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

NAME = "generator"  # the attribute a GAN keeps its generator in; EMA and eval find it there
STANDING_BATCHES, STANDING_BATCH_SIZE = 8, 64  # 512 latents: about 0.2 s for cdcgan's generator on a busy CPU core
STANDING_SEED = 0  # the standing latents' own stream: the run's random streams stay untouched


def generator_of(model) -> nn.Module | None:
    net = getattr(model, NAME, None)
    return net if isinstance(net, nn.Module) else None


def batch_norms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


class GeneratorEMA:
    def __init__(self, generator: nn.Module, decay: float, model=None):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1, got {decay}")
        self.decay = decay
        self.updates = 0  # counted on the host, so the ramp-up needs no device sync
        self.model = model  # the GAN whose generate() runs the standing batches; None: averaged statistics
        self.fresh_at: int | None = None  # the update count whose standing statistics the buffers hold
        # Standing statistics: the buffers follow the raw generator between outputs (AveragedModel copies them).
        self.averaged = AveragedModel(generator, multi_avg_fn=self._lerp, use_buffers=model is None)
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

    @property
    def standing(self) -> bool:
        """True: batch-norm statistics recomputed for the averaged weights; False: averaged with them."""
        return not self.averaged.use_buffers

    @contextlib.contextmanager
    def swapped_into(self, model):
        """``model.generator`` is the averaged generator inside the block, the raw one again after it."""
        raw = getattr(model, NAME)
        setattr(model, NAME, self.module)
        try:
            self._refresh(model)
            yield model
        finally:
            setattr(model, NAME, raw)

    def standing_inputs(self, model):
        """The standing batches, (latents, labels or None) on the generator's device: the same every time."""
        g = torch.Generator().manual_seed(STANDING_SEED)
        device = next(self.module.parameters()).device
        for _ in range(STANDING_BATCHES):
            z = model.sample_latent(STANDING_BATCH_SIZE, generator=g)
            labels = model.sample_labels(STANDING_BATCH_SIZE, generator=g)
            yield z.to(device), (labels.to(device) if labels is not None else None)

    @torch.no_grad()
    def _refresh(self, model) -> None:
        """Standing statistics for the averaged weights now (``model.generator`` is the averaged one): each batch
        norm's running mean and variance become the mean of its batch statistics over the standing batches."""
        norms = batch_norms(self.module)
        if not self.standing or self.fresh_at == self.updates or not norms:
            return
        kept = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: every standing batch weighs the same
            m.train()  # only the batch norms: anything else (dropout, spectral norm) stays as it samples
        try:
            for z, labels in self.standing_inputs(model):
                model.generate(z, labels)
        finally:
            for m, (momentum, tracked) in zip(norms, kept):
                m.momentum = momentum
                m.num_batches_tracked.copy_(tracked)
                m.eval()
        self.fresh_at = self.updates

    def state_dict(self) -> dict:
        """The averaged weights, with standing statistics when the EMA keeps them (``bn_stats``: "standing")."""
        if self.standing and self.model is not None:
            with self.swapped_into(self.model):
                pass
        state = {"decay": self.decay, "updates": self.updates, "weights": self.module.state_dict()}
        if self.standing:
            state["bn_stats"] = "standing"
        return state

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
        self.averaged.n_averaged.fill_(max(1, self.updates))
        # A checkpoint from before standing statistics (no "bn_stats") keeps averaging them, as it trained.
        self.averaged.use_buffers = self.model is None or state.get("bn_stats") != "standing"
        self.fresh_at = self.updates if self.standing else None
