"""Models from checkpoints, and images from models: the one place latents (and labels) become uint8 images.

    model, ckpt = load_model("checkpoints/fashion-dcgan/last.pt", plugins, kind="gan")
    labels = class_labels(model, "trouser", 64)                       # conditional models: a class by name or index
    images = generate_images(model, model.sample_latent(64), labels, device="cpu")   # uint8 (N, C, H, W)
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from ganstudio.api import ModelConfig
from ganstudio.checkpoint import load_checkpoint
from ganstudio.errors import GanstudioError
from ganstudio.images import to_uint8


def check_weights_fit(entry, config: ModelConfig, state: dict, path) -> None:
    """Compare the tensors a checkpoint holds with the model its config describes, building that model on the meta
    device (no memory): a damaged or crafted config (width 4096, 4096x4096 images) fails here, in one line, before
    anything is allocated. A model whose construction cannot run on the meta device is checked after it is built."""
    try:
        with torch.device("meta"):
            expected = entry.build(ModelConfig(**{**vars(config), "options": dict(config.options)})).state_dict()
    except GanstudioError:
        raise
    except Exception:
        return
    what = f"{path}: the weights do not fit model '{entry.name}' as its stored config describes"
    for key, tensor in expected.items():
        if key not in state:
            raise GanstudioError(f"{what}: '{key}' is missing (the file is damaged or was not written by this model)")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise GanstudioError(f"{what}: '{key}' is {tuple(state[key].shape)} in the file, {tuple(tensor.shape)} in the model")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise GanstudioError(f"{what}: it holds '{extra[0]}'" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
                             + ", which the model does not have")


def load_model(path, plugins, kind: Optional[str] = None, ema: bool = True):
    """(model, checkpoint) rebuilt from a checkpoint through its model plugin, on the CPU, in eval mode. With ``ema``
    (the default) a GAN's generator holds the averaged weights when the checkpoint has them (``ckpt["ema"]``)."""
    ckpt = load_checkpoint(path)
    name = "?"
    try:
        info = ckpt["model"]
        name, plugin = info["name"], info.get("plugin", "")
        if name not in plugins.models:
            raise GanstudioError(f"{path}: model '{name}' comes from plugin '{plugin}', which is not installed here")
        config, state = ModelConfig(**info["config"]), ckpt["state"]["model"]
        # Building initialises weights from the global random stream; these are overwritten at once, and a model loaded
        # inside a training run (eval's classifier) must not move that run's stream.
        with torch.random.fork_rng(devices=[]):
            check_weights_fit(plugins.models[name], config, state, path)
            model = plugins.models[name].build(config)
        model.load_state_dict(state)
        averaged = (ckpt.get("ema") or {}).get("weights") if ema else None
        if averaged is not None:
            load_averaged_generator(model, averaged, path)
    except (KeyError, TypeError) as e:
        raise GanstudioError(f"{path}: checkpoint is missing or has malformed entry {e}") from None
    except RuntimeError as e:
        raise GanstudioError(f"{path}: weights do not fit model '{name}': {str(e).splitlines()[0]}") from None
    if kind is not None and model.kind != kind:
        raise GanstudioError(f"{path}: holds a {model.kind} ('{name}'), not a {kind}")
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    bad = bad or next((f"EMA {k}" for k, v in (averaged or {}).items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise GanstudioError(f"{path}: the weights hold NaN or Inf ('{bad}'); this checkpoint cannot make images")
    return model.eval(), ckpt


def load_averaged_generator(model, averaged: dict, path) -> None:
    """Put the checkpoint's averaged generator weights into ``model.generator``, checking every tensor's shape first."""
    generator = getattr(model, "generator", None)
    if not isinstance(generator, torch.nn.Module):
        raise GanstudioError(f"{path}: holds generator EMA weights, but model '{model.config.model}' has no 'generator' network")
    expected = generator.state_dict()
    for key, tensor in expected.items():
        if key not in averaged or tuple(averaged[key].shape) != tuple(tensor.shape):
            found = tuple(averaged[key].shape) if key in averaged else "missing"
            raise GanstudioError(f"{path}: the generator EMA weights do not fit: 'generator.{key}' is {found} in the file, "
                                 f"{tuple(tensor.shape)} in the model")
    generator.load_state_dict(averaged)


def class_index(model, text: str) -> int:
    """A class of a conditional model by name (case-insensitive, a unique prefix is enough) or index."""
    names = list(model.config.class_names) or [str(i) for i in range(model.config.num_classes)]
    if model.condition != "class":
        raise GanstudioError(f"--class: model '{model.config.model}' is not class-conditional (it generates without a class)")
    if text.isdigit() and int(text) < len(names):
        return int(text)
    lowered = [n.lower() for n in names]
    hits = [i for i, n in enumerate(lowered) if n == text.lower()] or [i for i, n in enumerate(lowered) if n.startswith(text.lower())]
    if len(hits) != 1:
        raise GanstudioError(f"--class {text}: expected one of {', '.join(names)} (or an index 0-{len(names) - 1})")
    return hits[0]


def class_labels(model, text: Optional[str], n: int, generator: Optional[torch.Generator] = None) -> Optional[torch.Tensor]:
    """Labels for n samples: all of class ``text`` when given, else what the model draws by default (None when
    unconditional)."""
    if text is not None:
        return torch.full((n,), class_index(model, text), dtype=torch.long)
    return model.sample_labels(n, generator=generator)


@torch.no_grad()
def generate_images(model, latents: torch.Tensor, labels: Optional[torch.Tensor] = None, device="cpu", batch_size: int = 500,
                    progress: Optional[Callable[[int], None]] = None) -> torch.Tensor:
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
