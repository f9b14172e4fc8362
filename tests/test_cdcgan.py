"""The built-in class-conditional DCGAN (cdcgan): the contract kit, the projection discriminator's inputs (the image
batch first, for DiffAugment), the CLI end to end (--class in sample / interpolate / eval), unlabelled data refused
in one line, exact resume."""

import json

import imageio.v3 as iio
import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.train.augment import attach
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.errors import GanstudioError
from ganstudio.builtin.models import cdcgan
from ganstudio.api.options import recorded_options
from ganstudio.builtin.models.cdcgan import nets as cdcgan_nets
from ganstudio.builtin.models.cdcgan.nets import ConditionalDCGAN, MinibatchStd, generator_class_loss, mode_seeking_loss
from ganstudio.testing import FixedBatches, check_model_plugin, step_context

TINY = {"width": "8", "latent_dim": "16"}
FAST = ("--batch-size", "32", "--log-every", "1", "--callbacks", "log")  # metrics.jsonl only: no grids or GIFs


def train(cli, tiny_idx, *extra, options=TINY):
    flags = [x for key, value in options.items() for x in ("--model-option", f"{key}={value}")]
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "cdcgan", *flags, *FAST, *extra)


def test_cdcgan_passes_the_contract_kit(tmp_path, one_torch_thread):
    check_model_plugin(cdcgan, "cdcgan", tmp_path, options=TINY)


def test_the_core_finds_the_networks_and_augments_the_image_batch(one_torch_thread):
    torch.manual_seed(0)
    model = ConditionalDCGAN(ModelConfig((1, 28, 28), 10, dict(TINY), model="cdcgan"))
    assert isinstance(model.generator, torch.nn.Module) and isinstance(model.discriminator, torch.nn.Module)
    seen = []
    model.discriminator.register_forward_pre_hook(lambda module, args: seen.append(tuple(a.shape for a in args)))
    attach(model.discriminator, ("translation", "cutout"))  # what --augment on does
    batches = FixedBatches(torch.rand(32, 1, 28, 28) * 2 - 1, torch.arange(32) % 10, batch_size=16)
    metrics = model.training_step(batches, model.configure_optimizers(), step_context())
    assert batches.drawn == 1 and all(torch.isfinite(v) for v in metrics.values())
    assert seen == [((16, 1, 28, 28), (16,))] * 3  # D(real, y), D(fake, y), then D(fake, y) for G: images first


def test_conditional_through_the_cli_sample_interpolate_eval_by_class(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = train(cli, tiny_idx, "--steps", "4", "--callbacks", "log,grid", "--augment", "on", "--ema-decay", "0.999")
    assert code == 0, err
    run, samples = "fashion-cdcgan", workdir / "samples/fashion-cdcgan"  # the default run name: <data>-<model>
    ckpt = load_checkpoint(workdir / f"checkpoints/{run}/last.pt")
    assert ckpt["model"]["config"]["num_classes"] == 10 and ckpt["ema"] is not None  # the core's generator EMA
    grid = iio.imread(samples / "step_000004.png")  # the fixed-noise grid: one row per class, 28 px tiles, 2 px gaps
    assert grid.shape == (10 * 30 + 2, 6 * 30 + 2)  # 64 grid samples (the default) -> 10 classes x 6 columns
    rows = [grid[2 + r * 30: r * 30 + 30] for r in range(10)]
    assert len({row.tobytes() for row in rows}) == 10  # each class row draws its own images

    for which in ("3", "trouser"):  # an index, and a name (case-insensitive) from the data's classes
        code, out, err = cli("sample", run, "--class", which, "--n", "8")
        assert code == 0, err
        assert iio.imread(samples / f"sample-8-seed0-{which}.png").ndim == 2
    code, out, err = cli("interpolate", run, "--class", "1", "--n", "2", "--frames", "4")
    assert code == 0, err
    assert (samples / "interpolate-seed0-1.gif").is_file()

    code, out, err = cli("sample", run, "--class", "handbag-of-holding", "--n", "8")
    assert code == 2 and "expected one of T-shirt/top, Trouser" in err and err.count("\n") == 1

    # eval trains a classifier when there is none; a tiny one trained first keeps this fast.
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "classifier",
                         "--model-option", "width=8", "--batch-size", "32", "--steps", "4", "--callbacks", "log")
    assert code == 0, err
    code, out, err = cli("eval", run, "--class", "2", "--n", "64", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["class"] == "2" and result["n"] == 64 and result["checkpoint"].endswith(f"{run}/last.pt")


def test_conditional_on_unlabelled_data_is_one_line(cli, workdir):
    (workdir / "imgs").mkdir()
    for i in range(8):
        iio.imwrite(workdir / f"imgs/{i}.png", torch.randint(0, 255, (28, 28), dtype=torch.uint8).numpy())
    code, out, err = cli("train", "--data", "folder", "--data-root", "imgs", "--image-size", "28",
                         "--channels", "1", "--model", "cdcgan", "--batch-size", "8", "--steps", "1")
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # (the folder's progress lines go to stderr too)
    assert code == 2 and len(errors) == 1 and "needs labelled data" in errors[0] and "Traceback" not in err


def test_conditional_needs_labelled_data_and_a_dcgan_shape():
    with pytest.raises(ValueError, match="needs labelled data"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 0, dict(TINY), model="cdcgan"))
    assert cdcgan.supports((1, 28, 28)) is None and cdcgan.supports((3, 64, 64)) is None and cdcgan.supports((3, 128, 128)) is None
    assert "square" in cdcgan.supports((1, 28, 32)) and "cdcgan cannot build 30x30" in cdcgan.supports((1, 30, 30))


