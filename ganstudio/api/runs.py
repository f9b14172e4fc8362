"""Reading a trained run back: ``load_run`` (the model rebuilt from its checkpoint, and a ``RunInfo`` saying what
the run is) for plugins, notebooks and commands; ``load_model`` beneath it for the core. Imports store and config
only; any module may import it.

    model, info = load_run("fashion-dcgan")               # checkpoints/fashion-dcgan/last.pt, EMA weights if any
    model, info = load_run("runs/best.pt", ema=False)     # a checkpoint file, the raw generator weights
    images = model.generate(model.sample_latent(16), model.sample_labels(16))   # float [-1, 1]; info.step, info.classes
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import torch

from ganstudio.api.options import recorded_options
from ganstudio.api.types import ModelConfig
from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.limits import clean_text
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.store.paths import is_file
from ganstudio.store.runs import NAME, choose_checkpoint, run_name_of

DEFAULT_CHECKPOINTS_DIR = TrainConfig.default("checkpoints_dir")  # load_run's default, as the CLI's


@dataclass(frozen=True)
class RunInfo:
    """What a checkpoint says about its run (the layout it is read from: docs/plugins.md, "The checkpoint")."""

    name: str  # the run name (--name, default <data>-<model>)
    path: Path  # the checkpoint file read
    chosen: str  # how it was chosen, for messages: "run 'fashion-dcgan'", "--checkpoint", "the newest gan run, ..."
    model: str  # the model plugin's name, e.g. "dcgan"
    kind: str  # "gan" or "classifier"
    step: int  # training steps completed
    images_seen: int  # real images drawn over the whole run
    finished: bool  # the run reached its --steps / --epochs target
    data: str  # the dataset plugin's name, e.g. "fashion"
    image_shape: tuple  # (C, H, W) of the training data, what generate() returns per image
    classes: tuple = ()  # class names (conditional models: label i is classes[i]); empty for unlabelled data
    has_ema: bool = False  # the checkpoint holds averaged (EMA) generator weights
    ema: bool = False  # the returned model's generator holds them (has_ema, and ema=True was asked)
    results: dict = field(default_factory=dict)  # what the model's evaluate() returned (e.g. test accuracy)
    checkpoint: dict = field(default_factory=dict, repr=False, compare=False)  # the whole checkpoint, as loaded


def load_run(
    name_or_path: Union[str, Path, None] = None,
    ema: bool = True,
    plugins=None,
    checkpoints_dir=DEFAULT_CHECKPOINTS_DIR,
    kind: Optional[str] = None,
):
    """(model, RunInfo) from a run name under ``checkpoints_dir``, a checkpoint file, or None for the newest run
    (of ``kind`` when given). The model is on the CPU in eval mode; with ``ema`` (the default) a GAN's generator
    holds the averaged weights when the checkpoint has them. ``plugins``: the loaded plugins the model plugin comes
    from (default: everything installed, as the CLI loads it). Any problem is a one-line GanstudioError."""
    as_path = name_or_path is not None and (
        isinstance(name_or_path, Path) or not NAME.fullmatch(str(name_or_path)) or is_file(name_or_path)
    )
    path, chosen = choose_checkpoint(
        str(name_or_path) if as_path else None, None if as_path else name_or_path, checkpoints_dir, kind=kind
    )
    return load_chosen(path, chosen, plugins, ema=ema, kind=kind)


def load_chosen(path, chosen: str, plugins, ema: bool = True, kind: Optional[str] = None):
    """(model, RunInfo) from a checkpoint already chosen (``chosen`` says how, for messages)."""
    if plugins is None:
        # The plugin loader sits above the API (it imports it), so it is reached at call time, not imported here.
        plugins = importlib.import_module("ganstudio.plugins").load_plugins()
    model, ckpt = load_model(path, plugins, kind=kind, ema=ema)
    return model, run_info(ckpt, Path(path), chosen, ema_used=ema)


def run_info(ckpt: dict, path: Path, chosen: str, ema_used: bool) -> RunInfo:
    progress, data, info = ckpt.get("progress") or {}, ckpt.get("data") or {}, ckpt["model"]
    try:
        name = run_name_of(ckpt)
    except GanstudioError:  # a hand-made or renamed file: the folder it lies in names the run
        name = path.parent.name
    has_ema = bool((ckpt.get("ema") or {}).get("weights"))
    return RunInfo(
        name=name,
        path=path,
        chosen=chosen,
        model=clean_text(info["name"]),
        kind=info.get("kind", "gan"),
        step=int(progress.get("step", 0)),
        images_seen=int(progress.get("images_seen", 0)),
        finished=bool(progress.get("finished", False)),
        data=clean_text(data.get("name", "")),
        image_shape=tuple(info["config"]["image_shape"]),
        # Inert text: the checkpoint reader bounded these; control characters (escape codes) go here.
        classes=tuple(clean_text(c) for c in info["config"].get("class_names") or data.get("classes") or ()),
        has_ema=has_ema,
        ema=has_ema and ema_used,
        results=dict(ckpt.get("results") or {}),
        checkpoint=ckpt,
    )


def recorded_config(entry, stored: dict) -> ModelConfig:
    """The ModelConfig a checkpoint stored, with the values its model's later-added options had then."""
    return ModelConfig(**{**stored, "options": recorded_options(entry.options, stored.get("options") or {})})


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
            raise GanstudioError(
                f"{what}: '{key}' is {tuple(state[key].shape)} in the file, {tuple(tensor.shape)} in the model"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise GanstudioError(f"{what}: it holds '{extra[0]}'{more}, which the model does not have")


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
        config, state = recorded_config(plugins.models[name], info["config"]), ckpt["state"]["model"]
        # Building initialises weights from the global random stream; these are overwritten at once, and a model
        # loaded inside a training run (eval's classifier) must not move that run's stream.
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
    check_finite(state, averaged, path)
    return model.eval(), ckpt


def check_finite(state: dict, averaged: Optional[dict], path) -> None:
    def first_bad(tensors: dict) -> Optional[str]:
        return next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)

    bad = first_bad(state) or (f"EMA {first_bad(averaged)}" if averaged and first_bad(averaged) else None)
    if bad is not None:
        raise GanstudioError(f"{path}: the weights hold NaN or Inf ('{bad}'); this checkpoint cannot make images")


def load_averaged_generator(model, averaged: dict, path) -> None:
    """Put the checkpoint's averaged generator weights into ``model.generator``, checking every tensor's shape first."""
    generator = getattr(model, "generator", None)
    if not isinstance(generator, torch.nn.Module):
        raise GanstudioError(
            f"{path}: holds generator EMA weights, but model '{model.config.model}' has no 'generator' network"
        )
    expected = generator.state_dict()
    for key, tensor in expected.items():
        if key not in averaged or tuple(averaged[key].shape) != tuple(tensor.shape):
            found = tuple(averaged[key].shape) if key in averaged else "missing"
            raise GanstudioError(
                f"{path}: the generator EMA weights do not fit: 'generator.{key}' is {found} in the "
                f"file, {tuple(tensor.shape)} in the model"
            )
    generator.load_state_dict(averaged)
