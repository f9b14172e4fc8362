"""The images eval scores: samples from an .npz file, and the real sets they are compared with (the reference set of
training images and the held-out floor). Used by ``ganstudio eval``; anyone above scoring may import it.

    images = load_npz_images("other_tool.npz")                    # uint8 (N, C, H, W)
    real = real_sets(train, held_out, n=10000, seed=0)            # real.reference, real.floor, real.floor_name
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ganstudio.errors import GanstudioError
from ganstudio.scoring.evaluation import random_subset


def load_npz_images(path) -> torch.Tensor:
    """uint8 (N, C, H, W) from an .npz: key ``images`` (or its only array), uint8 (N, H, W), (N, H, W, C) or
    (N, C, H, W) with C in 1/3, or floats in [0, 1]."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise GanstudioError(f"--samples {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise GanstudioError(f"--samples {path}: no 'images' array (found {', '.join(keys) or 'none'})")
            array = archive[key]
    except (ValueError, OSError) as e:
        raise GanstudioError(f"--samples {path}: not a readable .npz file ({e})") from None
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) == 0:
        raise GanstudioError(
            f"--samples {path}: expected images (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {array.shape}"
        )
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise GanstudioError(f"--samples {path}: {int((~np.isfinite(array)).sum()):,} values are NaN or Inf")
        if not np.issubdtype(array.dtype, np.floating) or array.min() < 0 or array.max() > 1:
            raise GanstudioError(
                f"--samples {path}: expected uint8 pixels or floats in [0, 1], got {array.dtype} "
                f"in [{array.min()}, {array.max()}]"
            )
        array = np.round(array * 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array))


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
