"""Image folders read only regular files, and refuse decompression bombs and out-of-memory in one line, without
caching them as "unreadable"."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganstudio.builtin.datasets import imagecache
from ganstudio.builtin.datasets.imagecache import list_images


def picture(path, side=64):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def folder(workdir):
    root = workdir / "pictures"
    root.mkdir()
    for i in range(4):
        picture(root / f"{i}.png")
    return root


def test_a_fifo_named_like_an_image_is_not_read(workdir, folder):
    os.mkfifo(folder / "pipe.png")
    assert "pipe.png" not in {p.name for p in list_images(folder)}
    # End to end in a child process, so that a regression hangs the child, not the suite.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganstudio",
            "show",
            "--data",
            "folder",
            "--data-root",
            str(folder),
            "--image-size",
            "16",
            "--rows",
            "1",
            "--cols",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_an_image_over_the_pixel_limit_is_refused_in_one_line(cli, folder):
    picture(folder / "huge.png", side=300)  # 90,000 pixels
    code, out, err = cli(
        "show", "--data", "folder", "--data-root", folder, "--image-size", "16", "--data-option", "max_pixels=50000"
    )
    assert code == 2 and err.splitlines()[-1].startswith("error: ") and "Traceback" not in err
    assert "huge.png: 300x300 is 90,000 pixels, over the limit of 50,000" in err and "--data-option max_pixels=N" in err
    code, out, err = cli(
        "show", "--data", "folder", "--data-root", folder, "--image-size", "16", "--data-option", "max_pixels=100000"
    )
    assert code == 0, err


def test_the_default_limit_refuses_a_13000_pixel_square_png_before_decoding_it(cli, folder):
    # 13000 x 13000 of one colour compresses to a small file but would decode to 169 MP (507 MB as RGB).
    Image.new("L", (13000, 13000)).save(folder / "bomb.png", optimize=True)
    assert (folder / "bomb.png").stat().st_size < 1_000_000
    code, out, err = cli("show", "--data", "folder", "--data-root", folder, "--image-size", "16")
    assert code == 2 and "bomb.png: 13000x13000 is 169,000,000 pixels, over the limit of 40,000,000" in err


def test_out_of_memory_while_decoding_is_an_error_not_an_unreadable_file(cli, folder, monkeypatch):
    real = imagecache.decode

    def short_of_memory(path, *args):
        if path.name == "2.png":
            raise MemoryError
        return real(path, *args)

    monkeypatch.setattr(imagecache, "decode", short_of_memory)
    code, out, err = cli("show", "--data", "folder", "--data-root", folder, "--image-size", "16")
    assert code == 2 and "2.png: out of memory while decoding it" in err
    monkeypatch.setattr(imagecache, "decode", real)
    code, out, err = cli(
        "show", "--data", "folder", "--data-root", folder, "--image-size", "16", "--rows", "1", "--cols", "4"
    )
    assert code == 0 and "skipped" not in err, "nothing was cached as unreadable"
