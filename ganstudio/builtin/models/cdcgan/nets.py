"""The class-conditional DCGAN: DCGAN's networks (ganstudio/builtin/models/shared/nets.py) with class-conditional
batch norm in G (or, with cbn=false, a class embedding concatenated to z) and a projection discriminator
(Miyato & Koyama 2018) with an auxiliary classifier (Odena et al. 2017) when ac > 0.
Registered by ganstudio/builtin/models/cdcgan/__init__.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.api import ModelConfig
from ganstudio.builtin.models.cdcgan import CDCGANOptions
from ganstudio.builtin.models.shared import nets as dcgan  # DCGAN's networks, shared with the dcgan model
from ganstudio.builtin.models.shared.gan import TwoNetworkGAN, gan_metrics, step_metrics
from ganstudio.builtin.models.shared.nets import hinge_loss_d, hinge_loss_g


class Generator(nn.Module):
    """DCGAN's generator fed [z, embed(y)]."""

    def __init__(self, latent_dim: int, embed_dim: int, num_classes: int, channels: int, side: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)  # N(0, 1) like z, so the class is heard from the start
        self.body = dcgan.Generator(latent_dim + embed_dim, channels, side, width)

    def forward(self, z, labels):
        return self.body(torch.cat([z, self.embed(labels).to(z.dtype)], 1))


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift are chosen by the class (de Vries et al. 2017; SNGAN, BigGAN): the class
    steers every layer, while z keeps the content."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.scale, self.shift = nn.Embedding(num_classes, channels), nn.Embedding(num_classes, channels)
        nn.init.normal_(self.scale.weight, 1.0, 0.02)  # DCGAN's batch-norm initialisation, per class
        nn.init.zeros_(self.shift.weight)

    def forward(self, x, labels):
        h = self.bn(x)
        return h * self.scale(labels).to(h.dtype)[:, :, None, None] + self.shift(labels).to(h.dtype)[:, :, None, None]


