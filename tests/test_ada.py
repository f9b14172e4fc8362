"""ADA (ganstudio/train/ada.py): the adaptive augmentation probability, and DiffAugment's translation as the reference
(mit-han-lab/data-efficient-gans DiffAugment_pytorch.py rand_translation) does it."""

import json
from pathlib import Path

import pytest
import torch
from conftest import FAST
from torch import nn

from ganstudio.api.model import Batch
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.train import ada as ada_module
from ganstudio.train.ada import ADA_INTERVAL, ADA_KIMG, P_MAX, REALS, AdaptiveAugment
from ganstudio.train.augment import augment_some, translation


def test_translation_pads_with_zero_and_shifts_at_most_int_size_over_8_rounded():
    torch.manual_seed(0)
    x = torch.ones(512, 1, 28, 20)
    moved = translation(x)
    assert set(moved.unique().tolist()) <= {0.0, 1.0}  # what comes in from the edge is 0, not the background -1
    blank_rows = (moved[:, 0] == 0).all(dim=2).sum(dim=1)  # rows shifted in, per image
    blank_cols = (moved[:, 0] == 0).all(dim=1).sum(dim=1)
    # The reference's shift: int(side * 0.125 + 0.5) per axis, every shift in [-s, s] drawn: 4 at 28 px, 3 at 20 px.
    assert blank_rows.max() == 4 and blank_cols.max() == 3
    assert (blank_rows == 0).any() and (blank_cols == 0).any()
    assert translation(torch.ones(4, 1, 2, 2)).eq(1).all()  # int(2 * 0.125 + 0.5) = 0: a 2 px image is not moved


# --- the adaptive probability --------------------------------------------------------------------------------------


class Reals:
    """A Batches of fixed random images: what ADA watches to know D's calls on real ones."""

    batch_size = 16

    def next(self):
        return Batch(images=torch.rand(self.batch_size, 1, 8, 8) * 2 - 1)


class ScoreD(nn.Module):
    """A discriminator that scores real images ``real`` and everything else ``other``, whatever it is shown."""

    def __init__(self, real: float, other: float):
        super().__init__()
        self.real_score, self.other_score, self.reals = real, other, None

    def forward(self, x, labels=None):
        return torch.full((len(x), 1), self.other_score).index_fill(0, torch.arange(self.reals), self.real_score)


def steps(ada, d, batches, n, g=None):
    """n training steps as a GAN takes them: D on a real batch, D on fakes (the output of ``g``)."""
    g = g or nn.Identity()
    for step in range(1, n + 1):
        real = batches.next().images
        d.reals = len(real)
        d(real)
        d.reals = 0
        d(g(torch.randn_like(real)))
        ada.after_step(step)


def adaptive(target=0.6):
    ada = AdaptiveAugment(("translation", "cutout"), target, "cpu")
    batches = Reals()
    ada.watch(batches)
    return ada, batches


def test_p_rises_while_d_calls_every_real_image_real_and_falls_when_it_cannot():
    torch.manual_seed(0)
    ada, batches = adaptive()
    d = ScoreD(real=2.0, other=-3.0).train()  # overfitting: every real image positive; the fakes do not count
    ada.attach(d)
    steps(ada, d, batches, 4 * ADA_INTERVAL)
    step = 16 * ADA_INTERVAL / (ADA_KIMG * 1000)  # the real images of an interval over ADA_KIMG x 1000
    assert float(ada.p) == pytest.approx(4 * step) and float(ada.rt) == 1.0
    d.real_score = -1.0  # D no longer tells: r_t = -1 < 0.6, p comes down
    steps(ada, d, batches, ADA_INTERVAL)
    assert float(ada.p) == pytest.approx(3 * step) and float(ada.rt) == -1.0
    steps(ada, d, batches, 10 * ADA_INTERVAL)
    assert float(ada.p) == 0.0  # never below 0


def test_p_stays_below_one_and_is_applied_per_image():
    torch.manual_seed(0)
    ada, batches = adaptive()
    d = ScoreD(real=1.0, other=1.0).train()
    ada.attach(d)
    ada.p = torch.tensor(P_MAX - 0.001)
    steps(ada, d, batches, 2 * ADA_INTERVAL)
    assert float(ada.p) == pytest.approx(P_MAX) and P_MAX < 1
    ones = torch.ones(2000, 1, 8, 8)
    twice = ("cutout", "cutout")  # an op that always changes an image, twice: each on a draw of its own
    for p, share in ((0.0, 0.0), (0.5, 0.75), (P_MAX, 1 - (1 - P_MAX) ** 2)):
        changed = (augment_some(ones, twice, torch.tensor(p)) != 1).flatten(1).any(1).float().mean()
        assert float(changed) == pytest.approx(share, abs=0.04)


