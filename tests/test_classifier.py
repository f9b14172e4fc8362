"""Classifier plugins: on-device augmentation, the schedule, and training smoke runs on tiny data."""

import pytest
import torch
from conftest import make_idx_dataset

from ganstudio.api import ModelConfig
from ganstudio.api.images import random_flip, random_shift
from ganstudio.builtin.models.classifier.nets import CNNClassifier, MLPClassifier
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint


def one_bright_pixel(n, row=14, col=14):
    images = torch.full((n, 1, 28, 28), -1.0)
    images[:, 0, row, col] = 1.0
    return images


def test_random_shift_moves_each_image_within_the_limit():
    torch.manual_seed(0)
    out = random_shift(one_bright_pixel(200), 2)
    assert out.shape == (200, 1, 28, 28)
    positions = (out[:, 0] == 1.0).nonzero()
    assert len(positions) == 200, "each image keeps exactly its one bright pixel"
    rows, cols = positions[:, 1], positions[:, 2]
    assert rows.min() >= 12 and rows.max() <= 16 and cols.min() >= 12 and cols.max() <= 16
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25, "all 5x5 offsets occur"
    assert (out[:, 0] == -1.0).sum() == 200 * (28 * 28 - 1), "the border is filled with the background"


def test_random_shift_zero_and_multichannel():
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.equal(random_shift(images, 0), images)
    out = random_shift(images, 3)
    assert out.shape == images.shape
    # the channels of one image move together
    for i in range(4):
        hits = [(out[i, ch] == images[i, ch, 16, 16]).nonzero().tolist() for ch in range(3)]
        assert any(a in hits[1] and a in hits[2] for a in hits[0])


def test_random_flip_flips_about_half():
    torch.manual_seed(0)
    out = random_flip(one_bright_pixel(400, col=3))
    flipped = (out[:, 0, 14, 24] == 1.0).sum().item()
    assert 150 < flipped < 250
    assert flipped + (out[:, 0, 14, 3] == 1.0).sum().item() == 400


def test_learning_rate_follows_the_run():
    model = CNNClassifier(ModelConfig((1, 28, 28), 10, {}))
    assert model.learning_rate(1.0, None) == 1.0  # an open-ended run: constant
    for fraction, expected in ((0.0, 1.0), (0.5, 0.505), (1.0, 0.01)):
        assert model.learning_rate(1.0, fraction) == pytest.approx(expected)


def test_mlp_is_the_classic_network():
    model = MLPClassifier(ModelConfig((1, 28, 28), 10, {}))
    assert [tuple(p.shape) for p in model.parameters()] == [(512, 784), (512,), (10, 512), (10,)]
    assert isinstance(model.configure_optimizers()["classifier"], torch.optim.RMSprop)
    assert model.features(torch.zeros(3, 1, 28, 28)).shape == (3, 512)


def test_classifier_needs_labels_and_known_options():
    with pytest.raises(GanstudioError, match="labelled"):
        CNNClassifier(ModelConfig((1, 28, 28), 0, {}))
    with pytest.raises(GanstudioError, match="no option widht"):
        CNNClassifier(ModelConfig((1, 28, 28), 10, {"widht": 8}))


@pytest.mark.parametrize("model", ["classifier", "mlp"])
def test_training_smoke_prints_and_stores_test_accuracy(cli, workdir, model):
    data = make_idx_dataset(workdir / "tiny", n_train=512, n_test=200)
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        data,
        "--model",
        model,
        "--model-option",
        "width=8" if model == "classifier" else "hidden=64",
        "--batch-size",
        "64",
        "--epochs",
        "3",
        "--log-every",
        "4",
    )
    assert code == 0, err
    ckpt = load_checkpoint(workdir / f"checkpoints/fashion-{model}/last.pt")
    results = ckpt["results"]
    assert results["test_images"] == 200
    assert f"test accuracy {results['test_accuracy'] * 100:.2f}% on 200 images" in out
    # the bars of the tiny data sit at class-dependent rows: far above chance (10%) after 24 steps
    assert results["test_accuracy"] > 0.5
    assert ckpt["model"]["kind"] == "classifier"
    assert {"loss", "accuracy"} <= set(ckpt["metrics"])
