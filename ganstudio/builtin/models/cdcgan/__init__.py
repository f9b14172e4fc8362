"""A class-conditional DCGAN with a projection discriminator (Miyato & Koyama 2018), for every labelled dataset.

    ganstudio train --data fashion --minutes 10        # cdcgan is fashion's default model
    ganstudio sample fashion-cdcgan --class trouser --n 64
    ganstudio interpolate fashion-cdcgan --class 7
    ganstudio eval fashion-cdcgan --class sneaker --n 2000

The generator's batch norms are class-conditional (a learned scale and shift per class in every layer; z alone
enters the first layer), which keeps samples of one class varied (docs/models.md: recall 0.51, where the class
embedding concatenated to z, ``--model-option cbn=false``, collapsed to one image per class). The discriminator is a
projection discriminator:
logit = linear(phi(x)) + <embed(y), phi(x)>, where phi(x) is its last feature map, flattened. The linear part is
DCGAN's last layer; the projection adds a class-specific one, so D judges "is this a real image of class y", not
just "is this real". It also classifies real images (an auxiliary classifier, AC-GAN, weight ``ac``), and G is
trained to make images it classifies as the asked class (weight ``ac_g``): higher weights give more class-faithful
and less varied samples; a twin classifier (TAC-GAN, ``tac``) pulls the other way. Both networks train with the
hinge loss, as the projection discriminator was published (``hinge=false``: DCGAN's BCE). The defaults (width 32,
ac 1, ac_g 3, hinge, batch 64, the generator EMA at 0.999) were the best of the rows measured in docs/models.md: FD
0.32x to 0.42x DCGAN's over four seeds (mean 0.38x) at 10 minutes of one core on Fashion-MNIST, with 95.7% of its
samples the asked class (real images: 93.0% to 93.8%) and recall 0.002 above DCGAN's on the mean (below it for two
seeds of four). Adam's rate is 1.6e-3, eight times DCGAN's: at 10 minutes of one core it took FD from about 40
to about 13 and recall from 0.54 to 0.66 at the same consistency (docs/models.md, round two). ``ms`` (mode seeking)
and ``mbstd`` (minibatch standard deviation) are measured options, off.
Needs labelled data with at least 2 classes (fashion, mnist, a folder of class folders, ...); square images whose
side is 3..8 x 2^k, as for dcgan (28, 32, 64, ...).
The networks and the training step are in ganstudio/builtin/models/cdcgan/nets.py, imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option
from ganstudio.builtin.models.shared import square_sides

AC_G_DEFAULT = 3.0


@dataclass
class CDCGANOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    embed_dim: int = option(32, "size of the class embedding concatenated to z in G (with cbn=false)", min=1)
    # 32, not DCGAN's 64: about twice the steps in the same minutes, which beat the wider networks (docs/models.md)
    width: int = option(32, "channels of the highest-resolution hidden layer of G and D", min=1)
    d_width: Optional[int] = option(
        None,
        "channels of D's highest-resolution hidden layer (none: width), for a D wider or narrower than G",
        min=1,
        before=None,
    )  # checkpoints from before: width
    # 1.6e-3, not DCGAN's 2e-4: in 10 CPU-minutes FD fell to about a third and recall rose by about 0.12 at the same
    # class consistency (four seeds); in a 5-minute screen 4e-4 to 6.4e-3 all beat 2e-4, 1.6e-3 and 3.2e-3 best
    # (docs/models.md, round two). Checkpoints record their rate, so older runs resume with theirs.
    lr: float = option(1.6e-3, "Adam learning rate of G (and of D, without lr_d)", above=0)
    lr_d: Optional[float] = option(
        None,
        "Adam learning rate of D (none: lr); a faster D with a slower G is the "
        "two time-scale update rule (TTUR, Heusel et al. 2017)",
        above=0,
        before=None,
    )  # cdcgan checkpoints from before 2026-12-01 (third round) used lr
    beta1: float = option(0.5, "Adam beta1 (DCGAN's 0.5)", min=0, below=1)
    beta2: float = option(0.999, "Adam beta2", min=0, below=1)
    cbn: bool = option(
        True,
        "class-conditional batch norm in G (a scale and shift per class in every layer) instead of "
        "the class embedding concatenated to z (which collapsed to one image per class, docs/models.md)",
    )
    ac: float = option(
        1.0,
        "weight of the auxiliary classifier loss (AC-GAN): D also classifies real images, G is also "
        "trained to make images D classifies as the asked class; 0 turns it off",
        min=0,
        before=0.0,
    )  # cdcgan checkpoints from before this option have no classifier head
    # 3, not ac's 1: the class term weighs more in G's step than in D's, which made the samples about as
    # class-faithful as real images (class consistency 93% to 95%) for 6 FD points (docs/models.md)
    ac_g: Optional[float] = option(
        AC_G_DEFAULT,
        "weight of the auxiliary classifier loss in G's step alone (none: ac); no effect without ac",
        min=0,
        before=None,
    )  # cdcgan checkpoints from before 2026-12-01 weighed G's term as ac
    tac: float = option(
        0.0,
        "the twin auxiliary classifier (TAC-GAN, Gong et al. 2019): a second head learns the classes "
        "of G's samples (as D's classifier learns real ones, weight ac), and G is also trained to "
        "fool it, with tac times the weight of its classifier term (ac_g): 1 is TAC-GAN's equal "
        "weights, which undo the auxiliary classifier's pull towards the easiest images of each "
        "class (more varied, less class-faithful samples); below 1 a part of that; 0 turns it "
        "off, needs ac > 0",
        min=0,
        before=0.0,
    )
    # The audit of 2026-12-06: tac weighed the twin term on its own, while G's classifier term weighs ac_g (3);
    # TAC-GAN's correction needs the two equal. Checkpoints from before keep the absolute weight they trained with.
    tac_absolute: bool = option(
        False,
        "true: tac is the twin term's own weight in G's step, not a fraction of ac_g's (how cdcgan "
        "weighed it before 2026-12-06; its old tac=1 is tac=0.333 now at ac_g 3)",
        before=True,
    )
    # The hinge loss, not DCGAN's BCE: over four seeds at the same 10 minutes, mean FD 43.9 against 48.8 and class
    # consistency 95.5% against 94.5%, at about the same recall (0.537 against 0.533; docs/models.md, third round)
    hinge: bool = option(
        True,
        "hinge loss (SNGAN, BigGAN: D pushes real logits above 1 and fake ones below -1, G "
        "raises its fakes' logits); false: the non-saturating BCE of DCGAN",
        before=False,
    )  # cdcgan checkpoints from before 2026-12-01 (third round) trained with BCE
    # Off: at 0.5, over four seeds, recall 0.529 against 0.516 for FD 47.8 against 43.0 and class consistency 94.4%
    # against 94.8%; at 1, worse FD again (docs/models.md, fourth round)
    ms: float = option(
        0.0,
        "weight of the mode-seeking term in G's step (MSGAN, Mao et al. 2019): G is also trained to "
        "make two samples of one class as far apart as their z are, against samples that ignore z; "
        "0 turns it off",
        min=0,
        before=0.0,
    )  # cdcgan checkpoints from before 2026-12-01 (fourth round)
    # Off: at 4 it more than halved the steps of 10 CPU-minutes (6,342 against 14,420) and lost in every score
    mbstd: int = option(
        0,
        "group size of a minibatch standard deviation channel in D (ProGAN, Karras et al. 2018): D sees "
        "how much the images of each group differ, which pushes G to vary them; 0 turns it off",
        min=0,
        before=0,
    )  # cdcgan checkpoints from before 2026-12-02 have no such channel
    channels_last: bool = option(True, "NHWC memory format: faster convolutions on CPU (oneDNN) and tensor-core GPUs")

    def __post_init__(self):
        # ac=0 alone is fine (no classifier, so the default ac_g weighs nothing); another ac_g with it is a mistake
        if self.ac == 0 and self.ac_g not in (None, AC_G_DEFAULT):
            raise ValueError(
                "ac_g needs ac > 0: D's classifier, which G's class loss goes through, learns only with ac"
            )
        if self.tac > 0 and self.ac == 0:
            raise ValueError(
                "tac needs ac > 0: the twin classifier balances the auxiliary classifier, which ac turns on"
            )


supports = square_sides("cdcgan")


@hookimpl
def register_models(register):
    # Batch 64, not 128: about 1.6x the steps in the same minutes; with ac_g 3 that lowered FD from 52.7 to 46.8 and
    # raised recall from 0.49 to 0.53 (docs/models.md). The generator EMA (0.999) on: over four seeds it lowered FD
    # from 42.97 to 42.00 and raised class consistency from 94.8% to 95.7% (worst class 84.7% to 85.6%), for recall
    # 0.516 -> 0.498, still DCGAN's 0.495 (docs/models.md, fourth round).
    register(
        ModelPlugin(
            "cdcgan",
            "ganstudio.builtin.models.cdcgan.nets:ConditionalDCGAN",
            options=CDCGANOptions,
            supports=supports,
            batch_size=64,
            ema_decay=0.999,
            recognisable_steps=1500,  # all but sandals at Adam 1.6e-3, batch 64, EMA, Fashion-MNIST: docs/models.md
            description="class-conditional DCGAN, projection D; labelled data, square images whose side "
            "is 3..8 x 2^k (28, 32, 64, ...)",
        )
    )
