"""``ganstudio show``: gallery dimensions, labels, splits, third-party datasets, bad input."""

import textwrap

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import make_idx_dataset
from image_trees import make_celeba_torchvision

from ganstudio.builtin.datasets import idx_datasets

NOISE_PLUGIN = """
import torch
from ganstudio import hookimpl
from ganstudio.api import DatasetPlugin, ImageData

def load(request):
    n = 10 if request.split == "train" else 4
    images = torch.full((n, 3, 16, 16), 0, dtype=torch.uint8)
    images[:, 0] = torch.arange(n, dtype=torch.uint8)[:, None, None] * 20  # red grows with the index
    return ImageData(images=images, labels=torch.arange(n) % 2, classes=["even", "odd"], source="noise plugin")

def load_unlabelled(request):
    return ImageData(images=torch.zeros((3, 1, 8, 8), dtype=torch.uint8))

@hookimpl
def register_datasets(register):
    register(DatasetPlugin("noise", load, "third-party test data"))
    register(DatasetPlugin("unlabelled", load_unlabelled, "no labels"))
"""


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for dataset in (idx_datasets.FASHION, idx_datasets.MNIST):
        monkeypatch.setattr(dataset, "system_dirs", (str(tmp_path / "no-system-data"),))


def test_classic_digit_gallery_dimensions(cli, offline, workdir):
    code, out, err = cli("show", "--data", "mnist", "--rows", "8", "--cols", "18")
    assert code == 0, err
    image = iio.imread(workdir / "samples/show/mnist-train-8x18.png")
    assert image.shape == (8 * 30 + 2, 18 * 30 + 2)  # 28-pixel digits, 2-pixel gaps, grayscale
    assert "8x18 gallery of mnist train, 542x242 pixels, from embedded subset 'mnist-mini'" in out
    assert "warning: full MNIST not found" in err
    first = image[2:30, 2:30]
    assert first.max() > 200 and first.mean() > 10  # a real digit, not an empty cell


def test_labels_split_and_out(cli, workdir, tmp_path):
    root = make_idx_dataset(tmp_path / "fashion", n_train=40, n_test=20)
    out_file = workdir / "galleries" / "fashion.png"
    code, out, err = cli(
        "show",
        "--data",
        "fashion",
        "--data-root",
        root,
        "--split",
        "test",
        "--rows",
        "2",
        "--cols",
        "3",
        "--labels",
        "--out",
        out_file,
    )
    assert code == 0, err
    image = iio.imread(out_file)
    assert image.shape[:2] == (230, 270) and image.shape[2] in (3, 4)  # matplotlib: 0.9 in per cell, 100 dpi
    assert "2x3 gallery of fashion test" in out and "(--data-root)" in out


def test_any_dataset_plugin_with_a_random_pick(cli, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "noise.py").write_text(textwrap.dedent(NOISE_PLUGIN))
    code, out, err = cli("show", "--data", "noise", "--rows", "2", "--cols", "2", "--seed", "3", "--out", "n.png")
    assert code == 0, err
    image = iio.imread(workdir / "n.png")
    assert image.shape == (2 * 18 + 2, 2 * 18 + 2, 3)
    reds = sorted(int(image[2 + r * 18, 2 + c * 18, 0]) for r in range(2) for c in range(2))
    assert len(set(reds)) == 4 and reds != [0, 20, 40, 60]  # four different images, not the first four
    code, out, err = cli("show", "--data", "noise", "--rows", "3", "--cols", "5", "--labels", "--out", "l.png")
    assert code == 0 and "(only 10 images in the split)" in out


def test_fewer_images_than_cells_keeps_the_grid(cli, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "noise.py").write_text(textwrap.dedent(NOISE_PLUGIN))
    code, out, err = cli("show", "--data", "noise", "--split", "test", "--rows", "2", "--cols", "3", "--out", "few.png")
    assert code == 0, err
    image = iio.imread(workdir / "few.png")
    assert image.shape == (2 * 18 + 2, 3 * 18 + 2, 3) and np.all(image[20:, 20 + 18 :] == 0)


def test_celeba_gallery(cli, workdir, tmp_path):
    root = make_celeba_torchvision(tmp_path / "tv", n_train=8, n_valid=0, n_test=2)
    code, out, err = cli(
        "show", "--data", "celeba", "--data-root", root, "--rows", "2", "--cols", "4", "--image-size", "32"
    )
    assert code == 0, err
    assert iio.imread(workdir / "samples/show/celeba-train-2x4.png").shape == (2 * 34 + 2, 4 * 34 + 2, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--data", "unlabelled", "--labels"),
            "dataset 'unlabelled' has no class labels to put under the images; drop --labels",
        ),
        (("--data", "noise", "--out", "gallery.jpg"), "the gallery is a PNG"),
        (("--data", "noise", "--rows", "0"), "expected a number greater than 0"),
        (("--data", "noise", "--split", "valid"), "invalid choice: 'valid'"),
        (
            (
                "--data",
                "nosie",
            ),
            "unknown dataset 'nosie'. Did you mean 'noise'?",
        ),
    ],
)
def test_bad_input_is_one_line(cli, workdir, args, message):
    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "noise.py").write_text(textwrap.dedent(NOISE_PLUGIN))
    code, out, err = cli("show", *args)
    assert code == 2 and err.count("\n") == 1 and message in err
