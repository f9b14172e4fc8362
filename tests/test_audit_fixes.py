"""The audit's items (issue 34): standing batch-norm statistics for the generator EMA, TAC's equal weights in G's loss,
SNGAN's reference D blocks and n_dis, truncate_latent on a batch, fp16 skips seen from step 0 and per phase."""

import copy

import pytest
import tiny_models
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.api import ModelConfig
from ganstudio.api.options import recorded_options
from ganstudio.builtin.models.cdcgan import CDCGANOptions
from ganstudio.builtin.models.cdcgan.nets import ConditionalDCGAN
from ganstudio.builtin.models.dcgan.nets import DCGAN
from ganstudio.builtin.models.shared.nets import hinge_loss_g
from ganstudio.builtin.models.sngan import SNGANOptions
from ganstudio.builtin.models.sngan.nets import SNGAN
from ganstudio.output.generation import truncate_latent
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import plugins_with, train_run
from ganstudio.train.ema import GeneratorEMA

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- 1. the EMA generator's batch-norm statistics are its own ---------------------------------------------------


def tiny_dcgan() -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(ModelConfig((1, 28, 28), 0, {"width": "4", "latent_dim": "8"}, model="dcgan"))


def batch_norms(net: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def own_batch_statistics(ema: GeneratorEMA, model) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, unbiased var) of each BN layer's inputs, averaged over the standing batches, in a train-mode copy of
    the averaged generator: the statistics of its own activations."""
    net = copy.deepcopy(ema.module).train()
    seen = {id(m): [] for m in batch_norms(net)}
    hooks = [
        m.register_forward_pre_hook(lambda m, args: seen[id(m)].append(args[0].detach())) for m in batch_norms(net)
    ]
    raw = model.generator
    model.generator = net
    try:
        with torch.no_grad():
            for z, labels in ema.standing_inputs(model):
                model.generate(z, labels)
    finally:
        model.generator = raw
        for hook in hooks:
            hook.remove()
    return [
        (
            torch.stack([x.mean((0, 2, 3)) for x in seen[id(m)]]).mean(0),
            torch.stack([x.var((0, 2, 3), unbiased=True) for x in seen[id(m)]]).mean(0),
        )
        for m in batch_norms(net)
    ]


def trained_apart(model, ema: GeneratorEMA, updates: int = 5) -> None:
    """Raw G's weights move and its running statistics follow its own batches, the EMA averaging the weights."""
    for i in range(updates):
        with torch.no_grad():
            for p in model.generator.parameters():
                p.add_(torch.randn_like(p) * 0.3)
            model.generator.train()
            model.generator(torch.randn(32, 8) * (1 + i))  # raw G's running statistics: its batches, not EMA's
        ema.update(model.generator)


