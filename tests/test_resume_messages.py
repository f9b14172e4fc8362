"""--resume says what it does not take, and a damaged checkpoint or odd option is one line."""

import pytest
from conftest import FAST, make_idx_dataset

from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


def train(cli, tiny_idx, *extra):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)


def test_options_that_define_the_run_are_named_when_resume_ignores_them(cli, workdir, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--model",
        "dcgan",
        "--resume",
        "--steps",
        "4",
        "--batch-size",
        "64",
        "--seed",
        "3",
        "--model-option",
        "width=16",
    )
    assert code == 0, err
    assert (
        "note: --resume continues the run as it was defined; ignored: batch_size 64 (the run's: 32), "
        "model_options {'width': '16'} (the run's: {'width': '8'}), seed 3 (the run's: 0)"
    ) in err
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["config"]["batch_size"] == 32
    code, out, err = cli(
        "train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "6", "--batch-size", "32"
    )
    assert code == 0 and "ignored" not in err, "the run's own value is not called ignored"


def test_resuming_on_data_of_another_size_says_so(cli, workdir, tiny_idx, tmp_path):
    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    bigger = make_idx_dataset(tmp_path / "bigger", n_train=320)
    code, out, err = cli(
        "train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "4", "--data-root", bigger
    )
    assert code == 0, err
    assert "note: the data has 320 images now, 256 when the run was saved" in err


@pytest.mark.parametrize("damage", ["progress", "rng", "optimizers"])
def test_a_checkpoint_missing_keys_is_one_line_on_resume(cli, workdir, tiny_idx, damage):
    import torch

    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    path = workdir / "checkpoints/fashion-dcgan/last.pt"
    ckpt = load_checkpoint(path)
    if damage == "optimizers":
        del ckpt["state"]["optimizers"]
    else:
        del ckpt[damage]
    torch.save(ckpt, path)
    code, out, err = cli("train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "4")
    assert code == 2 and err.count("\n") == 1 and "checkpoint is missing or has a malformed entry" in err, err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--seed", "1e20"), "argument --seed: expected a whole number, got '1e20'"),
        (("--seed", str(2**64)), "expected a seed from 0 to"),
        (("--name", "n" * 300), "is not a plain name"),
    ],
)
def test_odd_values_are_one_line(cli, tiny_idx, args, message):
    code, out, err = train(cli, tiny_idx, "--steps", "1", *args)
    assert code == 2 and message in err and err.count("\n") == 1
