"""``--data folder``: any tree of png/jpg/webp images, sizes and channels, splits, empty and foreign folders."""

import pytest
import torch
from image_trees import make_image_folder

from ganstudio.api import DataRequest
from ganstudio.builtin.datasets.folder import load_folder
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "8", "--log-every", "2")


def test_mixed_tree_with_sizes_and_channels(workdir, tmp_path):
    root = make_image_folder(tmp_path / "pics", count=20)
    data = load_folder(DataRequest(root=root, quiet=True))
    assert data.images.shape == (20, 3, 64, 64) and data.labels is None  # defaults: 64x64 RGB
    gray = load_folder(DataRequest(root=root, image_size=28, channels=1, quiet=True))
    assert gray.images.shape == (20, 1, 28, 28) and gray.images.dtype == torch.uint8
    assert "1x28x28" in gray.source and str(root) in gray.source


def test_train_and_test_subfolders_are_splits(workdir, tmp_path):
    make_image_folder(tmp_path / "split" / "train", count=10)
    make_image_folder(tmp_path / "split" / "test", count=5, seed=9)
    assert len(load_folder(DataRequest(root=tmp_path / "split", quiet=True))) == 10
    assert len(load_folder(DataRequest(root=tmp_path / "split", split="test", quiet=True))) == 5
    flat = make_image_folder(tmp_path / "flat", count=5)
    with pytest.raises(GanstudioError, match="has no test/ subfolder, so it has no test split"):
        load_folder(DataRequest(root=flat, split="test"))


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, r"no images \(png/jpg/jpeg/webp/bmp\) under .*: it is empty"),
        (
            lambda root: [(root / f"notes{i}.txt").write_text("x") for i in range(3)],
            r"it holds 3 other files, e.g. notes",
        ),
    ],
)
def test_empty_or_foreign_folder_is_a_clear_error(workdir, tmp_path, setup, message):
    root = tmp_path / "nothing"
    root.mkdir()
    setup(root)
    with pytest.raises(GanstudioError, match=message):
        load_folder(DataRequest(root=root))


def test_missing_or_wrong_data_root(workdir, tmp_path):
    with pytest.raises(GanstudioError, match="--data folder needs --data-root DIR"):
        load_folder(DataRequest())
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(GanstudioError, match="is not a folder"):
        load_folder(DataRequest(root=tmp_path / "file.png"))


def test_folder_run_from_the_cli(cli, tmp_path, workdir):
    root = make_image_folder(tmp_path / "pics", count=24)
    code, out, err = cli(
        "train", "--data", "folder", "--data-root", root, "--image-size", "32", "--channels", "1", "--steps", "3", *TINY
    )
    assert code == 0, err
    assert "24 images (1, 32, 32)" in out and "prepared 24 images 1x32x32" in err
    ckpt = load_checkpoint(workdir / "checkpoints" / "folder-dcgan" / "last.pt")
    assert ckpt["progress"]["step"] == 3 and ckpt["data"]["image_shape"] == (1, 32, 32)


def test_empty_folder_from_the_cli_is_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = cli("train", "--data", "folder", "--data-root", tmp_path / "empty", "--steps", "1")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: no images") and "Traceback" not in err
