"""ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", StyleGAN2-ADA) for any GAN:
every image D sees, real or fake, gets each DiffAugment op (augment.py) with probability p, and p follows D's
overfitting:

    ganstudio train --data fashion-mini --augment ada                   # target r_t 0.6, the paper's
    ganstudio train --data fashion-mini --augment ada --ada-target 0.8

Every ADA_INTERVAL steps, r_t = E[sign(D(real))] over the real images D scored since the last adjustment (1: D calls
every real image real, the sign of overfitting; 0: it cannot tell); p += sign(r_t - target) x (real images drawn) /
(ADA_KIMG x 1000), clamped to [0, P_MAX], as the reference's training_loop.py does. A Wasserstein critic (a model
whose optimizer is named "critic", e.g. wgan-gp) has no fixed zero: its loss does not change when every score moves
by a constant, so r_t measures its real scores from the midpoint of the real and fake mean scores of the last
interval instead. Logistic and hinge losses (dcgan, cdcgan, sngan) anchor 0 between real and fake: sign as is.

The core tells D's calls on real images by comparing the input with the run's latest real batch (on the device, no
host sync), so a model plugin needs no code for it; the score of each image is the first output of D (a tuple's
first element), one per image. p is in the checkpoint ("ada") and in the metrics (ada_p, ada_rt).
"""

from __future__ import annotations

from typing import Optional

import torch

from ganstudio.api import Metric
from ganstudio.errors import GanstudioError
from ganstudio.train.augment import augment_some
from ganstudio.train.ema import generator_of

ADA_INTERVAL = 4  # steps between adjustments: the reference's ada_interval
# Real images for p to move by 1. The reference's 500 (kimg) suits runs of millions of images; a CPU run of a few
# minutes shows D 50-150k, where p would move by 0.1-0.3 at most: 20 lets it cross [0, 1] within a fifth of such a
# run (about 0.013 per adjustment at batch 64), still slow enough that one noisy interval barely moves it.
ADA_KIMG = 20.0
P_MAX = 0.99  # p < 1: some images always reach D as they are (at p = 1 a non-invertible op such as cutout would leak)

METRICS = {
    "ada_p": Metric("ADA p", "ADA: p and r_t", range=(-1.0, 1.0)),
    "ada_rt": Metric("ADA r_t", "ADA: p and r_t", range=(-1.0, 1.0)),
}
# stats: sum of sign(real - centre), real scores, sum of real scores, sum of fake scores, fake scores
SIGNS, REALS, REAL_SUM, FAKE_SUM, FAKES = range(5)


def check_target(target: float) -> float:
    if not 0 < target < 1:
        raise GanstudioError(f"--ada-target must be between 0 and 1 (the paper's 0.6), got {target}")
    return float(target)


