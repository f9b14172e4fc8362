"""DCGAN (Radford et al. 2016): the model and its training step; its generator and discriminator are in
ganstudio/builtin/models/shared/nets.py (cdcgan and wgan-gp build on them). Registered by
ganstudio/builtin/models/dcgan/__init__.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganstudio.api import ModelConfig
from ganstudio.builtin.models.dcgan import DCGANOptions
from ganstudio.builtin.models.shared.gan import TwoNetworkGAN, gan_metrics, step_metrics
from ganstudio.builtin.models.shared.nets import Discriminator, Generator, init_weights


class DCGAN(TwoNetworkGAN):
    Options = DCGANOptions
    metrics = gan_metrics()

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, side, _ = config.image_shape
        self.generator = Generator(self.latent_dim, c, side, self.options.width)
        self.discriminator = Discriminator(c, side, self.options.width)
        self.apply(init_weights)
        self.use_memory_format(self.options.channels_last)

    def training_step(self, batches, optimizers, context):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        images = batches.next().images.contiguous(memory_format=self.memory_format)
        z = self.sample_latent(images.shape[0], device=images.device)

        # Discriminator: real -> 1, fake -> 0. softplus(-x) == BCE-with-logits against 1.
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.generator(z)
            logit_real = self.discriminator(images).float()
            logit_fake = self.discriminator(fake.detach()).float()
            loss_d = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()
        self.backward_step(loss_d, opt_d)

        # Generator, non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))), through the
        # updated D.
        loss_g = self.generator_step(opt_g, lambda: F.softplus(-self.discriminator(fake).float()).mean())
        return step_metrics(loss_d, loss_g, torch.sigmoid(logit_real.detach()), torch.sigmoid(logit_fake.detach()))