def test_standing_statistics_are_the_averaged_generators_own_and_not_the_raw_ones():
    model = tiny_dcgan()
    ema = GeneratorEMA(model.generator, decay=0.5, model=model)
    trained_apart(model, ema)
    with ema.swapped_into(model):  # every output: grids, eval, samples
        assert model.generator is ema.module
    expected = own_batch_statistics(ema, model)
    for bn, raw_bn, (mean, var) in zip(batch_norms(ema.module), batch_norms(model.generator), expected):
        assert torch.allclose(bn.running_mean, mean, rtol=1e-4, atol=1e-5)
        assert torch.allclose(bn.running_var, var, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(bn.running_mean, raw_bn.running_mean, atol=1e-3)
    assert not ema.module.training and not any(bn.training for bn in batch_norms(ema.module))


def test_standing_statistics_change_no_weight_no_random_stream_and_no_later_average():
    """Recomputed at an output or not, the average goes on the same: a resumed run stays exact."""
    model, twin = tiny_dcgan(), tiny_dcgan()
    emas = [GeneratorEMA(m.generator, decay=0.5, model=m) for m in (model, twin)]
    torch.manual_seed(1)
    trained_apart(model, emas[0], 3)
    torch.manual_seed(1)
    trained_apart(twin, emas[1], 3)
    state = torch.get_rng_state()
    with emas[0].swapped_into(model):
        pass
    assert torch.equal(state, torch.get_rng_state())
    torch.manual_seed(2)
    trained_apart(model, emas[0], 2)
    torch.manual_seed(2)
    trained_apart(twin, emas[1], 2)
    for a, b in zip(emas[0].module.parameters(), emas[1].module.parameters()):
        assert torch.equal(a, b)
    first, second = emas[0].state_dict(), emas[1].state_dict()  # both recompute at the save
    for key in first["weights"]:
        assert torch.equal(first["weights"][key], second["weights"][key]), key


def test_checkpoint_of_an_older_run_keeps_averaging_its_statistics():
    """A checkpoint written before standing statistics resumes as it trained: its buffers averaged, none recomputed."""
    model = tiny_dcgan()
    ema = GeneratorEMA(model.generator, decay=0.5, model=model)
    old = {k: v for k, v in ema.state_dict().items() if k != "bn_stats"}
    ema.load_state_dict(old)
    ema.updates = 100
    bn, raw_bn = batch_norms(ema.module)[0], batch_norms(model.generator)[0]
    before = bn.running_mean.clone()
    model.generator.train()
    with torch.no_grad():
        model.generator(torch.randn(16, 8) * 3)
    ema.update(model.generator)
    assert torch.allclose(bn.running_mean, 0.5 * before + 0.5 * raw_bn.running_mean)
    kept = bn.running_mean.clone()
    with ema.swapped_into(model):
        pass
    assert torch.equal(bn.running_mean, kept)


def test_a_trained_checkpoint_holds_standing_statistics(tmp_path):
    run = train_run(plugins_with(), tmp_path, "dcgan", 3, options={"width": 4, "latent_dim": 8})
    saved = load_checkpoint(run.checkpoint_path)["ema"]
    assert saved["bn_stats"] == "standing"
    expected = own_batch_statistics(run.ema, run.model)
    names = [n for n, m in run.ema.module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for name, (mean, var) in zip(names, expected):
        assert torch.allclose(saved["weights"][f"{name}.running_mean"], mean, rtol=1e-4, atol=1e-5)
        assert torch.allclose(saved["weights"][f"{name}.running_var"], var, rtol=1e-4, atol=1e-5)


# --- 2. TAC: the twin's term in G's loss weighs as much as the classifier's -----------------------------------


def tac_model(**options) -> ConditionalDCGAN:
    torch.manual_seed(0)
    opts = {"width": "8", "latent_dim": "16", "ac": "1", "ac_g": "3", **options}
    return ConditionalDCGAN(ModelConfig((1, 28, 28), 4, opts, model="cdcgan"))


def generator_loss_parts(model, fake, labels):
    logit, classes, twin = model.discriminator(fake, labels)
    return hinge_loss_g(logit.float()), F.cross_entropy(classes.float(), labels), F.cross_entropy(twin.float(), labels)


@pytest.mark.parametrize("tac", [1.0, 0.5])
def test_the_twin_term_in_gs_loss_is_the_classifier_terms_weight_times_tac(tac):
    """tac=1: TAC-GAN's correction, the twin weighed as G's classifier term (ac_g); below 1 a part of it."""
    model = tac_model(tac=str(tac))
    labels, z = torch.arange(8) % 4, torch.randn(8, 16)
    fake = model.generator(z, labels)
    adv, ac_term, twin_term = generator_loss_parts(model, fake, labels)
    loss = model.generator_loss(fake, z, labels)
    assert torch.allclose(loss, adv + 3 * ac_term - tac * 3 * twin_term, rtol=1e-5)


def test_a_tac_checkpoint_from_before_keeps_its_absolute_twin_weight():
    recorded = {k: v for k, v in vars(CDCGANOptions()).items() if k != "tac_absolute"}
    recorded.update(width=8, latent_dim=16, ac=1.0, ac_g=3.0, tac=1.0)
    assert recorded_options(CDCGANOptions, recorded)["tac_absolute"] is True
    model = tac_model(tac="1", tac_absolute="true")
    labels, z = torch.arange(8) % 4, torch.randn(8, 16)
    fake = model.generator(z, labels)
    adv, ac_term, twin_term = generator_loss_parts(model, fake, labels)
    assert torch.allclose(model.generator_loss(fake, z, labels), adv + 3 * ac_term - 1 * twin_term, rtol=1e-5)


# --- 3. SNGAN as the paper and its reference code --------------------------------------------------------------


def test_sngan_defaults_are_the_papers():
    o = SNGANOptions()
    assert (o.n_dis, o.lr, o.beta1, o.beta2) == (5, 2e-4, 0.0, 0.9)


def test_sngan_d_blocks_are_the_reference_ones_and_older_checkpoints_keep_theirs():
    """Reference D blocks: hidden width = input width (the optimized first block: its output width), no bias in the
    last linear. Checkpoints from before record neither the option nor n_dis=5: they rebuild as they trained."""
    torch.manual_seed(0)
    d = SNGAN(ModelConfig((1, 28, 28), 0, {"width": 4, "latent_dim": 8}, model="sngan")).discriminator
    first, second, last = d.blocks
    assert (first.conv1.out_channels, first.conv2.in_channels) == (4, 4)  # optimized: 1 -> 4 -> 4
    assert (second.conv1.in_channels, second.conv1.out_channels, second.conv2.out_channels) == (4, 4, 8)
    assert (last.conv1.out_channels, last.conv2.out_channels) == (8, 8)
    assert d.linear.bias is None
    old_options = {k: v for k, v in vars(SNGANOptions()).items() if k != "reference_d"}
    old_options.update(width=4, latent_dim=8, n_dis=1)
    options = recorded_options(SNGANOptions, old_options)
    assert options["reference_d"] is False and options["n_dis"] == 1
    old = SNGAN(ModelConfig((1, 28, 28), 0, options, model="sngan")).discriminator
    assert old.blocks[1].conv1.out_channels == 8 and old.linear.bias is not None


# --- 4. truncate_latent takes a batch ---------------------------------------------------------------------------


def test_truncate_latent_takes_any_number_of_rows():
    model = tiny_dcgan()
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0)) * 2
    out = truncate_latent(model, z, 0.7, torch.Generator().manual_seed(1))
    assert out.shape == z.shape and out.abs().max() <= 0.7
    inside = z.abs() <= 0.7
    assert torch.equal(out[inside], z[inside])
    # One row draws as it always did (seeded truncated samples keep their pixels: tests/test_sample_control.py).