class AdaptiveAugment:
    """The probability p, D's hooks that apply and measure it, and its state for the checkpoint."""

    metrics = METRICS

    def __init__(self, policy: tuple[str, ...], target: float, device, centred: bool = False, dist=None):
        self.policy, self.target, self.centred, self.dist = policy, check_target(target), centred, dist
        self.device = torch.device(device)
        self.p = torch.zeros((), device=self.device)
        self.rt = torch.zeros((), device=self.device)  # r_t of the last interval (shown, not used)
        self.centre = torch.zeros((), device=self.device)  # where sign() splits real from fake (0, or the midpoint)
        self.stats = torch.zeros(5, device=self.device)
        self.drawn = 0  # real images drawn by this process since the last adjustment
        self.real: Optional[torch.Tensor] = None  # the latest real batch
        self.fake: Optional[torch.Tensor] = None  # the generator's latest output (a centred critic only)
        self._call = None  # what the pre-hook found about the current D call: (reals first, same, is_fake)

    def attach(self, discriminator: torch.nn.Module, generator: Optional[torch.nn.Module] = None) -> None:
        discriminator.register_forward_pre_hook(self._before_d)
        discriminator.register_forward_hook(self._after_d)
        if self.centred and generator is not None:
            generator.register_forward_hook(self._after_g)

    def watch(self, batches) -> None:
        """Keep each real batch ``batches.next()`` draws, to know D's calls on it."""
        draw = batches.next

        def next_batch():
            batch = draw()
            self.real = batch.images.detach()
            self.drawn += batch.images.shape[0]
            return batch

        batches.next = next_batch

    # --- the hooks -----------------------------------------------------------------------------------------------

    def _before_d(self, module, args):
        if not module.training or not args or not isinstance(args[0], torch.Tensor):
            return None
        x, real, fake = args[0], self.real, self.fake
        n = len(real) if real is not None else 0
        same = None
        if n and x.dim() == real.dim() and x.shape[0] >= n and x.shape[1:] == real.shape[1:]:
            same = (x[:n] == real.to(x.dtype)).all()  # a tensor: the check costs no host sync
        is_fake = fake is not None and x.data_ptr() == fake.data_ptr() and x.shape == fake.shape
        self._call = (n, same, is_fake, x.shape[0])
        return (augment_some(x, self.policy, self.p), *args[1:])

    def _after_d(self, module, args, output):
        call, self._call = self._call, None
        if call is None:
            return
        n, same, is_fake, size = call
        scores = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(scores, torch.Tensor) or scores.dim() == 0 or scores.shape[0] != size:
            return  # not one score per image: nothing to measure
        scores = scores.detach().float().reshape(size, -1)[:, 0]
        zero = scores.new_zeros(())
        if same is not None:
            real, counts = scores[:n], same.float()
            signs = torch.sign(real - self.centre).sum()
            self.stats += torch.stack([signs * counts, n * counts, real.sum() * counts, zero, zero])
        if is_fake:
            self.stats += torch.stack([zero, zero, zero, scores.sum(), scores.new_tensor(float(size))])

    def _after_g(self, module, args, output):
        if module.training and isinstance(output, torch.Tensor):
            self.fake = output.detach()

    # --- the adjustment ------------------------------------------------------------------------------------------

    def after_step(self, step: int) -> dict[str, torch.Tensor]:
        """Adjust p when ``step`` (steps done) ends an interval; the metrics of this step (no host sync)."""
        if step % ADA_INTERVAL == 0:
            self.adjust()
        return {"ada_p": self.p.detach().clone(), "ada_rt": self.rt.detach().clone()}

    def adjust(self) -> None:
        totals = torch.cat([self.stats, self.stats.new_tensor([float(self.drawn)])])
        if self.dist is not None and self.dist.enabled:  # every process adjusts p alike, from all their images
            totals = totals.to(self.dist.collective_device())
            self.dist.sum_(totals)
            totals = totals.to(self.device)
        reals, drawn = totals[REALS], totals[-1]
        seen = reals > 0
        rt = totals[SIGNS] / reals.clamp(min=1)
        step = torch.sign(rt - self.target) * drawn / (ADA_KIMG * 1000)
        self.p = torch.where(seen, (self.p + step).clamp(0.0, P_MAX), self.p)
        self.rt = torch.where(seen, rt, self.rt)
        if self.centred:
            both = seen & (totals[FAKES] > 0)
            middle = (totals[REAL_SUM] / reals.clamp(min=1) + totals[FAKE_SUM] / totals[FAKES].clamp(min=1)) / 2
            self.centre = torch.where(both, middle, self.centre)
        self.stats.zero_()
        self.drawn = 0

    # --- the checkpoint ------------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "p": float(self.p),
            "rt": float(self.rt),
            "centre": float(self.centre),
            "stats": self.stats.cpu().clone(),
            "drawn": self.drawn,
        }

    def load_state_dict(self, state: dict) -> None:
        """The state a checkpoint holds; a damaged one is one line."""
        try:
            p, rt, centre = float(state["p"]), float(state["rt"]), float(state["centre"])
            stats, drawn = torch.as_tensor(state["stats"], dtype=torch.float32), int(state["drawn"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise GanstudioError(f"the checkpoint's ADA state is damaged ({type(e).__name__}: {e})") from None
        if (
            not 0 <= p <= float(torch.tensor(P_MAX))
            or stats.shape != (5,)
            or not torch.isfinite(stats).all()
            or drawn < 0
        ):
            raise GanstudioError(f"the checkpoint's ADA state is damaged (p={p}, stats {tuple(stats.shape)})")
        self.p = torch.tensor(p, device=self.device)
        self.rt = torch.tensor(rt, device=self.device)
        self.centre = torch.tensor(centre, device=self.device)
        self.stats, self.drawn = stats.to(self.device), drawn


def attach_adaptive(run, discriminator: torch.nn.Module, policy: tuple[str, ...]) -> AdaptiveAugment:
    """ADA on ``run``'s discriminator, watching its real batches. A Wasserstein critic is known by its optimizer's
    name ("critic"): its scores are measured from the midpoint (the module docstring says why)."""
    ada = AdaptiveAugment(policy, run.config.ada_target, run.device, "critic" in run.optimizers, run.dist)
    ada.attach(discriminator, generator_of(run.model))
    ada.watch(run.batches)
    return ada
