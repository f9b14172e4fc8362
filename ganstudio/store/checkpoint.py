"""Checkpoint files: a run's payload written atomically and durably, read with weights_only=True, validated and
upgraded from older versions. What goes into the payload is the run's own (Run.state_dict in ganstudio/train/run.py).

A checkpoint is a dict of plain types and tensors, so it loads without unpickling code: ``format``/``version``
identify it; ``model``/``data``/``config`` say how to rebuild the run; ``state`` holds the weights, optimizers,
schedulers, GradScaler; ``progress``, ``rng``, ``callbacks`` let a resumed run continue exactly.
Version 1 files (ganstudio 0.1) are upgraded on load.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ganstudio import __version__, limits
from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.store.atomic import atomic_write
from ganstudio.store.paths import is_file, shown

FORMAT = "ganstudio-checkpoint"
VERSION = 2


def save_checkpoint(payload: dict, path) -> Path:
    """Write ``payload`` to ``path`` so that a crash at any moment leaves either the old or the new file."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    try:
        atomic_write(path, lambda tmp: _write(payload, tmp), durable=True)
    except OSError as e:
        raise GanstudioError(
            f"could not write checkpoint {path}: {e.strerror or e}; the previous checkpoint is intact"
        ) from e
    except RuntimeError as e:  # torch's zip writer reports a full disk as "[enforce fail ...] file write failed"
        if "write" not in str(e) and "inline_container" not in str(e):
            raise
        free = _free_bytes(path.parent)
        raise GanstudioError(
            f"could not write checkpoint {path}: the write failed with {free:,} bytes free on that disk "
            f"(is it full?); the previous checkpoint is intact"
        ) from e
    return path


def _free_bytes(folder: Path) -> int:
    import shutil

    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1


def _write(payload: dict, tmp: Path) -> None:
    with open(tmp, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path, mmap: bool = False) -> dict:
    """Load and validate a ganstudio checkpoint; every failure is one line naming the file. ``mmap``: tensors stay
    in the file until touched (reading a run's progress and scores without its weights)."""
    path = Path(path)
    if not is_file(path):
        raise GanstudioError(f"checkpoint {shown(path)} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise GanstudioError(
            f"{path}: refused: the file holds pickled objects that weights_only=True does not allow ({first[:160]})"
        ) from None
    except Exception as e:  # torch surfaces a damaged file as RuntimeError, EOFError, KeyError, BadZipFile, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanstudioError(f"{path}: not a readable checkpoint (truncated or corrupt: {reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanstudioError(f"{path}: not a ganstudio checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") == 1:
        payload = upgrade_v1(payload)
    if payload.get("version") != VERSION:
        raise GanstudioError(
            f"{path}: checkpoint version {payload.get('version')} is not supported by this ganstudio "
            f"{__version__} (it reads versions 1 and {VERSION})"
        )
    check_text(payload, path)
    return payload


def _text(value, what: str, path, limit: int) -> None:
    """One line when a string the checkpoint records is not text or is longer than ``limit`` characters."""
    if value is None:
        return
    if not isinstance(value, str):
        raise GanstudioError(f"{path}: {what} is not text ({type(value).__name__}); the checkpoint is damaged")
    if len(value) > limit:
        raise GanstudioError(
            f"{path}: {what} is {len(value):,} characters; the most is {limit:,} (the checkpoint is damaged or crafted)"
        )


def _section(payload: dict, *keys) -> dict:
    for key in keys:
        payload = payload.get(key) if isinstance(payload, dict) else None
    return payload if isinstance(payload, dict) else {}


def check_text(payload: dict, path) -> None:
    """Every string a reader shows or matches is bounded (limits.TEXT_CHARS, limits.CLASS_NAMES, limits.PATH_CHARS),
    before anything renders it: a 100,000-character class name would otherwise grow ``report`` past 3.4 GB."""
    config, data, model = _section(payload, "config"), _section(payload, "data"), _section(payload, "model")
    names = {
        "run name": config.get("name"),
        "model name": model.get("name"),
        "model plugin": model.get("plugin"),
        "model kind": model.get("kind"),
        "data name": _section(config, "data").get("name"),
        "dataset": data.get("name"),
    }
    for what, value in names.items():
        _text(value, what, path, limits.TEXT_CHARS)
    for what, value in (("data root", _section(config, "data").get("root")), ("data source", data.get("source"))):
        _text(value, what, path, limits.PATH_CHARS)
    for classes in (_section(model, "config").get("class_names"), data.get("classes")):
        if isinstance(classes, (list, tuple)):
            limits.at_most(
                f"{path}: the number of class names",
                len(classes),
                limits.CLASS_NAMES,
                "the checkpoint is damaged or crafted",
            )
            for i, name in enumerate(classes):
                _text(name, f"class name {i}", path, limits.TEXT_CHARS)
    options = {
        **_section(config, "model_options"),
        **_section(config, "data", "options"),
        **_section(model, "config", "options"),
    }
    for key, value in options.items():
        _text(str(key), "a model option name", path, limits.TEXT_CHARS)
        if isinstance(value, str):
            _text(value, f"option '{limits.clean_text(key, 40)}'", path, limits.TEXT_CHARS)
    _bounded_results(payload.get("results"), "results", path)


def _bounded_results(value, what: str, path, depth: int = 0) -> None:
    """The strings of ``results`` (scores, the paths an eval used), a few levels deep, at most limits.PATH_CHARS."""
    if isinstance(value, str):
        _text(value, what, path, limits.PATH_CHARS)
    elif isinstance(value, dict) and depth < 3:
        for key, item in value.items():
            _bounded_results(item, f"{what}.{limits.clean_text(key, 40)}", path, depth + 1)
    elif isinstance(value, (list, tuple)) and depth < 3:
        limits.at_most(f"{path}: the length of {what}", len(value), limits.CLASS_NAMES, "the checkpoint is damaged")
        for item in value:
            _bounded_results(item, what, path, depth + 1)


def upgrade_v1(payload: dict) -> dict:
    """Version 1 kept the data options flat in the config and counted only steps (one batch per step)."""
    config = dict(payload.get("config", {}))
    config["data"] = {
        "name": config.pop("data", None),
        "root": config.pop("data_root", None),
        "download": config.pop("download", False),
        "image_size": config.pop("image_size", None),
        "channels": config.pop("channels", None),
        "options": {},
    }
    options = config.pop("callback_options", {}) or {}
    config["grid_every"] = options.get("grid_every")
    progress = dict(payload.get("progress", {}))
    batch_size = int(config.get("batch_size", TrainConfig.default("batch_size")))
    progress["images_seen"] = int(progress.get("step", 0)) * batch_size
    model = dict(payload.get("model", {}))
    model["config"] = {
        **model.get("config", {}),
        "class_names": list(payload.get("data", {}).get("classes") or []),
        "model": model.get("name", ""),
    }
    return {
        **payload,
        "version": VERSION,
        "config": config,
        "progress": progress,
        "model": model,
        "fixed_latents": payload.get("fixed_noise"),
        "fixed_labels": None,
        "callbacks": {},
    }


def checkpoint_kind(path) -> str | None:
    try:
        return load_checkpoint(path)["model"]["kind"]
    except (GanstudioError, KeyError, TypeError):
        return None
