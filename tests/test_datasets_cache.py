"""The prepared-image cache: created once, reused without decoding, invalidated by a changed folder."""

import json
import os

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch
from image_trees import make_image_folder, write_faces

from ganstudio.builtin.datasets import imagecache
from ganstudio.builtin.datasets.imagecache import decode, list_images, prepare_images
from ganstudio.errors import GanstudioError


@pytest.fixture
def opened(monkeypatch):
    """Every path PIL.Image.open is asked to read, in order."""
    paths = []
    real_open = PIL.Image.open

    def counting_open(fp, *args, **kwargs):
        paths.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    return paths


def test_centre_crop_cuts_the_bands_and_resizes(tmp_path):
    write_faces(tmp_path, 1)
    image = decode(tmp_path / "000001.jpg", 64, 3, crop=178)
    assert image.shape == (3, 64, 64) and image.dtype == np.uint8
    red = (image[0].astype(int) > 200) & (image[1].astype(int) < 60)
    assert red.sum() == 0  # the 20-row red bands at top and bottom lie outside the 178x178 centre
    gray = decode(tmp_path / "000001.jpg", 32, 1, crop=None)
    assert gray.shape == (1, 32, 32)


def test_cache_is_created_then_reused_without_decoding(workdir, opened, capsys):
    root = make_image_folder(workdir / "pics", count=12)
    files = list_images(root)
    assert len(files) == 12 and all(not f.is_absolute() for f in files)
    images, kept = prepare_images("folder", root, files, 32, 3)
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8 and kept == files
    assert len(opened) == 12 and "prepared 12 images 3x32x32" in capsys.readouterr().err
    cache = list((workdir / "cache" / "prepared").iterdir())
    assert len(cache) == 1 and (cache[0] / "images.npy").is_file()

    again, _ = prepare_images("folder", root, list_images(root), 32, 3)
    assert len(opened) == 12, "a second load must not decode any image"
    assert "using prepared images" in capsys.readouterr().err
    assert torch.equal(again, images)
    assert isinstance(np.load(cache[0] / "images.npy", mmap_mode="r"), np.memmap)


def test_changed_folder_invalidates_and_removes_the_stale_cache(workdir, opened):
    root = make_image_folder(workdir / "pics", count=10)
    prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    first = set((workdir / "cache" / "prepared").iterdir())
    # touching one file (new mtime) is a change
    target = root / list_images(root)[0]
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    second = set((workdir / "cache" / "prepared").iterdir())
    assert len(opened) == 20 and len(second) == 1 and second != first
    # so is a new file
    PIL.Image.new("RGB", (30, 30), "white").save(root / "new.png")
    images, _ = prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    assert len(images) == 11 and len(list((workdir / "cache" / "prepared").iterdir())) == 1


def test_other_settings_keep_their_own_cache(workdir):
    root = make_image_folder(workdir / "pics", count=6)
    small, _ = prepare_images("folder", root, list_images(root), 16, 1, quiet=True)
    big, _ = prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    assert small.shape == (6, 1, 16, 16) and big.shape == (6, 3, 32, 32)
    assert len(list((workdir / "cache" / "prepared").iterdir())) == 2


def test_unreadable_files_are_skipped_counted_and_remembered(workdir, capsys):
    root = make_image_folder(workdir / "pics", count=6)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    good = next(root.rglob("*.jpg"))
    (root / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    images, kept = prepare_images("folder", root, list_images(root), 32, 3)
    err = capsys.readouterr().err
    assert len(images) == 6 and "broken.jpg" not in map(str, kept)
    assert "skipped 2 unreadable files (broken.jpg, truncated.jpg)" in err
    prepare_images("folder", root, list_images(root), 32, 3)
    assert "skipped 2 unreadable files" in capsys.readouterr().err  # said again when the cache is reused
    index = json.loads(next((workdir / "cache" / "prepared").glob("*/index.json")).read_text())
    assert index["unreadable"] == ["broken.jpg", "truncated.jpg"]


def test_all_unreadable_is_an_error_and_leaves_no_cache(workdir):
    root = workdir / "bad"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.png").write_text("text, not a picture")
    with pytest.raises(GanstudioError, match="none of the 3 image files under .* could be read"):
        prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    assert not any((workdir / "cache" / "prepared").iterdir())


def test_unwritable_cache_is_a_clear_error(workdir, monkeypatch):
    root = make_image_folder(workdir / "pics", count=3)
    blocker = workdir / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(blocker))
    with pytest.raises(GanstudioError, match="cannot write the image cache .*GANSTUDIO_CACHE"):
        prepare_images("folder", root, list_images(root), 32, 3, quiet=True)


def test_listing_skips_hidden_and_non_images_and_survives_symlink_loops(tmp_path):
    make_image_folder(tmp_path, count=5)
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "dogs" / "loop").symlink_to(tmp_path)
    files = list_images(tmp_path)
    assert len(files) == len(set(files)) and all(f.suffix.lower() in imagecache.IMAGE_EXTENSIONS for f in files)
    assert len(files) == 5  # the loop leads back to a folder already walked


def test_exif_orientation_and_16_bit_pngs(tmp_path):
    rng = np.random.default_rng(0)
    sideways = PIL.Image.fromarray(rng.integers(0, 255, (60, 40, 3), dtype=np.uint8))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    sideways.save(tmp_path / "tagged.png", exif=exif)
    PIL.ImageOps.exif_transpose(PIL.Image.open(tmp_path / "tagged.png")).save(tmp_path / "upright.png")
    assert np.array_equal(decode(tmp_path / "tagged.png", 32, 3, None), decode(tmp_path / "upright.png", 32, 3, None))
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    PIL.Image.fromarray(ramp).save(tmp_path / "deep.png")
    gray = decode(tmp_path / "deep.png", 64, 1, None)[0]
    assert gray[:, 0].max() < 5 and gray[:, -1].min() > 250 and 100 < gray.mean() < 155  # scaled, not clipped at 255


def test_too_little_disk_space_is_said_before_decoding(workdir, monkeypatch, opened):
    import shutil
    from collections import namedtuple

    root = make_image_folder(workdir / "pics", count=4)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(
        GanstudioError, match=r"needs 0.00 GB in .*prepared, which has 0.00 GB free \(set \$GANSTUDIO_CACHE"
    ):
        prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    assert opened == [] and not any((workdir / "cache" / "prepared").iterdir())


def test_half_written_cache_of_a_killed_process_is_removed(workdir):
    root = make_image_folder(workdir / "pics", count=3)
    prepared = workdir / "cache" / "prepared"
    abandoned = prepared / "folder-aaaa-bbbb.partial-999999999"  # no such process
    abandoned.mkdir(parents=True)
    (abandoned / "images.npy").write_bytes(b"half")
    prepare_images("folder", root, list_images(root), 32, 3, quiet=True)
    assert not abandoned.exists() and len(list(prepared.iterdir())) == 1
