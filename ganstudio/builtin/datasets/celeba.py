"""``--data celeba``: CelebA aligned faces, centre-cropped to 178x178 and resized (default 64x64, RGB).

    ganstudio train --data celeba --data-root ~/data --model dcgan     # ~/data/celeba/img_align_celeba/*.jpg
    ganstudio show --data celeba --data-root ~/faces --rows 4 --cols 8  # a bare folder of aligned JPEGs

Layouts accepted under ``--data-root DIR`` (else $GANSTUDIO_DATA, else the cache, where --download puts it):
torchvision's ``DIR/celeba/img_align_celeba/`` with ``DIR/celeba/list_eval_partition.txt`` and
``list_attr_celeba.txt``; ``DIR/img_align_celeba/`` (also doubly nested, as some zips unpack); or DIR itself
holding the JPEGs, with or without the annotation files. With ``list_eval_partition.txt`` the splits are the
official ones (train 162,770; test 19,962); without it every image is training data and there is no test split.
With ``list_attr_celeba.txt`` the 40 binary attributes come as ``ImageData.attributes``.

The JPEGs are decoded once into the prepared-image cache (see imagecache.py); later runs and epochs read none.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ganstudio import hookimpl
from ganstudio.api import DataRequest, DatasetPlugin, ImageData
from ganstudio.builtin.datasets import cache_root, download_failure, remove_empty_folders
from ganstudio.builtin.datasets.imagecache import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    ImageFileOptions,
    list_images,
    prepare_images,
)
from ganstudio.errors import GanstudioError

if TYPE_CHECKING:  # annotations only: torch is imported where it is used, so `--help` needs none
    import torch

CROP = 178  # the aligned faces are 178x218; the square centre holds the face
DEFAULT_IMAGE_SIZE = 64
PARTITION_FILE = "list_eval_partition.txt"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
SPLIT_CODES = {"train": "0", "valid": "1", "test": "2"}
PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


@dataclass
class Layout:
    images: Path  # the folder holding the JPEGs
    annotations: Optional[Path]  # the folder holding list_*.txt, or None (a bare folder)


def holds_images(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(IMAGE_EXTENSIONS) and not e.name.startswith(".") for e in entries)
    except OSError:
        return False


def find_layout(base: Path) -> Optional[Layout]:
    """The first CelebA layout found under ``base``, or None."""
    for images in (
        base / "celeba" / "img_align_celeba",
        base / "img_align_celeba" / "img_align_celeba",
        base / "img_align_celeba",
        base,
    ):
        if images.is_dir() and holds_images(images):
            annotations = next(
                (
                    d
                    for d in (images.parent, images, images.parent.parent)
                    if (d / PARTITION_FILE).is_file() or (d / ATTRIBUTE_FILE).is_file()
                ),
                None,
            )
            return Layout(images, annotations)
    return None


def split_files(layout: Layout, split: str, quiet: bool) -> list[Path]:
    present = list_images(layout.images, recursive=False)
    partition = layout.annotations / PARTITION_FILE if layout.annotations else None
    if partition is None or not partition.is_file():
        if split != "train":
            raise GanstudioError(
                f"CelebA at {layout.images} has no {PARTITION_FILE}, so no {split} split (use --split train)"
            )
        return present
    code = SPLIT_CODES[split]
    wanted = []
    for number, line in enumerate(partition.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise GanstudioError(f"{partition}:{number}: expected '<file> <0|1|2>', got '{line.strip()[:60]}'")
        if parts[1] == code:
            wanted.append(parts[0])
    on_disk = {str(p) for p in present}
    files = [Path(name) for name in wanted if name in on_disk]
    missing = len(wanted) - len(files)
    if missing and not quiet:
        print(
            f"warning: {missing:,} of the {len(wanted):,} {split} images listed in {partition} "
            f"are not in {layout.images}",
            file=sys.stderr,
        )
    if not files:
        raise GanstudioError(f"none of the {split} images listed in {partition} are in {layout.images}")
    return files


def read_attributes(path: Path, files: list[Path]) -> tuple[Optional[torch.Tensor], Optional[list[str]]]:
    """(uint8 0/1 (N, 40), names) for ``files`` from list_attr_celeba.txt; (None, None) if a file is not listed."""
    import numpy as np
    import torch

    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise GanstudioError(f"{path}: expected a count line and a line of attribute names")
    names = lines[1].split()
    rows = {}
    for number, line in enumerate(lines[2:], 3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise GanstudioError(f"{path}:{number}: expected a file name and {len(names)} values of 1/-1")
        rows[parts[0]] = parts[1:]
    if any(str(f) not in rows for f in files):
        return None, None
    values = np.array([rows[str(f)] for f in files], dtype=np.int8)
    return torch.from_numpy((values > 0).astype(np.uint8)), names


def load_celeba(request: DataRequest) -> ImageData:
    layout, label = locate(request)
    files = split_files(layout, request.split, request.quiet)
    size = request.image_size or DEFAULT_IMAGE_SIZE
    channels = request.channels or 3
    images, kept = prepare_images(
        f"celeba-{request.split}",
        layout.images,
        files,
        size,
        channels,
        crop=CROP,
        quiet=request.quiet,
        max_pixels=request.options.max_pixels if request.options else MAX_PIXELS,
    )
    attributes, names = None, None
    if layout.annotations and (layout.annotations / ATTRIBUTE_FILE).is_file():
        attributes, names = read_attributes(layout.annotations / ATTRIBUTE_FILE, kept)
        if attributes is None and not request.quiet:
            print(
                f"warning: {layout.annotations / ATTRIBUTE_FILE} does not list every image; attributes left out",
                file=sys.stderr,
            )
    return ImageData(
        images=images,
        source=f"CelebA from {layout.images.resolve()} ({label})",
        attributes=attributes,
        attribute_names=names,
    )


def locate(request: DataRequest) -> tuple[Layout, str]:
    if request.root is not None:
        root = Path(request.root).expanduser()
        layout = find_layout(root) if root.is_dir() else None
        if layout is None:
            raise GanstudioError(f"--data-root {root} holds no CelebA images; {expected_layout(root)}")
        return layout, "--data-root"
    places = ([("$GANSTUDIO_DATA", Path(os.environ["GANSTUDIO_DATA"]))] if os.environ.get("GANSTUDIO_DATA") else []) + [
        ("cache", cache_root())
    ]
    for label, base in places:
        layout = find_layout(base) if base.is_dir() else None
        if layout is not None:
            return layout, label
    if request.download:
        return download(), "downloaded"
    looked = ", ".join(str(base) for _, base in places)
    raise GanstudioError(
        f"CelebA not found (looked in {looked}); pass --data-root DIR or --download. {expected_layout(Path('DIR'))}"
    )


def expected_layout(root: Path) -> str:
    return (
        f"expected {root}/celeba/img_align_celeba/000001.jpg with {PARTITION_FILE} and {ATTRIBUTE_FILE} "
        f"in {root}/celeba/ "
        f"(torchvision's layout), or {root}/img_align_celeba/*.jpg, or the aligned JPEGs directly in {root}"
    )


def download() -> Layout:
    import torchvision.datasets as tvd

    target = cache_root()
    existed = (target / "celeba").exists()
    print(f"downloading CelebA (1.4 GB) into {target}/celeba through torchvision ...", file=sys.stderr)
    try:
        tvd.CelebA(root=str(target), split="all", download=True)
    except Exception as e:  # gdown missing, Google Drive quota, network: the user's way out is the same
        if not existed:
            remove_empty_folders(target / "celeba", keep=target)
        reason = download_failure(e)
        raise GanstudioError(
            f"could not download CelebA through torchvision ({reason}); Google Drive often refuses with a quota error. "
            f"Download it by hand from {PAGE} (Align&Cropped Images: img_align_celeba.zip, and Anno/{ATTRIBUTE_FILE}, "
            f"Eval/{PARTITION_FILE}), unzip so that {target}/celeba/img_align_celeba/000001.jpg exists, "
            f"put the two .txt files in {target}/celeba/, and rerun without --download "
            "(or pass --data-root DIR; a bare folder of the aligned JPEGs works too)"
        ) from None
    layout = find_layout(target)
    if layout is None:
        raise GanstudioError(f"the download finished but {expected_layout(target)}")
    return layout


@hookimpl
def register_datasets(register):
    register(
        DatasetPlugin(
            "celeba",
            load_celeba,
            "CelebA aligned faces, RGB 64x64 (--image-size), 40 attributes; --data-root DIR or --download",
            options=ImageFileOptions,
        )
    )
