"""A checkpoint written before the package moved (commit 40f7ed0) samples the same pixels and resumes after it.

The fixtures are tiny DCGAN and CDCGAN runs and what the old code sampled from them and after resuming them;
tests/fixtures/old_checkpoints/README.md says how they were made.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ganstudio.store.checkpoint import load_checkpoint

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "old_checkpoints"
QUIET = ("--no-grid", "--no-gif", "--no-curves", "--no-tensorboard", "--no-eval")
# (fixture folder, run name the old code gave it, step it was saved at)
RUNS = {"dcgan": ("old-dcgan", 40), "cdcgan": ("old-cdcgan", 60)}


@pytest.fixture
def old_runs(workdir):
    """The old checkpoints where the old code left them: checkpoints/<run name>/."""
    for folder, (name, _) in RUNS.items():
        shutil.copytree(FIXTURES / folder, workdir / "checkpoints" / name)
    return workdir


def old_images(name: str) -> np.ndarray:
    return np.load(FIXTURES / name)["images"]


def sampled(cli, workdir, *args) -> np.ndarray:
    code, out, err = cli("sample", *args, "--out", "x.npz")
    assert code == 0, err
    return np.load(workdir / "x.npz")["images"]


def test_the_fixtures_are_checkpoints_of_the_old_layout():
    for folder in RUNS:
        ckpt = load_checkpoint(FIXTURES / folder / "last.pt")
        assert ckpt["model"]["plugin"] == f"ganstudio.models.{folder}"  # the module path before the move
        assert ckpt["data"]["plugin"] == "ganstudio.datasets.idx_datasets"


@pytest.mark.parametrize(
    "args, fixture",
    [
        (("old-dcgan", "--seeds", "0-7"), "dcgan-seeds0-7.npz"),
        (("old-cdcgan", "--seeds", "0-7"), "cdcgan-seeds0-7.npz"),
        (("old-cdcgan", "--seeds", "0-7", "--no-ema"), "cdcgan-seeds0-7-no-ema.npz"),
        (("old-cdcgan", "--seeds", "0-3", "--class", "Trouser"), "cdcgan-trouser-seeds0-3.npz"),
    ],
)
def test_an_old_checkpoint_samples_the_same_pixels(cli, old_runs, one_torch_thread, args, fixture):
    expected = old_images(fixture)
    assert expected.std() > 5, "the fixture must not be a flat image, or the comparison proves little"
    assert np.array_equal(sampled(cli, old_runs, *args), expected)


def test_an_old_checkpoint_samples_the_same_grid_png(cli, old_runs, one_torch_thread):
    code, out, err = cli("sample", "old-dcgan", "--n", "4", "--seed", "100", "--out", "grid.png")
    assert code == 0, err
    assert np.array_equal(iio.imread(old_runs / "grid.png"), iio.imread(FIXTURES / "dcgan-n4-seed100.png"))


@pytest.mark.parametrize("folder, more", [("dcgan", 3), ("cdcgan", 3)])
def test_an_old_checkpoint_resumes_as_the_old_code_resumed_it(cli, old_runs, one_torch_thread, folder, more):
    name, step = RUNS[folder]
    code, out, err = cli("train", "--name", name, "--resume", "--steps", step + more, "--log-every", "1", *QUIET)
    assert code == 0, err
    assert f"resuming at step {step}" in out
    assert load_checkpoint(old_runs / "checkpoints" / name / "last.pt")["progress"]["step"] == step + more
    expected = old_images(f"{folder}-resumed-step{step + more}-seeds0-7.npz")
    assert np.array_equal(sampled(cli, old_runs, name, "--seeds", "0-7"), expected)
