"""The built-in class-conditional DCGAN (cdcgan): the contract kit, the projection discriminator's inputs (the image
batch first, for DiffAugment), the CLI end to end (--class in sample / interpolate / eval), unlabelled data refused
in one line, exact resume."""

import json

import imageio.v3 as iio
import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.builtin.models import cdcgan
from ganstudio.builtin.models.cdcgan.nets import ConditionalDCGAN
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, check_model_plugin, step_context
from ganstudio.train.augment import attach

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
    code, out, err = train(
        cli, tiny_idx, "--steps", "4", "--callbacks", "log,grid", "--augment", "on", "--ema-decay", "0.999"
    )
    assert code == 0, err
    run, samples = "fashion-cdcgan", workdir / "samples/fashion-cdcgan"  # the default run name: <data>-<model>
    ckpt = load_checkpoint(workdir / f"checkpoints/{run}/last.pt")
    assert ckpt["model"]["config"]["num_classes"] == 10 and ckpt["ema"] is not None  # the core's generator EMA
    grid = iio.imread(samples / "step_000004.png")  # the fixed-noise grid: one row per class, 28 px tiles, 2 px gaps
    assert grid.shape == (10 * 30 + 2, 6 * 30 + 2)  # 64 grid samples (the default) -> 10 classes x 6 columns
    rows = [grid[2 + r * 30 : r * 30 + 30] for r in range(10)]
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
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "classifier",
        "--model-option",
        "width=8",
        "--batch-size",
        "32",
        "--steps",
        "4",
        "--callbacks",
        "log",
    )
    assert code == 0, err
    code, out, err = cli("eval", run, "--class", "2", "--n", "64", "--json", "--data-root", tiny_idx)
    assert code == 0, err
    result = json.loads(out)
    assert result["class"] == "2" and result["n"] == 64 and result["checkpoint"].endswith(f"{run}/last.pt")


def test_conditional_on_unlabelled_data_is_one_line(cli, workdir):
    (workdir / "imgs").mkdir()
    for i in range(8):
        iio.imwrite(workdir / f"imgs/{i}.png", torch.randint(0, 255, (28, 28), dtype=torch.uint8).numpy())
    code, out, err = cli(
        "train",
        "--data",
        "folder",
        "--data-root",
        "imgs",
        "--image-size",
        "28",
        "--channels",
        "1",
        "--model",
        "cdcgan",
        "--batch-size",
        "8",
        "--steps",
        "1",
    )
    errors = [
        line for line in err.splitlines() if line.startswith("error:")
    ]  # (the folder's progress lines go to stderr too)
    assert code == 2 and len(errors) == 1 and "needs labelled data" in errors[0] and "Traceback" not in err


def test_conditional_needs_labelled_data_and_a_dcgan_shape():
    with pytest.raises(ValueError, match="needs labelled data"):
        ConditionalDCGAN(ModelConfig((1, 28, 28), 0, dict(TINY), model="cdcgan"))
    assert (
        cdcgan.supports((1, 28, 28)) is None
        and cdcgan.supports((3, 64, 64)) is None
        and cdcgan.supports((3, 128, 128)) is None
    )
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
    assert (
        without.discriminator.classify is None
        and without.discriminator(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))[1] is None
    )
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
    code, out, err = cli(
        "train", "--name", "fashion-cdcgan", "--data-root", tiny_idx, "--resume", "--steps", "3", *FAST
    )
    assert code == 0, err
    resumed = load_checkpoint(path)
    assert resumed["progress"]["step"] == 3 and resumed["model"]["config"]["options"]["ac"] == 0.0


def test_fashion_trains_cdcgan_when_no_model_is_named(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model-option", "width=8", "--steps", "1", *FAST
    )
    assert code == 0, err
    assert "model: cdcgan" in out and "(the default for 'fashion'; --model NAME for another)" in out
    assert "batch 32, " in out  # --batch-size (in FAST) wins over cdcgan's own 64
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model-option",
        "width=8",
        "--steps",
        "1",
        "--callbacks",
        "log",
        "--name",
        "own-batch",
    )
    assert code == 0, err
    assert "batch 64 (the model's default; --batch-size N for another), 4 batches/epoch" in out
    assert "generator EMA: decay 0.999 (the model's default; --ema-decay 0 turns it off)" in out  # cdcgan's own
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-cdcgan/last.pt")
    assert ckpt["model"]["name"] == "cdcgan" and ckpt["config"]["ema_decay"] == 0.999 and ckpt["ema"] is not None
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "dcgan",
        "--model-option",
        "width=8",
        "--steps",
        "1",
        *FAST,
    )
    assert code == 0, err
    assert (
        "model: dcgan" in out
        and "the default for" not in out
        and (workdir / "checkpoints/fashion-dcgan/last.pt").is_file()
    )
    # A run saved under another model's default name is one line away: --resume names the runs there.
    code, out, err = cli("train", "--data", "mnist", "--resume", "--steps", "2")
    assert code == 2 and err.count("\n") == 1
    assert (
        "no checkpoint at checkpoints/mnist-dcgan/last.pt" in err
        and "runs there: fashion-cdcgan, fashion-dcgan, own-batch)" in err
    )


def test_fashion_mini_trains_cdcgan_with_bce_unless_told_otherwise(cli, workdir, one_torch_thread):
    """fashion-mini's own model option (hinge=false: BCE scored better on 4,000 images, docs/models.md) is said on
    its own line and recorded; the user's --model-option hinge=true wins, and another model gets none of it."""
    fast = ("--model-option", "width=8", "--steps", "1", "--callbacks", "log", "--batch-size", "16")
    code, out, err = cli("train", "--data", "fashion-mini", *fast)
    assert code == 0, err
    assert "model options: hinge=false (the default for 'fashion-mini'; --model-option KEY=VALUE for another)" in out
    assert (
        load_checkpoint(workdir / "checkpoints/fashion-mini-cdcgan/last.pt")["model"]["config"]["options"]["hinge"]
        is False
    )
    code, out, err = cli("train", "--data", "fashion-mini", *fast, "--model-option", "hinge=true", "--name", "hinged")
    assert code == 0, err
    assert "model options:" not in out
    assert load_checkpoint(workdir / "checkpoints/hinged/last.pt")["model"]["config"]["options"]["hinge"] is True
    code, out, err = cli("train", "--data", "fashion-mini", *fast, "--model", "dcgan", "--name", "plain")
    assert code == 0, err
    assert (
        "model options:" not in out
        and "hinge" not in load_checkpoint(workdir / "checkpoints/plain/last.pt")["model"]["config"]["options"]
    )


def test_discriminate_scores_each_image_as_one_of_its_class(one_torch_thread):
    torch.manual_seed(0)
    model = ConditionalDCGAN(ModelConfig((1, 28, 28), 10, dict(TINY), model="cdcgan")).eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3, 4])
    with torch.no_grad():
        scores = model.discriminate(images, labels)
        assert scores.shape == (5,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
        assert torch.allclose(scores, model.discriminator(images, labels)[0], atol=1e-5)
        other = model.discriminate(images, (labels + 1) % 10)
        assert not torch.allclose(scores, other), "the projection term makes the score depend on the class"
    with pytest.raises(ValueError, match="pass labels"):
        model.discriminate(images)
