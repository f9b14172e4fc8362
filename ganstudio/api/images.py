"""Image helpers published for plugins: uint8 <-> float [-1, 1] conversion and batch-wide random shifts and flips
(used by the classifier's training augmentation and by DiffAugment)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (N, C, H, W) -> uint8 (N, C, H, W) on the CPU."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1], on whatever device the input is on."""
    return images.float().div_(127.5).sub_(1.0)


def random_shift(images: torch.Tensor, max_shift: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], filling with the
    background value (-1): one pad and one gather for the whole batch."""
    if max_shift <= 0:
        return images
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * max_shift + 1, (n, 1, 1), device=device, generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n, 1, 1), device=device, generator=generator)
    rows = dy + torch.arange(h, device=device).view(1, h, 1)
    cols = dx + torch.arange(w, device=device).view(1, 1, w)
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def random_flip(images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    mask = torch.rand(images.shape[0], 1, 1, 1, device=images.device, generator=generator) < 0.5
    return torch.where(mask, images.flip(3), images)
