"""CelebA in both layouts, its splits and attributes, the download failure message, and training on it."""

import re

import PIL.Image
import pytest
import torch
from image_trees import ATTRIBUTES, make_celeba_bare, make_celeba_torchvision

from ganstudio.api import DataRequest
from ganstudio.builtin.datasets import celeba
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "8", "--log-every", "2")


@pytest.fixture
def tv_tree(tmp_path):
    return make_celeba_torchvision(tmp_path / "tv")


@pytest.fixture
def jpeg_opens(monkeypatch):
    """Paths of every JPEG that PIL.Image.open reads, also visible to plugins as PIL.Image.open.jpegs."""
    paths = []
    real_open = PIL.Image.open

    def counting_open(fp, *args, **kwargs):
        if str(fp).lower().endswith(".jpg"):
            paths.append(str(fp))
        return real_open(fp, *args, **kwargs)

    counting_open.jpegs = paths
    monkeypatch.setattr(PIL.Image, "open", counting_open)
    return paths


def test_torchvision_layout_splits_and_attributes(workdir, tv_tree):
    train = celeba.load_celeba(DataRequest(root=tv_tree, quiet=True))
    assert train.images.shape == (24, 3, 64, 64) and train.images.dtype == torch.uint8
    assert train.labels is None and train.attribute_names == ATTRIBUTES
    assert train.attributes.shape == (24, 3) and train.attributes[5].tolist() == [1, 0, 1]  # 5 = 0b101
    assert "celeba/img_align_celeba" in train.source and "(--data-root)" in train.source
    test = celeba.load_celeba(DataRequest(root=tv_tree, split="test", image_size=32, quiet=True))
    assert test.images.shape == (6, 3, 32, 32) and test.attributes[0].tolist() == [0, 1, 0]  # image 26 = 0b11010
    # pointing at the celeba/ folder or the image folder itself finds the same data
    for root in (tv_tree / "celeba", tv_tree / "celeba" / "img_align_celeba"):
        assert len(celeba.load_celeba(DataRequest(root=root, quiet=True))) == 24


def test_bare_folder_of_jpegs(workdir, tmp_path):
    bare = make_celeba_bare(tmp_path / "faces", count=20)
    data = celeba.load_celeba(DataRequest(root=bare, quiet=True))
    assert data.images.shape == (20, 3, 64, 64) and data.attributes is None
    red = (data.images[:, 0].int() > 200) & (data.images[:, 1].int() < 60)
    assert red.sum() == 0  # centre crop removed the bands
    with pytest.raises(GanstudioError, match="has no list_eval_partition.txt, so no test split"):
        celeba.load_celeba(DataRequest(root=bare, split="test", quiet=True))
    nested = tmp_path / "kaggle"
    make_celeba_bare(nested / "img_align_celeba" / "img_align_celeba", count=3)
    assert len(celeba.load_celeba(DataRequest(root=nested, quiet=True))) == 3


def test_not_found_names_places_and_layout(workdir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        GanstudioError,
        match=r"--data-root .*empty holds no CelebA images; expected .*celeba/img_align_celeba/000001.jpg",
    ):
        celeba.load_celeba(DataRequest(root=empty))
    with pytest.raises(
        GanstudioError, match=r"CelebA not found \(looked in .*cache\); pass --data-root DIR or --download"
    ):
        celeba.load_celeba(DataRequest())


def test_found_in_the_data_folder_without_data_root(workdir, tv_tree, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_DATA", str(tv_tree))
    assert "($GANSTUDIO_DATA)" in celeba.load_celeba(DataRequest(quiet=True)).source


def test_download_failure_is_one_message_with_manual_steps(workdir, monkeypatch):
    import torchvision.datasets

    calls = []

    def quota_exceeded(root, split, download):
        calls.append((root, split, download))
        raise RuntimeError(
            "The daily quota of the file img_align_celeba.zip is exceeded and it can't be downloaded.\nmore"
        )

    monkeypatch.setattr(torchvision.datasets, "CelebA", quota_exceeded)
    with pytest.raises(GanstudioError) as info:
        celeba.load_celeba(DataRequest(download=True))
    message = str(info.value)
    assert calls == [(str(workdir / "cache"), "all", True)]
    assert "\n" not in message and "daily quota" in message and "mmlab.ie.cuhk.edu.hk" in message
    assert f"{workdir / 'cache'}/celeba/img_align_celeba/000001.jpg" in message and "list_eval_partition.txt" in message


def test_bad_annotation_files_are_named(workdir, tv_tree):
    (tv_tree / "celeba" / "list_eval_partition.txt").write_text("000001.jpg\n")
    with pytest.raises(GanstudioError, match=r"list_eval_partition.txt:1: expected '<file> <0\|1\|2>'"):
        celeba.load_celeba(DataRequest(root=tv_tree, quiet=True))


def test_train_on_celeba_and_no_jpeg_after_preparing(cli, tv_tree, jpeg_opens, workdir):
    """Epoch 1 prepares the cache (24 JPEG opens); epoch 2, and a second run, open none."""
    plugins = workdir / "plugins"
    plugins.mkdir()
    (plugins / "jpeg_probe.py").write_text(
        "import PIL.Image\nfrom ganstudio import hookimpl\n\n"
        "@hookimpl\ndef after_epoch_run(run, epoch, step):\n"
        "    print(f'probe: epoch {epoch} jpeg opens {len(PIL.Image.open.jpegs)}')\n"
    )
    small = ("--image-size", "32", *TINY, "--batch-size", "12")  # 2 steps an epoch at 32x32; 64x64 is trained below
    code, out, err = cli("train", "--data", "celeba", "--data-root", tv_tree, "--epochs", "2", *small)
    assert code == 0, err
    assert re.findall(r"probe: epoch (\d) jpeg opens (\d+)", out) == [("1", "24"), ("2", "24")]
    assert "prepared 24 images 3x32x32" in err
    ckpt = load_checkpoint(workdir / "checkpoints" / "celeba-dcgan" / "last.pt")
    assert ckpt["data"]["image_shape"] == (3, 32, 32) and "CelebA from" in ckpt["data"]["source"]

    code, out, err = cli("train", "--data", "celeba", "--data-root", tv_tree, "--steps", "1", "--name", "again", *small)
    assert code == 0 and len(jpeg_opens) == 24 and "using prepared images" in err


def test_corrupt_jpeg_is_skipped_and_dcgan_trains_at_64(cli, tv_tree, workdir):
    (tv_tree / "celeba" / "img_align_celeba" / "000003.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    code, out, err = cli("train", "--data", "celeba", "--data-root", tv_tree, "--steps", "2", *TINY)
    assert code == 0, err
    assert (
        "prepared 23 images" in err
        and "skipped 1 unreadable file (000003.jpg)" in err
        and "23 images (3, 64, 64)" in out
    )
    assert load_checkpoint(workdir / "checkpoints" / "celeba-dcgan" / "last.pt")["model"]["config"]["image_shape"] == (
        3,
        64,
        64,
    )
