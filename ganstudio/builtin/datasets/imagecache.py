"""Decode a folder of image files once into a memory-mapped uint8 ``.npy``; later runs only map it.

    from ganstudio.builtin.datasets.imagecache import list_images, prepare_images
    root = Path("~/faces").expanduser()
    images, kept = prepare_images("folder", root, list_images(root), image_size=64, channels=3)
    # images: uint8 torch tensor (N, 3, 64, 64) backed by ~/.cache/ganstudio/prepared/folder-.../images.npy

Decoding JPEGs is the bottleneck of training on photos (CelebA: 200k files), so it happens once, with a
progress bar. The cache is keyed by the source folder, the image size, the channels and the crop (its
*settings*), and by every file's name, size and modification time (its *content*): adding, removing or
touching a file prepares a new cache and deletes the stale one with the same settings. Files that cannot
be decoded are skipped, counted, and named in the cache's index so later runs report them too.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ganstudio.api import option
from ganstudio.builtin.datasets import cache_root
from ganstudio.builtin.datasets.cache_index import read_cache
from ganstudio.builtin.datasets.decode import (
    MAX_PIXELS,
    RefusedImage,
    decode,  # looked up here at each call (tests patch it)
)
from ganstudio.errors import GanstudioError

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class ImageFileOptions:
    """--data-option settings shared by the datasets that decode image files (folder, celeba)."""

    max_pixels: int = option(MAX_PIXELS, "refuse image files with more pixels than this (decompression bombs)", min=1)


CACHE_VERSION = 1  # bump when the decoding below changes, so old caches are not reused


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by extension, hidden files skipped), as sorted paths relative to it."""
    found = []
    pending = [folder]
    seen = set()  # real paths of visited folders: a symlink loop is walked once
    while pending:
        current = pending.pop()
        if os.path.realpath(current) in seen:
            continue
        seen.add(os.path.realpath(current))
        try:
            entries = list(os.scandir(current))
        except OSError as e:
            raise GanstudioError(f"cannot read folder {current}: {e.strerror or e}") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=True):
                if recursive:
                    pending.append(Path(entry.path))
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file(follow_symlinks=True):
                # regular files only: a FIFO or device named x.png would block the reader forever
                found.append(Path(entry.path).relative_to(folder))
    return sorted(found)


def _try_decode(args):
    path, image_size, channels, crop, max_pixels = args
    try:
        return decode(path, image_size, channels, crop, max_pixels)
    except RefusedImage as e:
        return e
    except MemoryError:  # not the file's fault: never cached as "unreadable"
        return RefusedImage(
            f"{path}: out of memory while decoding it (close other programs, or lower --data-option max_pixels)"
        )
    except Exception:  # truncated, not an image, unsupported mode: all mean "skip this file"
        return None


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir_for(
    name: str, root: Path, files: list[Path], image_size: int, channels: int, crop: Optional[int]
) -> Path:
    """``<cache>/prepared/<name>-<settings hash>-<content hash>``; stat() of every file goes into the content hash."""
    root = root.resolve()
    settings = _digest([CACHE_VERSION, str(root), image_size, channels, crop])
    content = hashlib.sha256()
    for rel in files:
        try:
            st = (root / rel).stat()
        except OSError as e:
            raise GanstudioError(f"cannot read {root / rel}: {e.strerror or e}") from None
        content.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache_root() / "prepared" / f"{name}-{settings}-{content.hexdigest()[:16]}"


