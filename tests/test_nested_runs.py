"""A classifier trained on demand for --eval-every runs inside the GAN's run: it must leave the GAN's random streams
alone, obey the GAN's signals, and never be kept unfinished as eval's feature space."""

import pytest
import torch
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.train import classifier as on_demand

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)

SIGNAL_DURING_CLASSIFIER = """
import os, signal
from ganstudio import hookimpl

@hookimpl
def after_training_step(run, step):
    if run.model.kind == "classifier" and step == 2:
        os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C while eval's classifier trains
"""


@pytest.fixture(autouse=True)
def quick_classifier(monkeypatch, tmp_path):
    """These tests train a classifier inside a run: no shipped one may answer first, and 2 epochs are enough."""
    import ganstudio.scoring.shipped

    monkeypatch.setattr(on_demand, "AUTO_TRAIN_EPOCHS", 2)
    monkeypatch.setattr(ganstudio.scoring.shipped, "MANIFEST", tmp_path / "none.json")


def train(cli, tiny_idx, *extra):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)


def test_training_the_classifier_inside_a_resumed_run_keeps_it_bit_identical(cli, workdir, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "4", "--name", "straight")[0] == 0
    assert train(cli, tiny_idx, "--steps", "2", "--name", "resumed")[0] == 0
    code, out, err = train(cli, tiny_idx, "--steps", "4", "--name", "resumed", "--resume", "--eval-every", "100")
    assert code == 0, err
    classifier = workdir / "checkpoints/fashion-classifier/last.pt"
    assert classifier.is_file(), "the classifier was trained in the resumed run"
    straight = load_checkpoint(workdir / "checkpoints/straight/last.pt")["state"]["model"]
    resumed = load_checkpoint(workdir / "checkpoints/resumed/last.pt")["state"]["model"]
    assert all(torch.equal(v, resumed[k]) for k, v in straight.items())


def test_ctrl_c_while_the_classifier_trains_stops_both_and_keeps_no_unfinished_classifier(cli, workdir, tiny_idx):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/interrupt.py").write_text(SIGNAL_DURING_CLASSIFIER)
    code, out, err = train(cli, tiny_idx, "--steps", "4", "--eval-every", "2")
    assert code == 130
    assert "interrupted while training the 'fashion' classifier for eval" in err and err.count("\n") == 1
    classifier = load_checkpoint(workdir / "checkpoints/fashion-classifier/last.pt")
    assert classifier["progress"]["finished"] is False and classifier["progress"]["step"] == 2
    unfinished = on_demand.find_classifier(workdir / "checkpoints", "fashion")
    assert unfinished is None, "an unfinished classifier is never used"

    (workdir / "plugins/interrupt.py").unlink()
    code, out, err = train(cli, tiny_idx, "--steps", "4", "--eval-every", "2")
    assert code == 0, err
    assert "continuing the unfinished one" in out
    finished = load_checkpoint(workdir / "checkpoints/fashion-classifier/last.pt")["progress"]
    assert finished["finished"] is True and finished["step"] == 2 * (256 // 128)  # 2 epochs of 2 batches of 128


def test_a_classifier_trained_for_some_minutes_is_finished(cli, workdir, tiny_idx):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "classifier",
        "--model-option",
        "width=4",
        "--batch-size",
        "32",
        "--minutes",
        "0.02",
    )
    assert code == 0, err
    assert load_checkpoint(workdir / "checkpoints/fashion-classifier/last.pt")["progress"]["finished"] is True
    assert on_demand.find_classifier(workdir / "checkpoints", "fashion") is not None
