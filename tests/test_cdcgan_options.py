"""The cdcgan's measured options: the class loss weight in G's step (ac_g), the twin classifier (tac), the hinge
loss with a learning rate of D's own (lr_d), a D wider than G (d_width), mode seeking (ms) and the minibatch standard
deviation channel (mbstd); checkpoints from before each keep training as they did."""

import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.api.options import recorded_options
from ganstudio.builtin.models import cdcgan
from ganstudio.builtin.models.cdcgan import nets as cdcgan_nets
from ganstudio.builtin.models.cdcgan.nets import ConditionalDCGAN, MinibatchStd, generator_class_loss, mode_seeking_loss
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, check_model_plugin, step_context

TINY = {"width": "8", "latent_dim": "16"}
FAST = ("--batch-size", "32", "--log-every", "1", "--callbacks", "log")  # metrics.jsonl only: no grids or GIFs


def train(cli, tiny_idx, *extra, options=TINY):
    flags = [x for key, value in options.items() for x in ("--model-option", f"{key}={value}")]
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "cdcgan", *flags, *FAST, *extra)


def test_ac_g_weighs_the_class_loss_in_the_generator_step_alone(one_torch_thread):
    """From the same weights and batch, ac_g changes G's update and leaves D's as it was; ac_g=none means ac."""
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "1", **options}, model="cdcgan"))
        model.training_step(FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context())
        return model

    plain, weighted, same, default = one_step(ac_g="none"), one_step(ac_g="3"), one_step(ac_g="1"), one_step()
    for a, b in zip(plain.discriminator.parameters(), weighted.discriminator.parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(plain.generator.parameters(), weighted.generator.parameters()))
    for a, b in zip(plain.generator.parameters(), same.generator.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(weighted.generator.parameters(), default.generator.parameters()):  # the default is ac_g=3
        assert torch.equal(a, b)


def test_the_twin_classifier_learns_the_classes_of_the_samples_and_g_is_trained_to_fool_it(one_torch_thread):
    """tac (TAC-GAN): a second head learns which class G's samples are; G's loss subtracts its cross entropy. Off, there
    is no twin head at all (checkpoints from before it load); it needs ac."""
    off = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "1"}, model="cdcgan"))
    assert (
        off.discriminator.twin is None and off.discriminator(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))[2] is None
    )
    with pytest.raises(GanstudioError, match="tac needs ac > 0"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "0", "tac": "1"}, model="cdcgan"))
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "1", **options}, model="cdcgan"))
        twin_before = model.discriminator.twin.weight.detach().clone() if model.discriminator.twin is not None else None
        metrics = model.training_step(
            FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context()
        )
        assert all(torch.isfinite(v) for v in metrics.values())
        return model, twin_before

    plain, _ = one_step()
    twin, twin_before = one_step(tac="1")
    assert not torch.equal(twin_before, twin.discriminator.twin.weight)  # the twin learned in D's step
    # G's update differs: its loss has the twin's term (subtracted; the sign is checked below).
    assert any(not torch.equal(a, b) for a, b in zip(plain.generator.parameters(), twin.generator.parameters()))

    # The sign: G's loss rises with the classifier's cross entropy and falls with the twin's.
    labels = torch.tensor([0, 1])
    sure_0, sure_1 = torch.tensor([[5.0, 0.0], [5.0, 0.0]]), torch.tensor([[0.0, 5.0], [0.0, 5.0]])
    ce = torch.nn.functional.cross_entropy
    assert generator_class_loss(sure_0, None, labels, 2.0, 0.5) == pytest.approx(2 * ce(sure_0, labels).item())
    assert generator_class_loss(sure_0, sure_1, labels, 2.0, 0.5) == pytest.approx(
        (2 * ce(sure_0, labels) - 0.5 * ce(sure_1, labels)).item()
    )
    assert generator_class_loss(None, None, labels, 2.0, 0.5) == 0.0


def test_a_checkpoint_from_before_the_twin_classifier_and_ac_g_resumes_as_it_was(
    cli, tiny_idx, workdir, one_torch_thread
):
    code, out, err = train(cli, tiny_idx, "--steps", "2")
    assert code == 0, err
    path = workdir / "checkpoints/fashion-cdcgan/last.pt"
    ckpt = load_checkpoint(path)
    options = ckpt["model"]["config"]["options"]
    del options["tac"], options["ac_g"]  # a cdcgan checkpoint from before tac, and before ac_g (default then: as ac)
    del (
        options["lr_d"],
        options["hinge"],
        options["d_width"],
        options["ms"],
    )  # ... and from before lr_d, hinge, d_width, ms
    torch.save(ckpt, path)
    code, out, err = cli(
        "train", "--name", "fashion-cdcgan", "--data-root", tiny_idx, "--resume", "--steps", "3", *FAST
    )
    assert code == 0, err
    options = load_checkpoint(path)["model"]["config"]["options"]
    assert options["tac"] == 0.0 and options["ac_g"] is None
    assert options["lr_d"] is None and options["hinge"] is False and options["d_width"] is None and options["ms"] == 0.0
    code, out, err = train(cli, tiny_idx, "--steps", "2", "--name", "twin", options={**TINY, "tac": "1"})
    assert code == 0, err
    assert any("twin" in key for key in load_checkpoint(workdir / "checkpoints/twin/last.pt")["state"]["model"])


