"""The built-in class-conditional DCGAN (cdcgan): the contract kit, the projection discriminator's inputs (the image
batch first, for DiffAugment), the CLI end to end (--class in sample / interpolate / eval), unlabelled data refused
in one line, exact resume."""

import json

import imageio.v3 as iio
import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.augment import attach
from ganstudio.checkpoint import load_checkpoint
from ganstudio.models import cdcgan
from ganstudio.nets.cdcgan import ConditionalDCGAN
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