def test_exact_resume_through_the_cli(cli, tiny_idx, workdir, one_torch_thread):
    assert train(cli, tiny_idx, "--steps", "4", "--name", "straight")[0] == 0
    assert train(cli, tiny_idx, "--steps", "2", "--name", "split")[0] == 0
    code, out, err = cli("train", "--name", "split", "--data-root", tiny_idx, "--resume", "--steps", "4")
    assert code == 0, err
    a = load_checkpoint(workdir / "checkpoints/straight/last.pt")["state"]["model"]
    b = load_checkpoint(workdir / "checkpoints/split/last.pt")["state"]["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_auxiliary_classifier_learns_the_classes_from_real_images_only(one_torch_thread):
    """ac > 0 (AC-GAN): D gets a class head trained on real images, and G's loss adds that head's cross entropy
    for the asked class. With ac = 0 there is no head at all (old checkpoints load, DDP sees no unused parameter)."""
    without = ConditionalDCGAN(ModelConfig((1, 28, 28), 10, {**TINY, "ac": "0"}, model="cdcgan"))
    assert without.discriminator.classify is None and without.discriminator(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))[1] is None
    with pytest.raises(GanstudioError, match="ac_g needs ac > 0"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 10, {**TINY, "ac": "0", "ac_g": "2"}, model="cdcgan"))
    # ac=0 alone turns the classifier off: the default ac_g (3) has nothing to weigh, and is no error
    assert ConditionalDCGAN(ModelConfig((1, 28, 28), 10, {**TINY, "ac": "0"}, model="cdcgan")).options.ac_g == 3.0
    torch.manual_seed(0)
    model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "1"}, model="cdcgan"))
    labels = torch.arange(64) % 4
    images = torch.stack([torch.full((1, 28, 28), -1.0 + 0.6 * c) for c in labels.tolist()])  # one grey level per class
    batches = FixedBatches(images, labels, batch_size=32)
    optimizers = model.configure_optimizers()

    def real_accuracy():
        with torch.no_grad():
            _, classes, _ = model.discriminator(images, labels)
        return (classes.argmax(1) == labels).float().mean().item()

    before = real_accuracy()
    head_before = model.discriminator.classify.weight.detach().clone()
    for _ in range(30):
        metrics = model.training_step(batches, optimizers, step_context())
    assert all(torch.isfinite(v) for v in metrics.values())
    assert not torch.equal(head_before, model.discriminator.classify.weight)
    assert before < 0.5 and real_accuracy() == 1.0