def test_a_run_recorded_at_the_old_learning_rate_resumes_at_it(cli, tiny_idx, workdir, one_torch_thread):
    """The default rate went from 2e-4 to 1.6e-3 (docs/models.md, round two); a run that recorded 2e-4 keeps it when
    resumed without --model-option, in its options and in both optimizers."""
    code, out, err = train(cli, tiny_idx, "--steps", "2", options={**TINY, "lr": "2e-4"})
    assert code == 0, err
    code, out, err = cli(
        "train", "--name", "fashion-cdcgan", "--data-root", tiny_idx, "--resume", "--steps", "3", *FAST
    )
    assert code == 0, err
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-cdcgan/last.pt")
    assert ckpt["model"]["config"]["options"]["lr"] == 2e-4
    rates = [g["lr"] for state in ckpt["state"]["optimizers"].values() for g in state["param_groups"]]
    assert rates == [2e-4, 2e-4]
    code, out, err = train(cli, tiny_idx, "--steps", "2", "--name", "new")
    assert code == 0, err
    assert load_checkpoint(workdir / "checkpoints/new/last.pt")["model"]["config"]["options"]["lr"] == 1.6e-3


def test_hinge_loss_and_a_learning_rate_of_its_own_for_d(monkeypatch, one_torch_thread):
    """hinge (the default): D's loss is SNGAN's hinge of its real and fake logits, G's the negated mean fake logit;
    lr_d: D's Adam learning rate (none: lr, as G's)."""
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1
    seen = {}

    def spy(name, real_function):
        def record(*logits):
            seen[name] = logits
            return real_function(*logits)

        monkeypatch.setattr(cdcgan_nets, name, record)

    spy("hinge_loss_d", cdcgan_nets.hinge_loss_d)
    spy("hinge_loss_g", cdcgan_nets.hinge_loss_g)

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "0", **options}, model="cdcgan"))
        metrics = model.training_step(
            FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context()
        )
        return model, metrics

    bce, _ = one_step(hinge="false")
    assert seen == {}  # DCGAN's BCE
    hinge, metrics = one_step()  # the default
    logit_real, logit_fake = seen["hinge_loss_d"]
    assert logit_real.shape == logit_fake.shape == (32,)
    expected_d = torch.relu(1 - logit_real).mean() + torch.relu(1 + logit_fake).mean()
    assert metrics["loss_d"].item() == pytest.approx(expected_d.item())  # ac=0: the hinge is the whole of D's loss
    (logit_g,) = seen["hinge_loss_g"]
    assert metrics["loss_g"].item() == pytest.approx(-logit_g.mean().item())
    assert any(not torch.equal(a, b) for a, b in zip(bce.discriminator.parameters(), hinge.discriminator.parameters()))

    def learning_rates(**options):
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, **options}, model="cdcgan"))
        optimizers = model.configure_optimizers()
        return optimizers["generator"].param_groups[0]["lr"], optimizers["discriminator"].param_groups[0]["lr"]

    assert learning_rates() == (1.6e-3, 1.6e-3)  # docs/models.md, round two
    assert learning_rates(lr="1e-4", lr_d="4e-4") == (1e-4, 4e-4)
    assert learning_rates(lr="1e-4") == (1e-4, 1e-4)
    with pytest.raises(GanstudioError, match="lr_d"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "lr_d": "0"}, model="cdcgan"))


def test_d_width_sets_the_discriminator_apart_from_the_generator():
    """d_width: D's own width (none: width, as G's); G is the same either way."""

    def widths(**options):
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, **options}, model="cdcgan"))
        first_d = next(m for m in model.discriminator.features.modules() if isinstance(m, torch.nn.Conv2d))
        return first_d.out_channels, sum(p.numel() for p in model.generator.parameters())

    (d_same, g_same), (d_wide, g_wide) = widths(), widths(d_width="12")
    assert d_same == 8 and d_wide == 12 and g_same == g_wide
    with pytest.raises(GanstudioError, match="d_width"):
        widths(d_width="0")


