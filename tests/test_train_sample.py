"""End to end: train a few steps on tiny IDX files, then sample to PNG, npz, given seeds and a folder; resume
continues."""

import imageio.v3 as iio
import numpy as np
import torch
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


def train(cli, tiny_idx, *extra):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)


def test_train_then_sample_png_npz_and_folder(cli, tiny_idx, workdir):
    code, out, err = train(cli, tiny_idx, "--steps", "10")
    assert code == 0, err
    assert f"from {tiny_idx} (--data-root)" in out
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")
    assert ckpt["progress"]["step"] == 10
    assert ckpt["model"]["config"]["image_shape"] == (1, 28, 28)
    assert (
        ckpt["model"]["plugin"] == "ganstudio.builtin.models.dcgan"
        and ckpt["data"]["plugin"] == "ganstudio.builtin.datasets.idx_datasets"
    )
    assert ckpt["fixed_latents"].shape == (64, 100) and ckpt["fixed_labels"] is None

    code, out, err = cli("sample", "--n", "144")
    assert code == 0, err
    grid = iio.imread(workdir / "samples/fashion-dcgan/sample-144-seed0.png")
    assert grid.shape == (12 * 30 + 2, 12 * 30 + 2)  # 12x12 tiles of 28 px with 2 px padding

    code, out, err = cli("sample", "--n", "7", "--out", "s.npz", "--seed", "3")
    assert code == 0, err
    images = np.load(workdir / "s.npz")["images"]
    assert images.shape == (7, 28, 28, 1) and images.dtype == np.uint8
    assert images.std() > 0

    cli("sample", "--n", "7", "--out", "again.npz", "--seed", "3")
    assert np.array_equal(np.load(workdir / "again.npz")["images"], images), "--seed must make sampling reproducible"
    cli("sample", "--seeds", "4,9,6", "--out", "picked.npz")  # image i of --seed 3 is seed 3 + i, alone
    assert np.array_equal(np.load(workdir / "picked.npz")["images"], images[[1, 6, 3]])

    code, out, err = cli("sample", "--n", "5", "--out", "pngs/")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "pngs").iterdir()) == [f"seed{i:06d}.png" for i in range(5)]
    assert iio.imread(workdir / "pngs/seed000000.png").shape == (28, 28)


def test_epoch_end_writes_grid_and_checkpoint(cli, tiny_idx, workdir):
    code, out, err = train(cli, tiny_idx, "--epochs", "1")  # 256 images / 32 = 8 steps
    assert code == 0, err
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 8
    assert (workdir / "samples/fashion-dcgan/epoch_0001.png").is_file()


def test_resume_continues_the_step_count(cli, tiny_idx, workdir):
    assert train(cli, tiny_idx, "--steps", "4")[0] == 0
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--model",
        "dcgan",
        "--data-root",
        tiny_idx,
        "--resume",
        "--steps",
        "10",
        "--log-every",
        "2",
    )
    assert code == 0, err
    assert "resuming at step 4" in out
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")
    assert ckpt["progress"]["step"] == 10
    assert ckpt["config"]["batch_size"] == 32, "a resumed run keeps its own settings"


def test_exact_resume_is_bit_identical(cli, tiny_idx, workdir):
    assert train(cli, tiny_idx, "--steps", "12", "--name", "straight")[0] == 0
    assert train(cli, tiny_idx, "--steps", "5", "--name", "split")[0] == 0
    assert cli("train", "--name", "split", "--data-root", tiny_idx, "--resume", "--steps", "12")[0] == 0
    a = load_checkpoint(workdir / "checkpoints/straight/last.pt")["state"]["model"]
    b = load_checkpoint(workdir / "checkpoints/split/last.pt")["state"]["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_existing_run_is_not_overwritten_by_accident(cli, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    code, out, err = train(cli, tiny_idx, "--steps", "2")
    assert code == 2 and "--resume" in err and err.count("\n") == 1
    assert train(cli, tiny_idx, "--steps", "2", "--overwrite")[0] == 0
