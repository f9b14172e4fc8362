"""Tiny model plugins for core tests: a model that draws two batches a step and has a scheduler, and one whose
loss overflows once (for the fp16 skip path); a tiny class-conditional model (``tiny-cond``) for sample and eval."""

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


@dataclass
class TinyConditionalOptions:
    latent_dim: int = option(4, "latent size", min=1)
    bars: bool = option(
        False,
        "draw each class's bar exactly (the pattern of the test data: conftest.make_idx_dataset) "
        "instead of the learned image; the latent is ignored",
    )
    confuse: int = option(-1, "with bars: draw the bar of the next class when asked for this one (-1: never)")


class TinyConditionalGAN(TrainableModel):
    """A linear class-conditional 'generator' (latent + class embedding -> image), fitted to the real images of each
    class; with ``bars`` it draws the test data's class pattern outright, a generator a bar reader can check."""

    condition = "class"
    Options = TinyConditionalOptions
    metrics = {"loss": Metric("loss", "losses")}

    def __init__(self, config):
        super().__init__(config)
        if config.num_classes < 2:
            raise ValueError(f"tiny-cond needs labelled data, this has {config.num_classes} classes")
        self.latent_dim = self.options.latent_dim
        c, h, w = config.image_shape
        self.shape = (c, h, w)
        self.net = nn.Linear(self.latent_dim, c * h * w)
        self.embed = nn.Embedding(config.num_classes, c * h * w)

    def configure_optimizers(self):
        return {"g": torch.optim.SGD(self.parameters(), lr=0.1)}

    def learned(self, z, labels):
        return torch.tanh(self.net(z) + self.embed(labels)).view(len(z), *self.shape)

    def generate(self, z, labels=None):
        if labels is None:
            raise ValueError("tiny-cond generates a class: pass labels")
        if not self.options.bars:
            return self.learned(z, labels)
        c, h, w = self.shape
        drawn = torch.where(labels == self.options.confuse, (labels + 1) % self.config.num_classes, labels)
        images = torch.full((len(z), c, h, w), -1.0, device=z.device)
        for i, label in enumerate(drawn.tolist()):
            row = bar_row(label, h)
            images[i, :, row : row + 3, 3:-3] = 1.0
        return images

    def training_step(self, batches, optimizers, context):
        batch = batches.next()
        opt = optimizers["g"]
        opt.zero_grad()
        with self.autocast():
            fake = self.learned(self.sample_latent(len(batch.images), device=batch.images.device), batch.labels)
            loss = (fake - batch.images).pow(2).mean()
        self.backward_step(loss, opt)
        return {"loss": loss.detach()}


def bar_row(label: int, side: int) -> int:
    """The first row of class ``label``'s bright bar in conftest.make_idx_dataset's images."""
    return 2 + int(label) * (side - 4) // 10


@hookimpl
def register_models(register):
    register(ModelPlugin("tiny", TinyGAN, description="a linear test model"))
    register(ModelPlugin("tiny-cond", TinyConditionalGAN, description="a linear class-conditional test model"))
