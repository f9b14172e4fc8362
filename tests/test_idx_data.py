"""IDX parsing (good, truncated, foreign files) and where mnist/fashion look for data."""

import gzip
import shutil
import struct

import numpy as np
import pytest
import torch
from conftest import make_idx_dataset

from ganstudio.api import DataRequest
from ganstudio.builtin.datasets import idx_datasets
from ganstudio.builtin.datasets.idx_files import read_idx, write_idx
from ganstudio.errors import GanstudioError


def test_roundtrip_gz_and_raw(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.gz", "a"):
        write_idx(tmp_path / name, array)
        assert torch.equal(read_idx(tmp_path / name, expect_ndim=3), torch.from_numpy(array))
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_truncated_data_is_a_clear_error(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GanstudioError, match=r"truncated: header says \(10, 28, 28\)"):
        read_idx(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(GanstudioError, match="not a readable gzip file"):
        read_idx(path)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "bad magic number empty"),
        (b"PK\x03\x04 a zip file", "not an IDX file"),
        (struct.pack(">BBBBI", 0, 0, 0x0D, 1, 4) + b"\0" * 16, "data type 0x0d is not supported"),
        (struct.pack(">BBBB", 0, 0, 8, 3) + b"\0\0", "truncated IDX header"),
        (struct.pack(">BBBBI", 0, 0, 8, 1, 2) + b"\1\2\3", "1 unexpected bytes"),
    ],
)
def test_foreign_files_are_clear_errors(tmp_path, payload, message):
    path = tmp_path / "f"
    path.write_bytes(payload)
    with pytest.raises(GanstudioError, match=message):
        read_idx(path)


def test_wrong_dimensionality_is_named(tmp_path):
    write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(GanstudioError, match="has 1 dimensions, expected 3"):
        read_idx(tmp_path / "labels", expect_ndim=3)


def test_image_label_count_mismatch(tmp_path):
    root = make_idx_dataset(tmp_path / "d", n_train=20, n_test=10)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(GanstudioError, match="has 20 images but .* has 19 labels"):
        idx_datasets.FASHION.load(DataRequest(root=root))


def test_data_root_layouts(tmp_path):
    flat = make_idx_dataset(tmp_path / "flat", n_train=20, n_test=10)
    data = idx_datasets.FASHION.load(DataRequest(root=flat))
    assert data.images.shape == (20, 1, 28, 28) and data.labels.dtype == torch.int64
    assert data.classes[9] == "Ankle boot" and "(--data-root)" in data.source
    tv = tmp_path / "tv"
    shutil.copytree(flat, tv / "FashionMNIST" / "raw")
    for f in (tv / "FashionMNIST" / "raw").glob("t10k*"):  # torchvision also keeps uncompressed copies
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    test = idx_datasets.FASHION.load(DataRequest(root=tv, split="test"))
    assert len(test) == 10 and "FashionMNIST/raw" in test.source


def test_data_root_without_the_files_is_an_error(tmp_path):
    with pytest.raises(GanstudioError, match="does not hold Fashion-MNIST"):
        idx_datasets.FASHION.load(DataRequest(root=tmp_path))


def test_search_order_env_then_cache_then_system(tmp_path, monkeypatch):
    env_dir = make_idx_dataset(tmp_path / "env", n_train=11, n_test=10)
    cache = tmp_path / "cache"
    make_idx_dataset(cache / "fashion", n_train=12, n_test=10)
    system = make_idx_dataset(tmp_path / "system", n_train=13, n_test=10)
    monkeypatch.setattr(idx_datasets.FASHION, "system_dirs", (str(system),))
    monkeypatch.setenv("GANSTUDIO_CACHE", str(cache))
    monkeypatch.setenv("GANSTUDIO_DATA", str(env_dir))
    assert len(idx_datasets.FASHION.load(DataRequest())) == 11
    monkeypatch.delenv("GANSTUDIO_DATA")
    data = idx_datasets.FASHION.load(DataRequest())
    assert len(data) == 12 and "(cache)" in data.source
    shutil.rmtree(cache / "fashion")
    data = idx_datasets.FASHION.load(DataRequest())
    assert len(data) == 13 and "(system)" in data.source


def test_fallback_to_embedded_subset_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(idx_datasets.FASHION, "system_dirs", (str(tmp_path / "nowhere"),))
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANSTUDIO_DATA", raising=False)
    data = idx_datasets.FASHION.load(DataRequest())
    err = capsys.readouterr().err
    assert len(data) == 4000 and data.source == "embedded subset 'fashion-mini'"
    assert "warning: full Fashion-MNIST not found" in err and "fashion-mini" in err and "4000 train images" in err
    assert "--download" in err and str(tmp_path / "nowhere") in err


def test_download_is_only_attempted_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(idx_datasets.FASHION, "system_dirs", ())
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_dataset(root, train, download):
        calls.append((root, train, download))
        raise RuntimeError("network unreachable")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake_dataset)
    idx_datasets.FASHION.load(DataRequest(quiet=True))
    assert calls == []
    with pytest.raises(GanstudioError, match=r"could not download Fashion-MNIST \(network unreachable\)"):
        idx_datasets.FASHION.load(DataRequest(download=True))
    assert calls == [(str(tmp_path / "cache" / "fashion"), True, True)]


def test_embedded_subsets_are_balanced():
    for name in ("fashion-mini", "mnist-mini"):
        ds = idx_datasets.FASHION if name.startswith("fashion") else idx_datasets.MNIST
        train, test = ds.load_embedded("train"), ds.load_embedded("test")
        assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
        assert torch.bincount(train.labels).tolist() == [400] * 10


def test_corrupt_data_from_the_cli_is_one_line(cli, tiny_idx):
    (tiny_idx / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--steps", "1")
    assert code == 2 and err.count("\n") == 1 and "train-images-idx3-ubyte.gz: not an IDX file" in err
