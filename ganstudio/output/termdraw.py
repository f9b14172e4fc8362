"""Pictures in a terminal for the live view: images in half-block pixels, a strip of grid samples, sparklines."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

BLOCKS = "▁▂▃▄▅▆▇█"
TOP_HALF = "▀"  # foreground: the top pixel, background: the bottom one
STRIP_PIXELS = 16  # a sample is shrunk (by a whole factor) to at most this many pixels high: 8 lines, 28 px -> 14
STRIP_MOST = 10  # samples in the strip at most (a class-conditional grid of 10 classes: one of each)


def sparkline(values) -> str:
    """One block per value, scaled between the series' lowest and highest; a flat series is drawn at mid-height,
    a non-finite value as a space."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    if high == low:
        return "".join(BLOCKS[3] if math.isfinite(v) else " " for v in values)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[int((v - low) / (high - low) * top + 0.5)] if math.isfinite(v) else " " for v in values)


@lru_cache(maxsize=4096)
def _style(top: tuple, bottom: tuple | None) -> Style:
    # Few distinct pairs in a sample strip: one Style object each. Rich turns rgb into the terminal's own colours
    # (256 or 16) when it has no true colour.
    return Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom) if bottom is not None else None)


class HalfBlocks:
    """A uint8 image, (H, W) grey or (H, W, 3) RGB, as a Rich renderable of W columns and ceil(H / 2) lines: each
    cell is two pixels. Built once (the segments are kept), so a live display redraws it at no cost."""

    def __init__(self, image: np.ndarray):
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        pixels = rgb.astype(np.uint8).tolist()
        self.width = rgb.shape[1]
        self.lines = []
        for y in range(0, len(pixels), 2):
            bottom = pixels[y + 1] if y + 1 < len(pixels) else [None] * self.width
            self.lines.append(
                [Segment(TOP_HALF, _style(tuple(t), tuple(b) if b else None)) for t, b in zip(pixels[y], bottom)]
            )

    def __rich_console__(self, console, options):
        for line in self.lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console, options):
        return Measurement(self.width, self.width)


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """(C, H, W) averaged over factor x factor blocks (the edges that do not fill a block are cut)."""
    if factor == 1:
        return image
    c, h, w = image.shape
    h, w = h // factor * factor, w // factor * factor
    blocks = image[:, :h, :w].reshape(c, h // factor, factor, w // factor, factor).astype(np.float32)
    return blocks.mean(axis=(2, 4)).round().astype(np.uint8)


def sample_strip(images, cols: int, width: int) -> np.ndarray:
    """One row of grid samples (uint8 (N, C, H, W)), shrunk, side by side with a 1 px dark gap, as many as fit
    ``width`` columns: the first of each grid row first (one per class on a class-conditional grid), then the next.
    Returns (H', W') grey or (H', W', 3)."""
    images = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    n, c, h, w = images.shape
    factor = max(1, math.ceil(h / STRIP_PIXELS))
    side = w // factor
    fits = max(1, (width + 1) // (side + 1))
    cols = max(1, cols)
    order = [r * cols + col for col in range(cols) for r in range(math.ceil(n / cols)) if r * cols + col < n]
    chosen = [shrink(images[i], factor) for i in order[: min(fits, STRIP_MOST)]]
    gap = np.zeros((c, chosen[0].shape[1], 1), dtype=np.uint8)
    strip = np.concatenate([part for image in chosen for part in (image, gap)][:-1], axis=2)
    return strip[0] if c < 3 else strip[:3].transpose(1, 2, 0)  # grey, or the first three channels as RGB
