"""The subsets shipped in the package: used, with a warning, when the full data is nowhere; named explicitly
otherwise."""

from pathlib import Path

import pytest

from ganstudio.api import DataRequest
from ganstudio.builtin.datasets import idx_datasets
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "64", "--log-every", "2")
PACKAGE_DATA = Path(idx_datasets.__file__).resolve().parent / "files"


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """A machine without any dataset: the system folders are empty, the cache is empty, no $GANSTUDIO_DATA."""
    for dataset in (idx_datasets.FASHION, idx_datasets.MNIST):
        monkeypatch.setattr(dataset, "system_dirs", (str(tmp_path / "no-system-data"),))


@pytest.mark.parametrize("data, subset", [("fashion", "fashion-mini"), ("mnist", "mnist-mini")])
def test_training_without_any_dataset_uses_the_subset_and_says_so(cli, no_system_data, workdir, data, subset):
    code, out, err = cli("train", "--data", data, "--steps", "2", *TINY)
    assert code == 0, err
    warning = next(line for line in err.splitlines() if line.startswith("warning:"))
    assert f"using the embedded subset '{subset}' (4000 train images)" in warning
    assert "--data-root DIR" in warning and "--download" in warning and "no-system-data" in warning
    assert f"data: embedded subset '{subset}' — 4,000 images (1, 28, 28)" in out
    ckpt = load_checkpoint(workdir / "checkpoints" / f"{data}-dcgan" / "last.pt")
    assert ckpt["data"]["source"] == f"embedded subset '{subset}'" and ckpt["data"]["size"] == 4000


def test_download_flag_means_no_silent_fallback(no_system_data, workdir, monkeypatch):
    import torchvision.datasets

    def offline(root, train, download):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(GanstudioError, match=r"could not download MNIST \(no network\)"):
        idx_datasets.MNIST.load(DataRequest(download=True))


def test_named_subsets_load_without_a_warning(capsys):
    for name, dataset in (("fashion-mini", idx_datasets.FASHION), ("mnist-mini", idx_datasets.MNIST)):
        test = dataset.load_mini(DataRequest(split="test"))
        assert len(test) == 1000 and test.source == f"embedded subset '{name}'" and len(test.classes) == 10
    assert capsys.readouterr().err == ""
    with pytest.raises(GanstudioError, match="images are 28x28; --image-size 64"):
        idx_datasets.FASHION.load_mini(DataRequest(image_size=64))


def test_package_data_is_small_and_carries_its_notices():
    files = [f for f in PACKAGE_DATA.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 5_000_000
    for subset, licence in (
        ("fashion-mini", "MIT License"),
        ("mnist-mini", "Creative Commons Attribution-Share Alike 3.0"),
    ):
        readme = (PACKAGE_DATA / subset / "README.md").read_text()
        assert licence in readme and "4,000" in readme
        assert {f.name for f in (PACKAGE_DATA / subset).iterdir()} >= {
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        }
