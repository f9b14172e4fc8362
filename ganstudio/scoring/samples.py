"""The images eval scores: samples from an .npz file, and the real sets they are compared with (the reference set of
training images and the held-out floor). Used by ``ganstudio eval``; anyone above scoring may import it.

    images = load_npz_images("other_tool.npz")                    # uint8 (N, C, H, W)
    real = real_sets(train, held_out, n=10000, seed=0)            # real.reference, real.floor, real.floor_name
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ganstudio import limits
from ganstudio.errors import GanstudioError
from ganstudio.scoring.evaluation import random_subset


def load_npz_images(path) -> torch.Tensor:
    """uint8 (N, C, H, W) from an .npz: key ``images`` (or its only array), uint8 (N, H, W), (N, H, W, C) or
    (N, C, H, W) with C in 1/3, or floats in [0, 1]. The array's header is checked first (limits.EVAL_IMAGES,
    limits.NPZ_BYTES, its size against the file's): a 3 MB file cannot make eval unpack 3 GB."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise GanstudioError(f"--samples {path} does not exist")
    key = checked_member(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            array = archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise GanstudioError(f"--samples {path}: not a readable .npz file ({first_line(e)})") from None
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) == 0:
        raise GanstudioError(
            f"--samples {path}: expected images (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {array.shape}"
        )
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number):
            raise GanstudioError(
                f"--samples {path}: expected uint8 pixels or floats in [0, 1], got {array.dtype.str} values"
            )
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise GanstudioError(f"--samples {path}: {int((~np.isfinite(array)).sum()):,} values are NaN or Inf")
        if not np.issubdtype(array.dtype, np.floating) or array.min() < 0 or array.max() > 1:
            raise GanstudioError(
                f"--samples {path}: expected uint8 pixels or floats in [0, 1], got {array.dtype} "
                f"in [{array.min()}, {array.max()}]"
            )
        array = np.round(array * 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array))


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:160]


def checked_member(path: Path) -> str:
    """The name of the array to read (``images``, or the only one), after its header was read through zipfile and
    checked: a readable zip, a .npy header, at most limits.EVAL_IMAGES images and limits.NPZ_BYTES bytes, and
    exactly as many bytes in the member as the header promises. Nothing is unpacked but the header."""
    what = f"--samples {path}"
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {
                info.filename[: -len(".npy")]: info for info in archive.infolist() if info.filename.endswith(".npy")
            }
            key = "images" if "images" in arrays else (next(iter(arrays)) if len(arrays) == 1 else None)
            if key is None:
                raise GanstudioError(f"{what}: no 'images' array (found {', '.join(arrays) or 'none'})")
            info = arrays[key]
            with archive.open(info) as member:
                shape, dtype, offset = read_header(member, what)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
        raise GanstudioError(f"{what}: not a .npz file (a zip of .npy arrays): {first_line(e)}") from None
    count = shape[0] if shape else 0
    limits.at_most(f"{what}: the number of images in '{key}'", count, limits.EVAL_IMAGES, "score fewer")
    nbytes = math.prod(shape) * dtype.itemsize
    limits.at_most(f"{what}: the unpacked size of '{key}' in bytes", nbytes, limits.NPZ_BYTES, "score fewer")
    if offset + nbytes != info.file_size:
        raise GanstudioError(
            f"{what}: its header says {nbytes:,} bytes of {shape} {dtype.str}, but the member holds "
            f"{max(info.file_size - offset, 0):,} (the file is damaged)"
        )
    return key


def read_header(member, what: str):
    """(shape, dtype, header length) of the .npy file ``member``, read without its data."""
    import numpy as np

    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise GanstudioError(f"{what}: unsupported .npy format version {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    if dtype.hasobject:
        raise GanstudioError(f"{what}: holds Python objects, not pixels")
    return tuple(int(n) for n in shape), dtype, member.tell()


@dataclass
class RealSets:
    """The real images of one evaluation: ``reference`` (what every score compares with) and ``floor`` (held-out
    real images scored the same way: what a generator that made real images would get), with the floor's labels."""

    reference: torch.Tensor
    floor: torch.Tensor
    floor_labels: Optional[torch.Tensor]
    floor_name: str  # the column head of the floor in eval's table


def real_sets(train, held_out, n: int, seed: int) -> RealSets:
    """n training images and n held-out (test) ones; without a test split, the training images are shuffled and
    split in halves instead. The same seed picks the same images."""
    if held_out is None or len(held_out) == 0:
        shuffled = random_subset(train.images, len(train.images), seed)
        split = len(shuffled) // 2
        labels = None if train.labels is None else random_subset(train.labels, len(train.labels), seed)[split:][:n]
        return RealSets(shuffled[:split][:n], shuffled[split:][:n], labels, "real (held-out train)")
    labels = None if held_out.labels is None else random_subset(held_out.labels, n, seed)
    return RealSets(
        random_subset(train.images, n, seed), random_subset(held_out.images, n, seed), labels, "real (held-out test)"
    )
