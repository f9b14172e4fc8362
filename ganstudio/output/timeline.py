"""Timeline GIFs: captioned grid frames written as one looping GIF, atomically. The ``gif`` callback (during
training), ``ganstudio gif`` (rebuilt from saved grids) and ``ganstudio interpolate`` all write theirs here, so
the frame rate, captions and the hold on the last frame are the same everywhere. numpy, Pillow and imageio are
imported inside the functions: `ganstudio --help` imports the command modules that import this one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio.store.atomic import atomic_write_bytes

if TYPE_CHECKING:  # annotations only: numpy is imported where it is used, so `--help` needs none
    import numpy as np

DEFAULT_FPS = 4.0
DEFAULT_MAX_FRAMES = 60
HOLD_LAST_S = 2.0  # the final frame stays up a little before the loop restarts


def caption(step: int, epoch: float) -> str:
    """The caption of a grid made during training: its step and epoch."""
    return f"step {step:,}  epoch {epoch:.2f}"


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable when Pillow has FreeType
    except (TypeError, OSError):
        return ImageFont.load_default()


def add_caption(grid: np.ndarray, text: str) -> np.ndarray:
    """The grid with a black band above it holding ``text`` in white; same dtype and channel layout."""
    import numpy as np
    from PIL import Image, ImageDraw

    height = max(12, grid.shape[1] // 18)
    band = Image.new("L" if grid.ndim == 2 else "RGB", (grid.shape[1], height + 4), 0)
    ImageDraw.Draw(band).text((4, 2), text, fill="white" if grid.ndim == 3 else 255, font=_font(height))
    return np.concatenate([np.asarray(band, dtype=np.uint8), grid], axis=0)


def gif_bytes(frames: list[np.ndarray], fps: float, hold_last_s: float = HOLD_LAST_S) -> bytes:
    """uint8 frames (all the same shape) as a looping GIF, made in memory: imageio's writer never holds a file, so
    a full disk cannot make it fail again when it is collected (the PluginV3.__del__ traceback)."""
    import imageio.v3 as iio
    import numpy as np

    frame_ms = 1000.0 / fps
    durations = [frame_ms] * len(frames)
    durations[-1] = max(frame_ms, hold_last_s * 1000.0)
    return iio.imwrite(
        "<bytes>",
        np.stack(frames),
        extension=".gif",
        is_batch=True,
        duration=durations if len(frames) > 1 else durations[0],  # Pillow wants a plain number for one frame
        loop=0,
    )


def write_gif(frames: list[np.ndarray], path, fps: float, hold_last_s: float = HOLD_LAST_S) -> Path:
    """Write uint8 frames (all the same shape) as a looping GIF, atomically (made in memory, temp file, rename)."""
    return atomic_write_bytes(path, gif_bytes(frames, fps, hold_last_s))
