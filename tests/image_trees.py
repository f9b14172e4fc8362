"""Tiny image trees for the dataset tests: CelebA in torchvision's and the bare layout, and plain folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ATTRIBUTES = ["Smiling", "Male", "Eyeglasses"]


def face(i: int, rng) -> np.ndarray:
    """A 178x218 'aligned face': noise, a skin-coloured square whose brightness depends on i, red bands
    in the 20 rows at top and bottom that the 178x178 centre crop must cut away."""
    array = rng.integers(0, 60, (218, 178, 3), dtype=np.uint8)
    array[40:178, 30:148] = (120 + (i * 7) % 100, 90, 70)
    array[:20] = (255, 0, 0)
    array[-20:] = (255, 0, 0)
    return array


def write_faces(folder: Path, count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:06d}.jpg" for i in range(1, count + 1)]
    for i, name in enumerate(names):
        Image.fromarray(face(i, rng)).save(folder / name, quality=92)
    return names


def make_celeba_torchvision(root: Path, n_train: int = 24, n_valid: int = 2, n_test: int = 6) -> Path:
    """``root/celeba/img_align_celeba/*.jpg`` + list_eval_partition.txt + list_attr_celeba.txt; returns root."""
    base = root / "celeba"
    names = write_faces(base / "img_align_celeba", n_train + n_valid + n_test)
    codes = [0] * n_train + [1] * n_valid + [2] * n_test
    (base / "list_eval_partition.txt").write_text("".join(f"{n} {c}\n" for n, c in zip(names, codes)))
    rows = [
        f"{n} " + " ".join("1" if (i >> k) & 1 else "-1" for k in range(len(ATTRIBUTES))) for i, n in enumerate(names)
    ]
    (base / "list_attr_celeba.txt").write_text(f"{len(names)}\n{' '.join(ATTRIBUTES)}\n" + "\n".join(rows) + "\n")
    return root


def make_celeba_bare(folder: Path, count: int = 20) -> Path:
    """Just aligned JPEGs in one folder, as other mirrors ship them."""
    write_faces(folder, count, seed=1)
    return folder


def make_image_folder(root: Path, count: int = 40, side: int = 40, seed: int = 2) -> Path:
    """A tree of mixed png/jpg/webp files of various sizes and modes, in nested folders."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        sub = root / ("cats" if i % 2 else "dogs") / ("deep" if i % 5 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        height = side + (i % 3) * 8
        array = rng.integers(0, 255, (height, side, 3), dtype=np.uint8)
        ext, mode = [(".png", "RGB"), (".jpg", "RGB"), (".webp", "RGB"), (".png", "L"), (".PNG", "RGBA")][i % 5]
        image = Image.fromarray(array).convert(mode)
        image.save(sub / f"img{i:03d}{ext}")
    return root
