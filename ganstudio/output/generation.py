"""Images from models: the one place latents (and labels) become uint8 images (models come from checkpoints through
ganstudio.api.runs).

    model, ckpt = load_model("checkpoints/fashion-dcgan/last.pt", plugins, kind="gan")
    labels = class_labels(model, "trouser", 64)                       # conditional models: a class by name or index
    images = generate_images(model, model.sample_latent(64), labels, device="cpu")   # uint8 (N, C, H, W)

    latents, labels = seeded_inputs(model, range(100, 132), truncation=0.7)   # image i from seed 100 + i alone
    images = generate_images(model, latents, labels)   # = `ganstudio sample --seeds 100-131 --truncation 0.7`
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable, Optional

import torch

from ganstudio.api.images import to_uint8
from ganstudio.api.options import did_you_mean
from ganstudio.errors import GanstudioError

# Reading a model back from its checkpoint lives in the API (load_run is built on it); re-exported for the core.


def class_index(model, text: str) -> int:
    """A class of a conditional model by name (case-insensitive, a unique prefix is enough) or index."""
    names = class_names_of(model)
    if model.condition != "class":
        raise GanstudioError(
            f"--class: model '{model.config.model}' is not class-conditional (it generates without a class)"
        )
    if text.isdigit() and int(text) < len(names):
        return int(text)
    lowered = [n.lower() for n in names]
    hits = [i for i, n in enumerate(lowered) if n == text.lower()] or [
        i for i, n in enumerate(lowered) if n.startswith(text.lower())
    ]
    if len(hits) != 1:
        hint = did_you_mean(text, names) if not hits else ""
        raise GanstudioError(
            f"--class {text}: {hint + ' ' if hint else ''}expected one of {', '.join(names)} "
            f"(or an index 0-{len(names) - 1})"
        )
    return hits[0]


def class_labels(
    model, text: Optional[str], n: int, generator: Optional[torch.Generator] = None
) -> Optional[torch.Tensor]:
    """Labels for n samples: all of class ``text`` when given, else what the model draws by default (None when
    unconditional)."""
    if text is not None:
        return torch.full((n,), class_index(model, text), dtype=torch.long)
    return model.sample_labels(n, generator=generator)


@torch.no_grad()
def generate_images(
    model,
    latents: torch.Tensor,
    labels: Optional[torch.Tensor] = None,
    device="cpu",
    batch_size: int = 500,
    progress: Optional[Callable[[int], None]] = None,
) -> torch.Tensor:
    """uint8 images (N, C, H, W) on the CPU, in eval mode (batch-norm running statistics), in batches; the
    model's train/eval mode is restored afterwards. The same latents give the same images whatever the batch size."""
    device = torch.device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(latents), batch_size):
            z = latents[i : i + batch_size].to(device)
            y = labels[i : i + batch_size].to(device) if labels is not None else None
            out.append(to_uint8(model.generate(z, y) if y is not None else model.generate(z)))
            if progress is not None:
                progress(len(z))
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


# --- one seed per image: `ganstudio sample` ---------------------------------------------------------------------

TRUNCATION_DRAW_LIMIT = 2**27  # candidate values drawn per latent row before a threshold is called too small


def check_truncation(truncation: Optional[float]) -> None:
    if truncation is not None and not (
        isinstance(truncation, (int, float)) and math.isfinite(truncation) and truncation > 0
    ):
        raise GanstudioError(
            f"--truncation {truncation}: expected a threshold greater than 0 (e.g. 0.7; smaller: "
            f"closer to the average image, less variety)"
        )