# --- 5. fp16 skips: seen from step 0, and per phase ------------------------------------------------------------


def scaler(**kwargs):
    from ganstudio.train.loss_scale import TrackingGradScaler

    return TrackingGradScaler("cpu", **kwargs)


@pytest.mark.parametrize("tracking", [True, False])
def test_an_overflow_at_step_0_is_a_skipped_step(tmp_path, monkeypatch, tracking):
    """The loop's own GradScaler and a plain one: the scale is only made at step 0's first backward."""
    from ganstudio.train.accel import Precision

    make = scaler if tracking else (lambda **kw: torch.amp.GradScaler("cpu", **kw))
    monkeypatch.setattr(Precision, "grad_scaler", lambda self, device: make(init_scale=2.0**10))
    run = train_run(plugins_with(tiny_models), tmp_path, "tiny", 3, options={"overflow_at": 0})
    assert [r["step"] for r in run.history if r.get("fp16_skipped_steps")] == [1]
    assert "loss" not in run.history[0] and "loss" in run.history[1]


def test_a_skip_right_after_the_scale_grew_is_still_seen():
    """D's update grows the scale, G's overflows and halves it: the scale ends where it began, the skip is seen."""
    from ganstudio.train.accel import LossScale

    s = scaler(init_scale=2.0**10, growth_interval=1)
    d, g = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opts = {"discriminator": torch.optim.SGD([d], lr=0.1), "generator": torch.optim.SGD([g], lr=0.1)}
    loss_scale = LossScale(s, torch.device("cpu"), opts, {"loss_d": "discriminator", "loss_g": "generator"})
    loss_scale.start_step()
    for name, loss in (("discriminator", d.sum()), ("generator", g.sum() * float("inf"))):
        s.scale(loss).backward()
        s.step(opts[name])
        s.update()
    assert s.get_scale() == 2.0**10
    skipped = loss_scale.skipped(["loss_d", "loss_g", "other"])
    assert {k: bool(v) for k, v in skipped.items()} == {"loss_d": False, "loss_g": True, "other": True}


class DOverflows(DCGAN):
    """DCGAN whose D update overflows at its second step; G's updates stay finite."""

    def backward_step(self, loss, optimizer):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:  # D's update of the second step
            loss = loss * float("inf")
        super().backward_step(loss, optimizer)


class DOverflowsPlugin:
    from ganstudio import hookimpl

    @hookimpl
    def register_models(self, register):
        from ganstudio.api import ModelPlugin

        register(ModelPlugin("d-overflows", DOverflows, options=DCGAN.Options))


def test_a_skipped_d_update_drops_ds_metrics_and_keeps_gs(tmp_path, monkeypatch):
    from ganstudio.train.accel import Precision

    monkeypatch.setattr(Precision, "grad_scaler", lambda self, device: scaler(init_scale=2.0**10))
    run = train_run(plugins_with(DOverflowsPlugin()), tmp_path, "d-overflows", 3, options={"width": 4, "latent_dim": 8})
    second = run.history[1]
    assert second["fp16_skipped_steps"] == 1
    assert "loss_g" in second and "loss_d" not in second and "d_real" not in second
    assert {"loss_d", "loss_g"} <= set(run.history[2])