def test_a_checkpoint_from_before_the_classifier_head_samples_and_resumes(cli, tiny_idx, workdir, one_torch_thread):
    """Checkpoints record every option of their day; one written before ``ac`` existed has no classifier head and
    must be rebuilt with ac=0 (its ``before`` value), not today's default."""
    assert ConditionalDCGAN(ModelConfig((1, 28, 28), 10, dict(TINY), model="cdcgan")).discriminator.classify is not None
    code, out, err = train(cli, tiny_idx, "--steps", "2", options={**TINY, "ac": "0"})
    assert code == 0, err
    path = workdir / "checkpoints/fashion-cdcgan/last.pt"
    ckpt = load_checkpoint(path)
    del ckpt["model"]["config"]["options"]["ac"]  # what a cdcgan checkpoint of the previous release holds
    assert not any("classify" in key for key in ckpt["state"]["model"])
    torch.save(ckpt, path)
    code, out, err = cli("sample", "fashion-cdcgan", "--n", "4")
    assert code == 0, err
    code, out, err = cli("train", "--name", "fashion-cdcgan", "--data-root", tiny_idx, "--resume", "--steps", "3", *FAST)
    assert code == 0, err
    resumed = load_checkpoint(path)
    assert resumed["progress"]["step"] == 3 and resumed["model"]["config"]["options"]["ac"] == 0.0


def test_fashion_trains_cdcgan_when_no_model_is_named(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model-option", "width=8", "--steps", "1", *FAST)
    assert code == 0, err
    assert "model: cdcgan" in out and "(the default for 'fashion'; --model NAME for another)" in out
    assert "batch 32, " in out  # --batch-size (in FAST) wins over cdcgan's own 64
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model-option", "width=8", "--steps", "1",
                         "--callbacks", "log", "--name", "own-batch")
    assert code == 0, err
    assert "batch 64 (the model's default; --batch-size N for another), 4 batches/epoch" in out
    assert "generator EMA: decay 0.999 (the model's default; --ema-decay 0 turns it off)" in out  # cdcgan's own
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-cdcgan/last.pt")
    assert ckpt["model"]["name"] == "cdcgan" and ckpt["config"]["ema_decay"] == 0.999 and ckpt["ema"] is not None
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "dcgan", "--model-option", "width=8",
                         "--steps", "1", *FAST)
    assert code == 0, err
    assert "model: dcgan" in out and "the default for" not in out and (workdir / "checkpoints/fashion-dcgan/last.pt").is_file()
    # A run saved under another model's default name is one line away: --resume names the runs there.
    code, out, err = cli("train", "--data", "mnist", "--resume", "--steps", "2")
    assert code == 2 and err.count("\n") == 1
    assert "no checkpoint at checkpoints/mnist-dcgan/last.pt" in err and "runs there: fashion-cdcgan, fashion-dcgan, own-batch)" in err


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
    assert off.discriminator.twin is None and off.discriminator(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))[2] is None
    with pytest.raises(GanstudioError, match="tac needs ac > 0"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "0", "tac": "1"}, model="cdcgan"))
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, "ac": "1", **options}, model="cdcgan"))
        twin_before = model.discriminator.twin.weight.detach().clone() if model.discriminator.twin is not None else None
        metrics = model.training_step(FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context())
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
    assert generator_class_loss(sure_0, sure_1, labels, 2.0, 0.5) == pytest.approx((2 * ce(sure_0, labels) - 0.5 * ce(sure_1, labels)).item())
    assert generator_class_loss(None, None, labels, 2.0, 0.5) == 0.0