def test_a_critic_is_measured_from_the_midpoint_of_its_real_and_fake_scores():
    """WGAN's critic loss ignores a constant added to every score: its sign alone says nothing."""
    torch.manual_seed(0)
    ada = AdaptiveAugment(("translation",), 0.6, "cpu", centred=True)
    batches = Reals()
    ada.watch(batches)
    d, g = ScoreD(real=105.0, other=95.0).train(), nn.Identity().train()  # all positive, but reals above fakes
    ada.attach(d, g)
    steps(ada, d, batches, 2 * ADA_INTERVAL, g)
    assert float(ada.centre) == pytest.approx(100.0) and float(ada.rt) == 1.0
    d.other_score = 110.0  # the fakes now score above the reals: from the next interval on (the midpoint of the
    steps(ada, d, batches, 2 * ADA_INTERVAL, g)  # last one splits them), r_t = -1
    assert float(ada.centre) == pytest.approx(107.5) and float(ada.rt) == -1.0
    uncentred = AdaptiveAugment(("translation",), 0.6, "cpu")
    uncentred.watch(batches)
    d = ScoreD(real=105.0, other=110.0).train()
    uncentred.attach(d, g)
    steps(uncentred, d, batches, ADA_INTERVAL, g)
    assert float(uncentred.rt) == 1.0  # sign alone: 105 > 0 looks like overfitting


def test_the_state_round_trips_exactly_and_a_damaged_one_is_one_line():
    ada, _ = adaptive()
    ada.p, ada.rt, ada.drawn = torch.tensor(0.123456789), torch.tensor(0.7), 48
    ada.stats += torch.tensor([3.0, 5.0, 1.5, 0.0, 0.0])
    other, _ = adaptive()
    other.load_state_dict(ada.state_dict())
    assert torch.equal(other.p, ada.p) and torch.equal(other.stats, ada.stats) and other.drawn == 48
    ada.p, ada.stats, ada.drawn = torch.tensor(0.98), torch.tensor([5.0, 5.0, 2.0, 0.0, 0.0]), 2000
    ada.adjust()  # r_t = 1: p + 0.1, clamped to P_MAX in float32 (which is above the float 0.99)
    other.load_state_dict(ada.state_dict())
    assert torch.equal(other.p, ada.p) and torch.equal(other.p, torch.tensor(P_MAX))
    with pytest.raises(GanstudioError, match="ADA state is damaged"):
        other.load_state_dict({**ada.state_dict(), "p": 1.5})
    with pytest.raises(GanstudioError, match="--ada-target must be between 0 and 1"):
        AdaptiveAugment(("cutout",), 1.0, "cpu")


# --- end to end ----------------------------------------------------------------------------------------------------

TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8")


def test_ada_trains_logs_p_and_resumes_with_the_same_p(cli, tiny_idx, monkeypatch):
    monkeypatch.setattr(ada_module, "ADA_KIMG", 0.5)  # p moves 0.256 per interval: visible in a few steps
    base = ("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *FAST, "--callbacks", "log")
    whole = (*base, "--augment", "ada", "--ada-target", "0.3", "--name", "whole")
    assert cli(*whole, "--steps", "10")[0] == 0
    halves = (*base, "--augment", "ada", "--ada-target", "0.3", "--name", "halves")
    assert cli(*halves, "--steps", "5")[0] == 0  # saved in the middle of an interval
    saved = load_checkpoint("checkpoints/halves/last.pt")["ada"]
    assert saved["drawn"] == 32 and saved["stats"][REALS] == 32
    code, out, err = cli(*halves, "--steps", "10", "--resume")
    assert code == 0, err
    a, b = (load_checkpoint(f"checkpoints/{n}/last.pt") for n in ("whole", "halves"))
    assert a["config"]["augment"] == "ada" and a["config"]["ada_target"] == 0.3
    assert a["ada"]["p"] == b["ada"]["p"] and a["ada"]["p"] > 0 and a["ada"]["rt"] == b["ada"]["rt"]
    for key, value in a["state"]["model"].items():
        assert torch.equal(value, b["state"]["model"][key]), key
    records = [json.loads(line) for line in Path("checkpoints/whole/metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if "ada_p" in r]
    assert logged and all(0 <= r["ada_p"] < 1 and -1 <= r["ada_rt"] <= 1 for r in logged)
    code, out, err = cli(*base, "--steps", "1", "--augment", "ada", "--ada-target", "1.5", "--name", "bad")
    assert code == 2 and "--ada-target" in err and err.count("\n") == 1