def truncate_latent(model, z: torch.Tensor, truncation: float, generator: torch.Generator) -> torch.Tensor:
    """The truncation trick (BigGAN's truncated normal): every entry of ``z`` with |z| > T is redrawn from the model's
    latent distribution, with ``generator``, until |z| <= T; entries already within T stay as they are.

    Candidates are drawn a block at a time (1, 2, 4, ... latents per row of ``z``), each entry left taking the first
    candidate at its position that fits: the same distribution as redrawing entries one at a time, in a few draws even
    for a small T. Any number of rows; one row draws as it always did, so a seed's truncated latent stays the same."""
    check_truncation(truncation)
    z = z.clone()
    rows = z.shape[0]
    outside = z.abs() > truncation
    block, drawn = 1, 0
    while outside.any():
        if drawn > TRUNCATION_DRAW_LIMIT * rows:
            raise GanstudioError(
                f"--truncation {truncation:g}: after {drawn:,} draws some latent values still lie outside "
                f"±{truncation:g}; this threshold is too small (0.5 to 1 is usual)"
            )
        # (block, rows, *latent shape): candidate j of row i is latent j * rows + i of the draw
        candidates = model.sample_latent(block * rows, generator=generator).reshape(block, *z.shape)
        drawn += candidates.numel()
        fits = candidates.abs() <= truncation
        first = fits.float().argmax(0, keepdim=True)  # the first candidate that fits, at each position
        take = outside & fits.any(0)
        z[take] = candidates.gather(0, first)[0][take]
        outside &= ~take
        block = min(block * 2, max(1, (1 << 20) // max(1, z.numel())))
    return z


def seeded_inputs(
    model, seeds: Iterable[int], truncation: Optional[float] = None, class_name: Optional[str] = None
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(latents, labels) for one image per seed: image i comes from ``torch.Generator().manual_seed(seeds[i])``
    alone, so any image of a batch can be made again on its own, with the same pixels. From each seed's stream, in
    this order: the latent, the label (conditional models; drawn even when ``class_name`` then replaces it, so a
    seed's latent is the same with or without --class), and with ``truncation`` the redraws of the latent's entries
    with |z| > T. (seed, truncation[, class]) names an image. Labels are None for an unconditional model."""
    check_truncation(truncation)
    seeds = [int(seed) for seed in seeds]
    chosen = class_index(model, class_name) if class_name is not None else None
    latents, labels = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        z = model.sample_latent(1, generator=g)
        y = model.sample_labels(1, generator=g)
        latents.append(truncate_latent(model, z, truncation, g) if truncation is not None else z)
        labels.append(y)
    if not seeds:
        return model.sample_latent(0), None
    if model.condition is None or labels[0] is None:
        return torch.cat(latents), None
    labels = torch.cat(labels)
    if chosen is not None:
        labels = torch.full_like(labels, chosen)
    return torch.cat(latents), labels


def latents_for_seeds(model, seeds: Iterable[int], truncation: Optional[float] = None) -> torch.Tensor:
    """The latents of ``seeded_inputs``: row i made from seed ``seeds[i]`` alone, truncated to ±``truncation``."""
    return seeded_inputs(model, seeds, truncation)[0]


def per_class_inputs(model, seeds: list[int], truncation: Optional[float] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents, labels) for a grid of one row per class: column c is seed ``seeds[c]`` in every row, so the row
    changes only the class (``sample --per-class``, report pages)."""
    latents, _ = seeded_inputs(model, seeds, truncation)
    classes = model.config.num_classes
    return latents.repeat(classes, *([1] * (latents.dim() - 1))), torch.arange(classes).repeat_interleave(len(seeds))


def spread_labels(model, n: int) -> Optional[torch.Tensor]:
    """Labels for n samples of a class-conditional model spread evenly over its classes (0, 1, ..., C-1, 0, 1, ...):
    every class asked for n // C or n // C + 1 times. None for other models."""
    if model.condition != "class" or not model.config.num_classes:
        return None
    return torch.arange(n) % model.config.num_classes


def class_names_of(model) -> list[str]:
    """The class names of a conditional model, one per class: its data's (made inert, length-limited), a class the
    checkpoint names no name for by its index ("0", "1", ...), names beyond its classes dropped."""
    from ganstudio import limits

    classes = limits.at_most(
        "the checkpoint's number of classes", int(model.config.num_classes or 0), limits.CLASS_NAMES
    )
    names = [limits.clean_text(name) for name in itertools.islice(model.config.class_names or (), classes)]
    return names + [str(i) for i in range(len(names), classes)]


def slerp(a, b, t: float):
    """Spherical interpolation between rows of ``a`` and ``b`` (N, D) at fraction t in [0, 1].

    The angle is that between the directions; magnitudes are carried along, so slerp(a, b, 0) == a and
    slerp(a, b, 1) == b. Nearly parallel rows fall back to linear interpolation (sin(angle) ~ 0)."""

    a_flat, b_flat = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    cos = (a_flat * b_flat).sum(1) / (a_flat.norm(dim=1) * b_flat.norm(dim=1)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    linear = sin.abs() < 1e-6
    safe_sin = torch.where(linear, torch.ones_like(sin), sin)
    wa = torch.where(linear, torch.full_like(sin, 1 - t), torch.sin((1 - t) * omega) / safe_sin)
    wb = torch.where(linear, torch.full_like(sin, t), torch.sin(t * omega) / safe_sin)
    out = wa[:, None] * a_flat + wb[:, None] * b_flat
    return out.to(a.dtype).reshape(a.shape)
