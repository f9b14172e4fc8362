"""Image helpers shared by training, sampling and callbacks: [-1, 1] floats <-> uint8, grids, PNG/npz output."""

from __future__ import annotations

import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (N, C, H, W) -> uint8 (N, C, H, W) on the CPU."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1], on whatever device the input is on."""
    return images.float().div_(127.5).sub_(1.0)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the most square grid holding n images: 144 -> 12x12, 50 -> 7x8."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def make_grid(images: torch.Tensor, cols: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 image (H', W', C) or (H', W') for grayscale."""
    n, c, h, w = images.shape
    rows, cols = grid_shape(n) if cols is None else (math.ceil(n / cols), cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, dtype=np.uint8)
    array = images.numpy()
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y : y + h, x : x + w] = array[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_png(array: np.ndarray, path) -> Path:
    """Write a PNG atomically: a viewer (or a crash) never sees half a file."""
    from ganstudio.atomic import atomic_write

    return atomic_write(path, lambda tmp: iio.imwrite(tmp, array))


def enlarge(array: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a scale x scale block (nearest neighbour: 28 px images stay crisp on a screen)."""
    return array if scale == 1 else np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def save_images(images: torch.Tensor, out, scale: int = 1) -> str:
    """Save uint8 (N, C, H, W): FILE.npz -> ``images`` (N, H, W, C); DIR/ -> one PNG each; FILE.png -> a grid.
    ``scale`` enlarges the PNGs (never the .npz, which keeps the images as generated)."""
    out_str = str(out)
    path = Path(out)
    if out_str.endswith(".npz"):
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, images=images.permute(0, 2, 3, 1).numpy())
        return f"{path} ({len(images)} images, uint8 {tuple(images.permute(0, 2, 3, 1).shape)})"
    if out_str.endswith(("/", "\\")) or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        digits = max(4, len(str(len(images) - 1)))
        for i, image in enumerate(images):
            array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
            iio.imwrite(path / f"{i:0{digits}d}.png", enlarge(array, scale))
        return f"{path}/ ({len(images)} PNG files)"
    if path.suffix.lower() != ".png":
        from ganstudio.errors import GanstudioError

        raise GanstudioError(f"--out {out}: give FILE.png (a grid), FILE.npz (the images as an array) or DIR/ (one PNG each)")
    rows, cols = grid_shape(len(images))
    grid = enlarge(make_grid(images), scale)
    save_png(grid, path)
    return f"{path} ({rows}x{cols} grid, {grid.shape[1]}x{grid.shape[0]} px)"
