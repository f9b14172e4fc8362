"""A class-conditional DCGAN with a projection discriminator, as a third-party model plugin.

    ganstudio --plugins-dir examples/plugins train --data fashion --model cdcgan-example --minutes 10
    ganstudio --plugins-dir examples/plugins sample fashion-cdcgan-example --class trouser --n 64
    ganstudio --plugins-dir examples/plugins interpolate fashion-cdcgan-example --class 7
    ganstudio --plugins-dir examples/plugins eval fashion-cdcgan-example --class sneaker --n 2000

The generator sees a learned embedding of the class next to z. The discriminator is a projection discriminator
(Miyato & Koyama 2018): logit = linear(phi(x)) + <embed(y), phi(x)>, where phi(x) is its last feature map,
flattened. The linear part is exactly DCGAN's last convolution; the projection adds a class-specific one, so D
judges "is this a real image of class y", not just "is this real". Needs labelled data (fashion, mnist, ...);
square images whose side is 28, 32 or 64. Only ganstudio's public API is used, like any plugin from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio import hookimpl
from ganstudio.api import Metric, ModelConfig, ModelPlugin, TrainableModel, option

PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # side -> (base, doublings), as in DCGAN


@dataclass
class CDCGANOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    embed_dim: int = option(32, "size of the class embedding concatenated to z in G", min=1)
    width: int = option(64, "channels of the highest-resolution hidden layer of G and D", min=1)
    lr: float = option(2e-4, "Adam learning rate of G and D", above=0)
    beta1: float = option(0.5, "Adam beta1 (DCGAN's 0.5)", min=0)
    beta2: float = option(0.999, "Adam beta2", min=0)


def supports(image_shape) -> str | None:
    c, h, w = image_shape
    if h != w or h not in PLANS:
        return f"cdcgan-example makes square images of side 28, 32 or 64, not {h}x{w}"
    return None


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, embed_dim: int, num_classes: int, channels: int, side: int, width: int):
        super().__init__()
        base, k = PLANS[side]
        self.embed = nn.Embedding(num_classes, embed_dim)  # N(0, 1) like z, so the class is heard from the start
        ch = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(latent_dim + embed_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels):
        h = torch.cat([z, self.embed(labels).to(z.dtype)], 1)
        return self.net(h.view(len(h), -1, 1, 1))


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int, side: int, width: int):
        super().__init__()
        base, k = PLANS[side]
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.features = nn.Sequential(*layers)  # phi(x): (B, ch, base, base)
        features = ch * base * base
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)  # one projection vector per class
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # starts as small as the linear part: D begins unconditional

    def forward(self, x, labels):
        phi = self.features(x).flatten(1)
        return self.linear(phi).flatten() + (self.embed(labels).to(phi.dtype) * phi).sum(1)


class ConditionalDCGAN(TrainableModel):
    kind = "gan"
    condition = "class"  # generate(z, labels) gets int64 class indices; --class works in sample/interpolate/eval
    Options = CDCGANOptions
    metrics = {
        "loss_d": Metric("D loss", "losses"),
        "loss_g": Metric("G loss", "losses"),
        "d_real": Metric("D(x|y)", "discriminator outputs", range=(0.0, 1.0)),
        "d_fake": Metric("D(G(z|y)|y)", "discriminator outputs", range=(0.0, 1.0)),
    }

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        if config.num_classes < 2:
            # supports() sees only the image shape, so an unlabelled dataset is caught here.
            raise ValueError(f"cdcgan-example needs labelled data with at least 2 classes; this data has {config.num_classes}")
        c, side, _ = config.image_shape
        o = self.options
        self.latent_dim = o.latent_dim
        self.generator = Generator(o.latent_dim, o.embed_dim, config.num_classes, c, side, o.width)
        self.discriminator = ProjectionDiscriminator(config.num_classes, c, side, o.width)
        self.apply(init_weights)

    def configure_optimizers(self):
        o = self.options
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2)),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=(o.beta1, o.beta2)),
        }

    def generate(self, z, labels=None):
        if labels is None:  # no class asked for: uniform classes, as sample_labels draws them
            labels = self.sample_labels(len(z), device=z.device)
        return self.generator(z, labels)

    def training_step(self, batches, optimizers, context):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        batch = batches.next()
        real, labels = batch.images, batch.labels
        z = self.sample_latent(len(real), device=real.device)
        # Fakes get the real batch's labels: G learns the data's class balance and D compares like with like.
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.generator(z, labels)
            logit_real = self.discriminator(real, labels).float()
            logit_fake = self.discriminator(fake.detach(), labels).float()
            loss_d = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()  # BCE: real -> 1, fake -> 0
        self.backward_step(loss_d, opt_d)

        # Non-saturating G loss through the updated D, whose weights need no gradients here.
        opt_g.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                loss_g = F.softplus(-self.discriminator(fake, labels).float()).mean()
            self.backward_step(loss_g, opt_g)
        finally:
            self.discriminator.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(logit_real.detach()).mean(),
            "d_fake": torch.sigmoid(logit_fake.detach()).mean(),
        }


@hookimpl
def register_models(register):
    register(ModelPlugin("cdcgan-example", ConditionalDCGAN, kind="gan", supports=supports,
                         description="example plugin: class-conditional DCGAN, projection D; labelled square 28/32/64 images"))
