"""Decoding one image file for the prepared-image cache (imagecache.py): the pixel limit, crop and resize."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # annotations only: numpy is imported where it is used
    import numpy as np

MAX_PIXELS = 40_000_000  # per image file (a 40 MP photo decodes to ~120 MB); --data-option max_pixels=N raises it


class RefusedImage(Exception):
    """A file that must stop the preparation, not be skipped: too many pixels, or out of memory."""


def decode(path: Path, image_size: int, channels: int, crop: Optional[int], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One file -> uint8 (C, S, S): centre-crop a square (``crop`` pixels, or the short side), resize to S.
    A file of more than ``max_pixels`` pixels is refused before it is decoded (its header says its size)."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise RefusedImage(
                f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,} "
                f"(a decompression bomb, or a huge photo: raise the limit with --data-option max_pixels=N)"
            )
        side = min(width, height) if crop is None else min(crop, width, height)
        # JPEG can decode at 1/2, 1/4, 1/8 scale for a fraction of the cost; ask for the smallest scale
        # that still leaves the crop at least image_size pixels wide.
        factor = image_size / side
        scale = 1.0
        if factor < 1:
            drafted = image.draft(
                "L" if channels == 1 else None, (math.ceil(width * factor), math.ceil(height * factor))
            )
            if drafted is not None:  # only JPEG drafts; the box is the original image in drafted pixels
                scale = drafted[1][2] / width
        image = ImageOps.exif_transpose(image)  # phone photos are stored sideways with an orientation tag
        if image.mode.startswith("I") or image.mode == "F":  # 16-bit/float: Pillow's convert would clip at 255
            values = np.asarray(image, dtype=np.float64)
            image = Image.fromarray((values / 257 if values.max() > 255 else values).clip(0, 255).astype(np.uint8))
        image = image.convert("RGB" if channels == 3 else "L")
        width_now, height_now = image.size
        side_now = min(side * scale, width_now, height_now)
        left, top = (width_now - side_now) / 2, (height_now - side_now) / 2
        image = image.resize((image_size, image_size), Image.BICUBIC, box=(left, top, left + side_now, top + side_now))
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)
