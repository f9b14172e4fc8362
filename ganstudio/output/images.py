"""Image helpers shared by training, sampling and callbacks: [-1, 1] floats <-> uint8, grids, PNG/npz output."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch


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


def png_bytes(array: np.ndarray) -> bytes:
    """A PNG made in memory: no writer is left holding a file when the disk is full."""
    return iio.imwrite("<bytes>", array, extension=".png")


def save_png(array: np.ndarray, path) -> Path:
    """Write a PNG atomically: a viewer (or a crash) never sees half a file."""
    from ganstudio.store.atomic import atomic_write_bytes

    return atomic_write_bytes(path, png_bytes(array))


def npz_bytes(arrays: dict) -> memoryview:
    """A compressed .npz made in memory (its size is bounded by limits.SAMPLE_IMAGES upstream)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getbuffer()


def save_png_folder(images: torch.Tensor, folder: Path, names: list[str], scale: int = 1) -> None:
    """One PNG per image, ``names[i]``.png, each written atomically. When one fails, the files this call created
    (and the folders it made) are removed and the files that were there before kept; one line names the file."""
    from ganstudio.store.atomic import atomic_write_bytes, write_failure
    from ganstudio.store.ours import exists

    made_folders = [p for p in (folder, *folder.parents) if not exists(p)]
    made: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in zip(names, images):
            target = folder / f"{name}.png"
            new = not exists(target)
            array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
            try:
                atomic_write_bytes(target, png_bytes(enlarge(array, scale)))
            except OSError as e:
                raise write_failure(target, e) from None
            if new:
                made.append(target)
    except BaseException:
        for path in made:
            with contextlib.suppress(OSError):
                path.unlink()
        for path in made_folders:  # innermost first; a folder something else wrote into stays
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def enlarge(array: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a scale x scale block (nearest neighbour: 28 px images stay crisp on a screen)."""
    return array if scale == 1 else np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def output_kind(out) -> str:
    """What ``--out`` asks for: "npz" (FILE.npz), "dir" (DIR/, or an existing folder) or "png" (FILE.png, a grid)."""
    out_str, path = str(out), Path(out)
    if out_str.endswith(".npz"):
        return "npz"
    if out_str.endswith(("/", "\\")) or path.is_dir():
        return "dir"
    if path.suffix.lower() != ".png":
        from ganstudio.errors import GanstudioError

        raise GanstudioError(
            f"--out {out}: give FILE.png (a grid), FILE.npz (the images as an array) or DIR/ (one PNG each)"
        )
    return "png"


def folder_names(n: int) -> list[str]:
    """The default names of n PNGs in a folder: 0000, 0001, ..."""
    digits = max(4, len(str(n - 1)))
    return [f"{i:0{digits}d}" for i in range(n)]


def save_images(
    images: torch.Tensor,
    out,
    scale: int = 1,
    names: list[str] | None = None,
    arrays: dict | None = None,
    cols: int | None = None,
) -> str:
    """Save uint8 (N, C, H, W): FILE.npz -> ``images`` (N, H, W, C) plus ``arrays`` (e.g. each image's seed); DIR/ ->
    one PNG each, named ``names[i]``.png (default 0000.png, 0001.png, ...); FILE.png -> a grid (``cols`` wide, default
    square-ish). ``scale`` enlarges the PNGs (never the .npz, which keeps the images as generated)."""
    kind = output_kind(out)
    path = Path(out)
    if kind == "npz":
        from ganstudio.store.atomic import atomic_write_bytes

        atomic_write_bytes(path, npz_bytes({"images": images.permute(0, 2, 3, 1).numpy(), **(arrays or {})}))
        return f"{path} ({len(images)} images, uint8 {tuple(images.permute(0, 2, 3, 1).shape)})"
    if kind == "dir":
        save_png_folder(images, path, names or folder_names(len(images)), scale)
        return f"{path}/ ({len(images)} PNG files)"
    rows, cols = grid_shape(len(images)) if cols is None else (math.ceil(len(images) / cols), cols)
    grid = enlarge(make_grid(images, cols=cols), scale)
    save_png(grid, path)
    return f"{path} ({rows}x{cols} grid, {grid.shape[1]}x{grid.shape[0]} px)"


# --- class names drawn beside images (matplotlib, imported when used) ---------------------------------------------


def labelled_gallery(images: torch.Tensor, names: list[str], rows: int, cols: int, path: Path) -> tuple[int, int]:
    """A matplotlib figure: one image per cell with its class name underneath. Returns (width, height) in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cell = 0.9  # inches per image; the name takes the lower part of the cell
    figure = Figure(figsize=(cols * cell, rows * (cell + 0.25)), dpi=100)
    FigureCanvasAgg(figure)
    for i in range(rows * cols):
        axes = figure.add_subplot(rows, cols, i + 1)
        axes.set_axis_off()
        if i >= len(images):
            continue
        image = images[i]
        if image.shape[0] == 1:
            axes.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
        else:
            axes.imshow(image.permute(1, 2, 0).numpy())
        axes.text(0.5, -0.04, names[i], transform=axes.transAxes, ha="center", va="top", fontsize=7)
    figure.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.03, wspace=0.08, hspace=0.3)
    from ganstudio.store.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".").lower() or "png")
    atomic_write_bytes(path, buffer.getbuffer())
    width, height = figure.canvas.get_width_height()
    return width, height


def name_strip(names: list[str], height: int, centres: list[float], fontsize: float) -> np.ndarray:
    """uint8 (height, W): white names on black, right-aligned, each centred on its row (pixels from the top);
    W fits the longest name. Drawn by matplotlib at 72 dpi, so ``fontsize`` is in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    margin = max(4, round(fontsize / 2))
    figure = Figure(figsize=(1, height / 72), dpi=72, facecolor="black")
    canvas = FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    texts = [
        figure.text(
            0,
            height - y,
            name,
            transform=IdentityTransform(),
            ha="right",
            va="center",
            color="white",
            fontsize=fontsize,
        )
        for name, y in zip(names, centres)
    ]
    width = 2 * margin + max((math.ceil(t.get_window_extent(renderer).width) for t in texts), default=0)
    figure.set_size_inches(width / 72, height / 72)
    for text in texts:
        text.set_x(width - margin)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[:height, :width, 0])  # white on black: one channel holds it all


def labelled_rows(
    images: torch.Tensor, cols: int, row_names: list[str], scale: int = 1, padding: int = 2
) -> np.ndarray:
    """A grid of ``cols`` images per row (``make_grid``), enlarged ``scale`` times, with ``row_names[r]`` at the
    left of row r. The grid's pixels are exactly ``make_grid``'s: the names sit in a strip of their own."""
    grid = enlarge(make_grid(images, cols=cols, padding=padding), scale)
    tile = (images.shape[2] + padding) * scale
    centres = [(padding * scale + r * tile + images.shape[2] * scale / 2) for r in range(len(row_names))]
    strip = name_strip(row_names, grid.shape[0], centres, fontsize=max(8.0, min(18.0, images.shape[2] * scale * 0.4)))
    if grid.ndim == 3:
        strip = np.repeat(strip[:, :, None], grid.shape[2], axis=2)
    return np.concatenate([strip, grid], axis=1)
