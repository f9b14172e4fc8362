"""``--data folder``: any folder tree of images (png, jpg, webp, bmp), decoded once into the prepared-image cache.

    ganstudio train --data folder --data-root ~/my-pictures --image-size 64 --channels 3
    ganstudio show --data folder --data-root ~/my-pictures --rows 4 --cols 8

Each image is centre-cropped to a square (its short side) and resized to ``--image-size`` (default 64).
Subfolders are searched too. A tree with ``train/`` and ``test/`` subfolders gives the two splits; otherwise
the whole tree is the training split. Unreadable files are skipped and counted.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganstudio import hookimpl
from ganstudio.api import DataRequest, DatasetPlugin, ImageData
from ganstudio.builtin.datasets.imagecache import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    ImageFileOptions,
    list_images,
    prepare_images,
)
from ganstudio.errors import GanstudioError

DEFAULT_IMAGE_SIZE = 64
DEFAULT_CHANNELS = 3


def split_folder(root: Path, split: str) -> Path:
    """``root/<split>`` when the tree is split that way; else the whole tree, which is only a training split."""
    if (root / split).is_dir():
        return root / split
    if split != "train":
        raise GanstudioError(
            f"{root} has no {split}/ subfolder, so it has no {split} split "
            f"(use --split train, or make train/ and {split}/ subfolders)"
        )
    return root


def describe_non_images(folder: Path) -> str:
    """Why a folder yielded no images: it is empty, or what it holds instead."""
    others = [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if not f.startswith(".")]
    if not others:
        return "it is empty"
    example = os.path.relpath(others[0], folder)
    return f"it holds {len(others):,} other file{'s' if len(others) != 1 else ''}, e.g. {example}"


def load_folder(request: DataRequest) -> ImageData:
    if request.root is None:
        raise GanstudioError("--data folder needs --data-root DIR, a folder of png/jpg/webp images")
    root = Path(request.root).expanduser()
    if not root.is_dir():
        raise GanstudioError(f"--data-root {root} is not a folder")
    folder = split_folder(root, request.split)
    files = list_images(folder)
    if not files:
        raise GanstudioError(
            f"no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}) under {folder}: {describe_non_images(folder)}"
        )
    size = request.image_size or DEFAULT_IMAGE_SIZE
    channels = request.channels or DEFAULT_CHANNELS
    images, _ = prepare_images(
        "folder",
        folder,
        files,
        size,
        channels,
        crop=None,
        quiet=request.quiet,
        max_pixels=request.options.max_pixels if request.options else MAX_PIXELS,
    )
    return ImageData(images=images, source=f"images from {folder.resolve()} ({channels}x{size}x{size})")


@hookimpl
def register_datasets(register):
    register(
        DatasetPlugin(
            "folder",
            load_folder,
            "any folder tree of png/jpg/webp images (--data-root DIR, --image-size, --channels 1|3)",
            options=ImageFileOptions,
        )
    )