def test_a_checkpoint_from_before_the_twin_classifier_and_ac_g_resumes_as_it_was(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = train(cli, tiny_idx, "--steps", "2")
    assert code == 0, err
    path = workdir / "checkpoints/fashion-cdcgan/last.pt"
    ckpt = load_checkpoint(path)
    options = ckpt["model"]["config"]["options"]
    del options["tac"], options["ac_g"]  # a cdcgan checkpoint from before tac, and before ac_g (default then: as ac)
    del options["lr_d"], options["hinge"], options["d_width"], options["ms"]  # ... and from before lr_d, hinge, d_width, ms
    torch.save(ckpt, path)
    code, out, err = cli("train", "--name", "fashion-cdcgan", "--data-root", tiny_idx, "--resume", "--steps", "3", *FAST)
    assert code == 0, err
    options = load_checkpoint(path)["model"]["config"]["options"]
    assert options["tac"] == 0.0 and options["ac_g"] is None
    assert options["lr_d"] is None and options["hinge"] is False and options["d_width"] is None and options["ms"] == 0.0
    code, out, err = train(cli, tiny_idx, "--steps", "2", "--name", "twin", options={**TINY, "tac": "1"})
    assert code == 0, err
    assert any("twin" in key for key in load_checkpoint(workdir / "checkpoints/twin/last.pt")["state"]["model"])


def test_hinge_loss_and_a_learning_rate_of_its_own_for_d(monkeypatch, one_torch_thread):
    """hinge (the default): D's loss is SNGAN's hinge of its real and fake logits, G's the negated mean fake logit; lr_d: D's
    Adam learning rate (none: lr, as G's)."""
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
        metrics = model.training_step(FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context())
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

    assert learning_rates() == (2e-4, 2e-4)
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
    assert mode_seeking_loss(fake[shuffled], z[shuffled], labels[shuffled]).item() == pytest.approx(1 / (1.5 / 4 + 1e-5))
    lone = fake.clone().requires_grad_(True)  # two samples of class 0, then classes 1 and 2: only the first pair counts
    mode_seeking_loss(lone, z, torch.tensor([0, 0, 1, 2])).backward()
    assert lone.grad[:2].abs().sum() > 0 and lone.grad[2:].abs().sum() == 0
    apart = fake.clone().requires_grad_(True)
    loss = mode_seeking_loss(apart, z, torch.arange(4))
    loss.backward()
    assert loss.item() == 0.0 and apart.grad.abs().sum() == 0
    # samples that all but ignore z (a hundredth of the distance for the same z) cost about a hundred times more
    assert mode_seeking_loss(fake / 100, z, labels).item() == pytest.approx(100 * mode_seeking_loss(fake, z, labels).item(), rel=1e-2)


def test_ms_adds_the_mode_seeking_term_to_g_alone(monkeypatch, one_torch_thread):
    """ms > 0 adds ms x the mode-seeking term of the step's own fakes, z and labels to G's loss; D's loss is unchanged."""
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
        return model.training_step(FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context())

    plain = one_step()
    assert seen == []  # the default: off
    seeking = one_step(ms="2")
    (fake_shape, z_shape, seen_labels, value), = seen
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
    assert odd.shape == (6, 3, 3, 3) and torch.allclose(odd[0, 2], odd[2, 2]) and not torch.allclose(odd[0, 2], odd[1, 2])
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


def test_fashion_mini_trains_cdcgan_with_bce_unless_told_otherwise(cli, workdir, one_torch_thread):
    """fashion-mini's own model option (hinge=false: BCE scored better on 4,000 images, docs/models.md) is said on
    its own line and recorded; the user's --model-option hinge=true wins, and another model gets none of it."""
    fast = ("--model-option", "width=8", "--steps", "1", "--callbacks", "log", "--batch-size", "16")
    code, out, err = cli("train", "--data", "fashion-mini", *fast)
    assert code == 0, err
    assert "model options: hinge=false (the default for 'fashion-mini'; --model-option KEY=VALUE for another)" in out
    assert load_checkpoint(workdir / "checkpoints/fashion-mini-cdcgan/last.pt")["model"]["config"]["options"]["hinge"] is False
    code, out, err = cli("train", "--data", "fashion-mini", *fast, "--model-option", "hinge=true", "--name", "hinged")
    assert code == 0, err
    assert "model options:" not in out
    assert load_checkpoint(workdir / "checkpoints/hinged/last.pt")["model"]["config"]["options"]["hinge"] is True
    code, out, err = cli("train", "--data", "fashion-mini", *fast, "--model", "dcgan", "--name", "plain")
    assert code == 0, err
    assert "model options:" not in out and "hinge" not in load_checkpoint(workdir / "checkpoints/plain/last.pt")["model"]["config"]["options"]
