"""DCGAN (Radford et al. 2016): the model and its training step; its generator and discriminator are in
ganstudio/builtin/models/shared/nets.py (cdcgan and wgan-gp build on them). Registered by
ganstudio/builtin/models/dcgan/__init__.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganstudio.api import Metric, ModelConfig, TrainableModel
from ganstudio.builtin.models.dcgan import DCGANOptions
from ganstudio.builtin.models.shared.nets import Discriminator, Generator, init_weights


class DCGAN(TrainableModel):
    kind = "gan"
    Options = DCGANOptions
    metrics = {
        "loss_d": Metric("D loss", "losses"),
        "loss_g": Metric("G loss", "losses"),
        "d_real": Metric("D(x)", "discriminator outputs", range=(0.0, 1.0)),
        "d_fake": Metric("D(G(z))", "discriminator outputs", range=(0.0, 1.0)),
    }

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, side, _ = config.image_shape
        self.latent_dim = self.options.latent_dim
        self.generator = Generator(self.latent_dim, c, side, self.options.width)
        self.discriminator = Discriminator(c, side, self.options.width)
        self.apply(init_weights)
        # channels_last runs these convolutions faster on CPU (oneDNN) and on tensor-core GPUs (benchmarks/throughput.py).
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def configure_optimizers(self):
        o = self.options
        fused = next(self.parameters()).is_cuda  # one kernel per step for all parameters on the GPU (no gain measured on CPU)
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), fused=fused),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), fused=fused),
        }

    def generate(self, z, labels=None):
        return self.generator(z)

    def discriminate(self, images, labels=None):
        """D's logit of each image (before the sigmoid the loss applies), float (N,)."""
        return self.discriminator(images.contiguous(memory_format=self.memory_format)).float()

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
        # updated D. D's weights need no gradients here: not computing them saves about 5% of the step.
        opt_g.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                loss_g = F.softplus(-self.discriminator(fake).float()).mean()
            self.backward_step(loss_g, opt_g)
        finally:
            self.discriminator.requires_grad_(True)

        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(logit_real.detach()).mean(),
            "d_fake": torch.sigmoid(logit_fake.detach()).mean(),
        }