def prepare_images(
    name: str,
    root: Path,
    files: list[Path],
    image_size: int,
    channels: int,
    crop: Optional[int] = None,
    quiet: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> tuple[torch.Tensor, list[Path]]:
    """(uint8 tensor (N, C, S, S) memory-mapped from the cache, the files it holds in order).

    Prepares the cache when missing; otherwise reads no image file at all."""
    import numpy as np
    import torch

    if not files:
        raise GanstudioError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    target = cache_dir_for(name, root, files, image_size, channels, crop)
    index, array, damage = read_cache(target, image_size, channels) if target.exists() else (None, None, None)
    if index is not None:
        say = f"using prepared images {target}" + _skipped_note(index["unreadable"])
    else:
        if damage:  # said even when quiet: the decoding that follows takes a while
            print(f"the prepared images in {target} were damaged ({damage}); preparing them again", file=sys.stderr)
        try:
            index = _build(target, root, files, image_size, channels, crop, quiet, max_pixels)
        except GanstudioError as e:
            if damage and target.exists():
                raise GanstudioError(f"{e}; the damaged cache is still there: delete {target}") from None
            raise
        say = (
            f"prepared {len(index['files']):,} images {channels}x{image_size}x{image_size} into {target}"
            + _skipped_note(index["unreadable"])
        )
        _remove_stale(target)
        # "c" (copy-on-write) maps the file without loading it and gives a writable array, which torch wants.
        array = np.load(target / "images.npy", mmap_mode="c")[: len(index["files"])]
    if not quiet:
        print(say, file=sys.stderr)
    return torch.from_numpy(array), [Path(f) for f in index["files"]]


def _skipped_note(unreadable: list[str]) -> str:
    if not unreadable:
        return ""
    shown = ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
    return f"; skipped {len(unreadable):,} unreadable file{'s' if len(unreadable) != 1 else ''} ({shown})"


def _build(
    target: Path, root: Path, files: list[Path], image_size: int, channels: int, crop, quiet: bool, max_pixels: int
) -> dict:
    shape = (len(files), channels, image_size, image_size)
    _check_room(target, len(files), math.prod(shape))
    _remove_abandoned(target.parent)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    stream = _open_array(partial, target, shape)
    if not quiet:
        print(f"preparing {len(files):,} images from {root} (once; later runs reuse the cache)", file=sys.stderr)
    try:
        with stream:
            kept, unreadable = _decode_all(stream, target, root, files, shape, crop, quiet, max_pixels)
        index = {
            "version": CACHE_VERSION,
            "root": str(root.resolve()),
            "image_size": image_size,
            "channels": channels,
            "crop": crop,
            "files": kept,
            "unreadable": unreadable,
        }
        (partial / "index.json").write_text(json.dumps(index))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # atomic: a half-written cache is never picked up
        return index
    except OSError as e:
        raise GanstudioError(f"cannot write the image cache {target}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _check_room(target: Path, count: int, needed: int) -> None:
    """One line when the cache's folder cannot be made or has not ``needed`` bytes (and 1 MiB) free."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
    except OSError as e:
        raise GanstudioError(
            f"cannot write the image cache under {target.parent}: {e.strerror or e} "
            "(set $GANSTUDIO_CACHE to a writable folder)"
        ) from None
    if free < needed + 2**20:
        raise GanstudioError(
            f"preparing {count:,} images needs {needed / 1e9:.2f} GB in {target.parent}, "
            f"which has {free / 1e9:.2f} GB free (set $GANSTUDIO_CACHE to a bigger disk)"
        )


def _open_array(partial: Path, target: Path, shape: tuple[int, ...]):
    """partial/images.npy opened for writing, its header (uint8, ``shape``) written."""
    import numpy as np

    try:
        partial.mkdir(exist_ok=True)
        # Written with plain file writes, not a writable memory map: a full disk is then an OSError, not a SIGBUS.
        stream = open(partial / "images.npy", "wb")
        np.lib.format.write_array_header_1_0(stream, {"descr": "|u1", "fortran_order": False, "shape": shape})
        return stream
    except OSError as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise GanstudioError(
            f"cannot write the image cache under {target.parent}: {e.strerror or e} "
            "(set $GANSTUDIO_CACHE to a writable folder)"
        ) from None


def _decode_all(
    stream, target: Path, root: Path, files: list[Path], shape: tuple[int, ...], crop, quiet: bool, max_pixels: int
) -> tuple[list[str], list[str]]:
    """Decode every file into ``stream``, one row each in order: (kept, unreadable) paths relative to ``root``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    _, channels, image_size, _ = shape
    kept, unreadable = [], []
    console = Console(stderr=True)
    progress = Progress(
        TextColumn(f"preparing {name_of(target)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )  # no bar in logs
    # Pillow releases the GIL while decoding and resizing, so threads use every core without pickling.
    pool = ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1))
    try:
        with progress, warnings.catch_warnings():
            # Pillow's per-file warnings (palette transparency, EXIF) would flood the bar
            warnings.simplefilter("ignore")
            task = progress.add_task("prepare", total=len(files))
            jobs = ((root / rel, image_size, channels, crop, max_pixels) for rel in files)
            for rel, array in zip(files, pool.map(_try_decode, jobs)):
                if isinstance(array, RefusedImage):
                    raise GanstudioError(str(array))
                if array is None:
                    unreadable.append(str(rel))
                else:
                    stream.write(array.tobytes())
                    kept.append(str(rel))
                progress.advance(task)
            if not kept:
                raise GanstudioError(
                    f"none of the {len(files):,} image files under {root} could be read (e.g. {files[0]})"
                )
            # The header promised len(files) rows; unreadable files leave zero rows at the end, never read.
            stream.write(bytes(len(unreadable) * channels * image_size * image_size))
        return kept, unreadable
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: stop decoding now, not after the last file


def name_of(target: Path) -> str:
    return target.name.rsplit("-", 2)[0]


def _remove_stale(target: Path) -> None:
    """Delete caches with the same settings but older content: the folder changed, they will never match again."""
    settings_prefix = target.name.rsplit("-", 1)[0] + "-"
    for other in target.parent.glob(settings_prefix + "*"):
        if other != target and ".partial-" not in other.name:
            shutil.rmtree(other, ignore_errors=True)


def _remove_abandoned(folder: Path) -> None:
    """Delete half-written caches (``*.partial-<pid>``) whose process is gone: killed with -9 or lost power."""
    for partial in folder.glob("*.partial-*"):
        pid = partial.name.rsplit("-", 1)[1]
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass
