"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training") for any GAN:
every image the discriminator sees, real or fake, is augmented by differentiable tensor ops, so D cannot memorise a
small dataset and G still gets gradients through the augmentation.

    ganstudio train --data fashion-mini --augment on          # translation + cutout (+ colour for RGB data)
    ganstudio train --data celeba --augment translation,color

The loop applies it through a forward pre-hook on the model's ``discriminator`` (the hook rewrites the first
positional argument, the image batch), so a model plugin needs no code for it. It is active only while the model is
in training mode. Images are in [-1, 1]; translation and cutout fill with 0 (the middle grey), as the paper's code
(mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py) does. ``--augment ada`` applies the same ops, each to each
image with an adaptive probability p (ada.py).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ganstudio.errors import GanstudioError

TRANSLATION_RATIO = 0.125  # the paper's: shift by up to 1/8 of the side
CUTOUT_RATIO = 0.5  # the paper's: a square of half the side is blanked


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def color(x: torch.Tensor) -> torch.Tensor:
    return contrast(saturation(brightness(x)))


def translation(x: torch.Tensor) -> torch.Tensor:
    """Move each image by its own (dy, dx), each in [-s, s] with s = int(side / 8 + 0.5) per axis (4 at 28 px), filling
    with 0: the reference's rand_translation, as one pad and one gather for the batch."""
    n, _, h, w = x.shape
    sy, sx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    if not sy and not sx:
        return x
    padded = F.pad(x, (sx, sx, sy, sy), value=0.0)
    rows = torch.randint(0, 2 * sy + 1, (n, 1, 1), device=x.device) + torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.randint(0, 2 * sx + 1, (n, 1, 1), device=x.device) + torch.arange(w, device=x.device).view(1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor) -> torch.Tensor:
    """Blank one square of half the side per image, at a random place (it may hang over the edge)."""
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"color": color, "translation": translation, "cutout": cutout}
ORDER = ("color", "translation", "cutout")  # the paper's order
ADAPTIVE = "ada"  # --augment ada: the ops of "on", each applied with ADA's adaptive probability (ada.py)


def parse_policy(text: str, channels: int) -> tuple[str, ...]:
    """``--augment`` -> the ops to apply, in the paper's order. "off" -> (); "on" (and "ada") -> translation and
    cutout, plus colour for RGB data (on one channel, colour jitter is only brightness and contrast: saturation
    means nothing there)."""
    text = (text or "off").strip().lower()
    if text in ("off", "none", ""):
        return ()
    if text in ("on", ADAPTIVE):
        return ORDER if channels == 3 else ("translation", "cutout")
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise GanstudioError(
            f"--augment {text}: unknown '{unknown[0]}'; expected off, on, ada, or a list of {', '.join(ORDER)}"
        )
    return tuple(n for n in ORDER if n in names)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    for name in policy:
        x = OPS[name](x)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x  # D's convolutions expect its layout


def attach(discriminator: torch.nn.Module, policy: tuple[str, ...]):
    """Augment the image batch of every training-mode call of ``discriminator``; returns the hook handle."""

    def pre_hook(module, args):
        if not policy or not module.training or not args:
            return None
        return (diff_augment(args[0], policy), *args[1:])

    return discriminator.register_forward_pre_hook(pre_hook)


def is_adaptive(text: str) -> bool:
    return (text or "").strip().lower() == ADAPTIVE


def augment_some(x: torch.Tensor, policy: tuple[str, ...], p: torch.Tensor) -> torch.Tensor:
    """Each op of ``policy`` applied to each image with probability ``p`` (a 0-d tensor: no host sync), on its own
    Bernoulli draw, as ADA applies its augmentations; still differentiable."""
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    for name in policy:
        chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
        x = torch.where(chosen, OPS[name](x), x)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
