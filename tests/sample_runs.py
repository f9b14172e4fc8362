"""The runs tests/test_sample_control.py and tests/test_eval_class_consistency.py sample and score: tiny linear models
from tests/tiny_models.py (``tiny``, ``tiny-cond``), 2 training steps each, and a classifier."""

import shutil

import pytest
from conftest import make_idx_dataset

from ganstudio.cli import main

PLUGIN = "from tiny_models import register_models  # noqa: F401  (tiny and tiny-cond)\n"
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
TRAIN = ("--steps", "2", "--batch-size", "32", "--callbacks", "log")


def train_sample_runs(root):
    """Tiny data; an unconditional run 'plain', conditional runs 'cond' and 'bars' (draws each class's bar, but
    Dress as Coat), and a classifier, under ``root``; a module-scoped fixture makes them once per test module."""
    data = make_idx_dataset(root / "tiny", n_train=128, n_test=64)
    (root / "plugins").mkdir()
    (root / "plugins/tiny_plugins.py").write_text(PLUGIN)
    runs = {
        "plain": ("tiny",),
        "cond": ("tiny-cond",),
        "bars": ("tiny-cond", "--model-option", "bars=true", "--model-option", "confuse=3"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        for name, (model, *options) in runs.items():
            args = [
                "--plugins-dir",
                "plugins",
                "train",
                "--data",
                "fashion",
                "--data-root",
                str(data),
                "--model",
                model,
                *options,
                "--name",
                name,
                *TRAIN,
            ]
            assert main(args) == 0, name
        assert (
            main(
                [
                    "train",
                    "--data",
                    "fashion",
                    "--data-root",
                    str(data),
                    "--model",
                    "classifier",
                    "--model-option",
                    "width=8",
                    *TRAIN,
                ]
            )
            == 0
        )
    return root


def runs_in(trained, workdir):
    """The trained runs in the work folder, whose (trusted) ./plugins registers the tiny models."""
    shutil.copytree(trained / "checkpoints", workdir / "checkpoints")
    shutil.copytree(trained / "plugins", workdir / "plugins")
    return workdir