def test_mode_seeking_pairs_samples_of_one_class_and_rewards_distance_per_z_distance():
    """mode_seeking_loss (MSGAN): 1 / (mean image distance / mean z distance) over pairs of one class; pairs of two
    classes count for nothing, and a batch without two samples of one class gives 0 and no gradient."""
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [0.0, 4.0]])
    fake = torch.zeros(4, 1, 2, 2)
    fake[1] += 0.5  # class 0's pair (samples 0 and 1): image distance 0.5, z distance 1
    fake[3] += 1.0  # class 1's pair (samples 2 and 3): image distance 1, z distance 3
    labels = torch.tensor([0, 0, 1, 1])
    assert mode_seeking_loss(fake, z, labels).item() == pytest.approx(1 / ((0.5 + 1.0) / (1.0 + 3.0) + 1e-5))
    shuffled = torch.tensor([3, 0, 2, 1])  # the pairs are found by class, wherever they sit in the batch
    assert mode_seeking_loss(fake[shuffled], z[shuffled], labels[shuffled]).item() == pytest.approx(
        1 / (1.5 / 4 + 1e-5)
    )
    lone = fake.clone().requires_grad_(True)  # two samples of class 0, then classes 1 and 2: only the first pair counts
    mode_seeking_loss(lone, z, torch.tensor([0, 0, 1, 2])).backward()
    assert lone.grad[:2].abs().sum() > 0 and lone.grad[2:].abs().sum() == 0
    apart = fake.clone().requires_grad_(True)
    loss = mode_seeking_loss(apart, z, torch.arange(4))
    loss.backward()
    assert loss.item() == 0.0 and apart.grad.abs().sum() == 0
    # samples that all but ignore z (a hundredth of the distance for the same z) cost about a hundred times more
    assert mode_seeking_loss(fake / 100, z, labels).item() == pytest.approx(
        100 * mode_seeking_loss(fake, z, labels).item(), rel=1e-2
    )


def test_ms_adds_the_mode_seeking_term_to_g_alone(monkeypatch, one_torch_thread):
    """ms > 0 adds ms x the mode-seeking term of the step's own fakes, z and labels to G's loss; D's loss is
    unchanged."""
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1
    seen = []

    def record(fake, z, labels):
        value = mode_seeking_loss(fake, z, labels)
        seen.append((fake.shape, z.shape, labels.clone(), value.item()))
        return value

    monkeypatch.setattr(cdcgan_nets, "mode_seeking_loss", record)

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, **options}, model="cdcgan"))
        return model.training_step(
            FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context()
        )

    plain = one_step()
    assert seen == []  # the default: off
    seeking = one_step(ms="2")
    ((fake_shape, z_shape, seen_labels, value),) = seen
    assert fake_shape == (32, 1, 28, 28) and z_shape[0] == 32 and torch.equal(seen_labels, labels)
    assert seeking["loss_d"].item() == pytest.approx(plain["loss_d"].item())
    assert seeking["loss_g"].item() == pytest.approx(plain["loss_g"].item() + 2 * value, rel=1e-4)
    with pytest.raises(GanstudioError, match="ms"):
        one_step(ms="-1")


def test_minibatch_std_appends_the_spread_of_each_group_as_one_channel():
    """MinibatchStd (ProGAN): image i joins group i % (B / group); its extra channel is the standard deviation over
    its group, averaged over features and pixels; identical images give ~0; any batch size works (the largest group
    size up to ``group`` that divides it); NHWC stays NHWC."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5, 5)
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 5, 5) and torch.equal(out[:, :3], x)
    for i in range(8):
        group = x[[j for j in range(8) if j % 2 == i % 2]]  # B / group = 2 groups: the even and the odd images
        expected = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[i, 3], expected.expand(5, 5), atol=1e-6)
    assert MinibatchStd(4)(torch.ones(8, 3, 5, 5))[:, 3].abs().max() < 1e-3
    odd = MinibatchStd(4)(torch.randn(6, 2, 3, 3))  # 6 = 3 x 2: groups of 3
    assert (
        odd.shape == (6, 3, 3, 3) and torch.allclose(odd[0, 2], odd[2, 2]) and not torch.allclose(odd[0, 2], odd[1, 2])
    )
    assert MinibatchStd(4)(torch.randn(1, 2, 3, 3)).shape == (1, 3, 3, 3)  # a batch of one: its own group
    nhwc = x.contiguous(memory_format=torch.channels_last)
    assert MinibatchStd(4)(nhwc).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(MinibatchStd(4)(nhwc), out)


def test_mbstd_lets_d_see_the_rest_of_the_batch_and_trains(tmp_path, one_torch_thread):
    """mbstd=N puts the channel before D's last downsampling convolution: in eval mode (batch norm on its running
    statistics) one image's logit then depends on the other images of its group, where without it it does not; the
    option passes the contract kit, and checkpoints from before it rebuild without the channel."""

    def logits(images, **options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, **options}, model="cdcgan")).eval()
        with torch.no_grad():
            return model.discriminator(images, torch.zeros(len(images), dtype=torch.long))[0], model

    images = torch.rand(8, 1, 28, 28) * 2 - 1
    others_changed = images.clone()
    others_changed[1:] = others_changed[:1]  # image 0 stays, its group now has no spread
    plain, model = logits(images)
    assert not any(isinstance(m, MinibatchStd) for m in model.discriminator.modules())
    assert torch.allclose(plain[0], logits(others_changed)[0][0])
    seeing, model = logits(images, mbstd="4")
    assert sum(isinstance(m, MinibatchStd) for m in model.discriminator.modules()) == 1
    assert not torch.allclose(seeing[0], logits(others_changed, mbstd="4")[0][0])
    assert recorded_options(cdcgan.CDCGANOptions, {"width": 8})["mbstd"] == 0  # a checkpoint without the option
    check_model_plugin(cdcgan, "cdcgan", tmp_path, options={**TINY, "mbstd": "4"})
    with pytest.raises(GanstudioError, match="mbstd"):
        logits(images, mbstd="-1")