class CBNGenerator(nn.Module):
    """DCGAN's generator with every batch norm class-conditional; z alone enters the first layer."""

    def __init__(self, latent_dim: int, num_classes: int, channels: int, side: int, width: int):
        super().__init__()
        body = dcgan.Generator(latent_dim, channels, side, width).net
        self.layers = nn.ModuleList(
            ConditionalBatchNorm(layer.num_features, num_classes) if isinstance(layer, nn.BatchNorm2d) else layer
            for layer in body
        )

    def forward(self, z, labels):
        h = z.view(z.shape[0], -1, 1, 1)
        for layer in self.layers:
            h = layer(h, labels) if isinstance(layer, ConditionalBatchNorm) else layer(h)
        return h


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation (Karras et al. 2018): one channel more, holding how much the images of
    each group of ``group`` in the batch differ (the standard deviation over the group, averaged over features and
    pixels), so D can tell a batch of near-identical fakes from a varied real one and G is pushed to vary."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x):
        b, c, h, w = x.shape
        group = max(g for g in range(1, min(self.group, b) + 1) if b % g == 0)  # a batch of any size works
        spread = x.float().reshape(group, b // group, c, h, w).var(0, unbiased=False).add(1e-8).sqrt()
        spread = spread.mean((1, 2, 3)).to(x.dtype)  # one number per group position: (B / group,)
        channel = spread.repeat(group)[:, None, None, None].expand(
            b, 1, h, w
        )  # image i belongs to group i % (B / group)
        if x.is_contiguous(memory_format=torch.channels_last):  # keep NHWC (the faster convolutions): join along C last
            return torch.cat([x.permute(0, 2, 3, 1), channel.permute(0, 2, 3, 1)], 3).permute(0, 3, 1, 2)
        return torch.cat([x, channel], 1)


class ProjectionDiscriminator(nn.Module):
    """DCGAN's discriminator, whose last convolution (a base x base kernel over the last feature map phi(x): a
    linear function of it) gets a class-specific term: logit = linear(phi(x)) + <embed(y), phi(x)>. With mbstd > 0
    a minibatch standard deviation channel enters its last downsampling convolution."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        side: int,
        width: int,
        classify: bool = False,
        twin: bool = False,
        mbstd: int = 0,
    ):
        super().__init__()
        net = dcgan.Discriminator(channels, side, width).net
        if mbstd:  # before the last strided convolution, as in ProGAN, so D's last layers can weigh it with the rest
            last = max(i for i, m in enumerate(net) if isinstance(m, nn.Conv2d) and m.stride == (2, 2))
            conv = net[last]
            layers = list(net)
            layers[last : last + 1] = [
                MinibatchStd(mbstd),
                nn.Conv2d(
                    conv.in_channels + 1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False
                ),
            ]
            net = nn.Sequential(*layers)
        self.features = net[:-1]  # phi(x): (B, ch, base, base)
        self.linear = net[-1]  # Conv2d(ch, 1, base): linear(phi(x))
        features = self.linear.in_channels * self.linear.kernel_size[0] * self.linear.kernel_size[1]
        self.embed = nn.Embedding(num_classes, features)  # one projection vector per class
        nn.init.normal_(
            self.embed.weight, 0.0, 0.02
        )  # as small as the linear part (init_weights): D begins unconditional
        # The auxiliary classifier (AC-GAN, Odena et al. 2017): class logits from the same features (only with
        # ac > 0, so every parameter gets a gradient under DDP and checkpoints without it still load).
        self.classify = nn.Linear(features, num_classes) if classify else None
        # The twin classifier (TAC-GAN, Gong et al. 2019): learns the classes of G's samples (only with tac).
        self.twin = nn.Linear(features, num_classes) if twin else None

    def forward(self, x, labels):  # the image batch first: DiffAugment's pre-hook augments the first argument
        """(logit, class logits or None, twin class logits or None): is x a real image of class y, which class D's
        classifier sees in x (ac > 0) and which its twin sees (tac)."""
        phi = self.features(x)
        flat = phi.flatten(1)
        logit = self.linear(phi).flatten() + (self.embed(labels).to(phi.dtype) * flat).sum(1)
        return (
            logit,
            self.classify(flat) if self.classify is not None else None,
            self.twin(flat) if self.twin is not None else None,
        )


def generator_class_loss(classes, twin, labels, weight: float, twin_weight: float):
    """G's class term: look like the asked class to D's classifier (AC-GAN; none without one), minus the twin
    classifier's cross entropy (TAC-GAN; with tac). With equal weights the difference leaves G the real
    class-conditional distribution to match, instead of the few images of each class that are the easiest to
    classify (Gong et al. 2019)."""
    loss = 0.0
    if classes is not None:
        loss = loss + weight * F.cross_entropy(classes.float(), labels)
    if twin is not None:
        loss = loss - twin_weight * F.cross_entropy(twin.float(), labels)
    return loss


def mode_seeking_loss(fake, z, labels):
    """MSGAN's term (Mao et al. 2019): 1 / (image distance / z distance) over pairs of samples of one class, which
    is large when G maps different z to the same image. The batch's own fakes are paired within each class (sorted
    by label, neighbours paired), so no extra sample is drawn and the fakes keep the real batch's labels; a pair of
    two classes counts for nothing. 0 when no class has two samples."""
    order = torch.argsort(labels, stable=True)
    first, second = order[0 : len(order) - 1 : 2], order[1::2]
    same = (labels[first] == labels[second]).float()
    image_distance = (fake[first].float() - fake[second].float()).abs().flatten(1).mean(1)
    z_distance = (z[first].float() - z[second].float()).abs().flatten(1).mean(1)
    pairs = same.sum()
    ratio = (image_distance * same).sum() / (z_distance * same).sum().clamp_min(1e-8)
    return (pairs > 0).float() / (ratio + 1e-5)  # MSGAN's epsilon; no pair: 0 (and no gradient), without a sync


class ConditionalDCGAN(TwoNetworkGAN):
    condition = "class"  # generate(z, labels) gets int64 class indices; --class works in sample/interpolate/eval
    Options = CDCGANOptions
    metrics = gan_metrics("D(x|y)", "D(G(z|y)|y)")

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        if config.num_classes < 2:
            # supports() sees only the image shape, so an unlabelled dataset is caught here.
            raise ValueError(f"cdcgan needs labelled data with at least 2 classes; this data has {config.num_classes}")
        c, side, _ = config.image_shape
        o = self.options
        self.discriminator = ProjectionDiscriminator(
            config.num_classes,
            c,
            side,
            o.width if o.d_width is None else o.d_width,
            classify=o.ac > 0,
            twin=o.tac > 0,
            mbstd=o.mbstd,
        )
        self.apply(dcgan.init_weights)  # convolutions and batch norms; the embeddings keep their own
        if o.cbn:  # its per-class scales and shifts keep their own initialisation; the convolutions get DCGAN's
            self.generator = CBNGenerator(o.latent_dim, config.num_classes, c, side, o.width)
            self.generator.apply(lambda m: dcgan.init_weights(m) if isinstance(m, nn.ConvTranspose2d) else None)
        else:
            self.generator = Generator(o.latent_dim, o.embed_dim, config.num_classes, c, side, o.width)
            self.generator.apply(dcgan.init_weights)
        self.use_memory_format(o.channels_last)

    def configure_optimizers(self):
        return {
            "generator": self.adam(self.generator),
            "discriminator": self.adam(self.discriminator, self.options.lr_d),
        }

    def generate(self, z, labels=None):
        if labels is None:  # no class asked for: uniform classes, as sample_labels draws them
            labels = self.sample_labels(len(z), device=z.device)
        return self.generator(z, labels)

    def discriminate(self, images, labels=None):
        """The projection discriminator's logit of each image as a real image of its class (int64 ``labels``, (N,)),
        float (N,); the classifier heads are not part of it."""
        if labels is None:  # a score without a class would be a guess: D judges "a real image of class y"
            raise ValueError("cdcgan's discriminator scores an image as one of its class: pass labels (class indices)")
        logit, _, _ = self.discriminator(images.contiguous(memory_format=self.memory_format), labels)
        return logit.float()

    def training_step(self, batches, optimizers, context):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        batch = batches.next()
        real, labels = batch.images.contiguous(memory_format=self.memory_format), batch.labels
        z = self.sample_latent(len(real), device=real.device)
        # Fakes get the real batch's labels: G learns the data's class balance and D compares like with like.
        o = self.options
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            fake = self.generator(z, labels)
            logit_real, classes_real, _ = self.discriminator(real, labels)
            logit_fake, _, twin_fake = self.discriminator(fake.detach(), labels)
            logit_real, logit_fake = logit_real.float(), logit_fake.float()
            if o.hinge:
                loss_d = hinge_loss_d(logit_real, logit_fake)
            else:  # BCE: real -> 1, fake -> 0
                loss_d = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()
            if classes_real is not None:  # ac > 0: D's classifier learns from real images only (trained on fakes
                # too, it would also reward G for whatever its fakes already look like)
                loss_d = loss_d + o.ac * F.cross_entropy(classes_real.float(), labels)
            if twin_fake is not None:  # tac > 0: the twin learns which class G's samples are, as the classifier
                # learns real ones
                loss_d = loss_d + o.ac * F.cross_entropy(twin_fake.float(), labels)
        self.backward_step(loss_d, opt_d)

        # G loss (non-saturating, or hinge) through the updated D.
        loss_g = self.generator_step(opt_g, lambda: self.generator_loss(fake, z, labels))
        return step_metrics(loss_d, loss_g, torch.sigmoid(logit_real.detach()), torch.sigmoid(logit_fake.detach()))

    def generator_loss(self, fake, z, labels):
        """G's loss on its fakes of classes ``labels`` from latents ``z``: fool D, plus the class and mode-seeking
        terms the options turn on."""
        o = self.options
        logit_g, classes_g, twin_g = self.discriminator(fake, labels)
        loss_g = hinge_loss_g(logit_g.float()) if o.hinge else F.softplus(-logit_g.float()).mean()
        weight = o.ac if o.ac_g is None else o.ac_g
        twin_weight = o.tac if o.tac_absolute else o.tac * weight  # tac=1: TAC-GAN's equal weights
        loss_g = loss_g + generator_class_loss(classes_g, twin_g, labels, weight, twin_weight)
        if o.ms > 0:
            loss_g = loss_g + o.ms * mode_seeking_loss(fake, z, labels)
        return loss_g
