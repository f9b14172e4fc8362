"""Tiny model plugins for core tests: a model that draws two batches a step and has a scheduler, and one whose
loss overflows once (for the fp16 skip path)."""

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio import hookimpl
from ganstudio.api import Metric, ModelPlugin, TrainableModel, option


@dataclass
class TinyOptions:
    latent_dim: int = option(4, "latent size", min=1)
    batches_per_step: int = option(2, "real batches drawn by one step", min=1)
    overflow_at: int = option(-1, "step whose loss is made infinite (-1: never)")


class TinyGAN(TrainableModel):
    """A linear 'generator' fitted to the mean image; enough to test the loop, not to make pictures."""

    Options = TinyOptions
    metrics = {"loss": Metric("loss", "losses"), "lr": Metric("lr", "learning rate", format="{:.2e}")}

    def __init__(self, config):
        super().__init__(config)
        self.latent_dim = self.options.latent_dim
        c, h, w = config.image_shape
        self.shape = (c, h, w)
        self.net = nn.Linear(self.latent_dim, c * h * w)

    def configure_optimizers(self):
        return {"g": torch.optim.SGD(self.parameters(), lr=0.1)}

    def configure_schedulers(self, optimizers):
        return {"g": torch.optim.lr_scheduler.StepLR(optimizers["g"], step_size=3, gamma=0.5)}

    def generate(self, z, labels=None):
        return torch.tanh(self.net(z)).view(len(z), *self.shape)

    def training_step(self, batches, optimizers, context):
        real = torch.cat([batches.next().images for _ in range(self.options.batches_per_step)])
        opt = optimizers["g"]
        opt.zero_grad()
        with self.autocast():
            fake = self.generate(self.sample_latent(len(real), device=real.device))
            loss = (fake - real).pow(2).mean()
            if context.step == self.options.overflow_at:
                loss = loss * float("inf")
        self.backward_step(loss, opt)
        return {"loss": loss.detach(), "lr": torch.tensor(opt.param_groups[0]["lr"])}


@hookimpl
def register_models(register):
    register(ModelPlugin("tiny", TinyGAN, description="a linear test model"))
