"""Checkpoints: the payload of a run, written atomically and durably, read with weights_only=True.

A checkpoint is a dict of plain types and tensors, so it loads without unpickling code: ``format``/``version``
identify it; ``model``/``data``/``config`` say how to rebuild the run; ``state`` holds the weights, optimizers,
schedulers, GradScaler; ``progress``, ``rng``, ``callbacks`` let a resumed run continue exactly.
Version 1 files (ganstudio 0.1) are upgraded on load.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import torch

from ganstudio import __version__
from ganstudio.store.atomic import atomic_write
from ganstudio.errors import GanstudioError

FORMAT = "ganstudio-checkpoint"
VERSION = 2


def save_checkpoint(payload: dict, path) -> Path:
    """Write ``payload`` to ``path`` so that a crash at any moment leaves either the old or the new file."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    try:
        atomic_write(path, lambda tmp: _write(payload, tmp), durable=True)
    except OSError as e:
        raise GanstudioError(f"could not write checkpoint {path}: {e.strerror or e}; the previous checkpoint is intact") from e
    except RuntimeError as e:  # torch's zip writer reports a full disk as "[enforce fail ...] file write failed"
        if "write" not in str(e) and "inline_container" not in str(e):
            raise
        free = _free_bytes(path.parent)
        raise GanstudioError(f"could not write checkpoint {path}: the write failed with {free:,} bytes free on that disk "
                             f"(is it full?); the previous checkpoint is intact") from e
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
    if not path.is_file():
        raise GanstudioError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise GanstudioError(f"{path}: refused: the file holds pickled objects that weights_only=True does not allow ({first[:160]})") from None
    except Exception as e:  # torch surfaces a damaged file as RuntimeError, EOFError, KeyError, BadZipFile, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanstudioError(f"{path}: not a readable checkpoint (truncated or corrupt: {reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanstudioError(f"{path}: not a ganstudio checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") == 1:
        payload = upgrade_v1(payload)
    if payload.get("version") != VERSION:
        raise GanstudioError(f"{path}: checkpoint version {payload.get('version')} is not supported by this ganstudio "
                             f"{__version__} (it reads versions 1 and {VERSION})")
    return payload


def upgrade_v1(payload: dict) -> dict:
    """Version 1 kept the data options flat in the config and counted only steps (one batch per step)."""
    config = dict(payload.get("config", {}))
    config["data"] = {"name": config.pop("data", None), "root": config.pop("data_root", None), "download": config.pop("download", False),
                      "image_size": config.pop("image_size", None), "channels": config.pop("channels", None), "options": {}}
    options = config.pop("callback_options", {}) or {}
    config["grid_every"] = options.get("grid_every")
    progress = dict(payload.get("progress", {}))
    progress["images_seen"] = int(progress.get("step", 0)) * int(config.get("batch_size", 128))
    model = dict(payload.get("model", {}))
    model["config"] = {**model.get("config", {}), "class_names": list(payload.get("data", {}).get("classes") or []),
                       "model": model.get("name", "")}
    return {**payload, "version": VERSION, "config": config, "progress": progress, "model": model,
            "fixed_latents": payload.get("fixed_noise"), "fixed_labels": None, "callbacks": {}}


def checkpoint_kind(path) -> str | None:
    try:
        return load_checkpoint(path)["model"]["kind"]
    except (GanstudioError, KeyError, TypeError):
        return None


# --- a run's state -----------------------------------------------------------------------------------


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuple(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def machine_description(device) -> str:
    """'x86_64, 2 cores, torch 2.x' or the GPU's name: where a run trained, for `ganstudio runs` and reports."""
    import os
    import platform

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} cores"
    return f"{where}, torch {torch.__version__.split('+')[0]}"


def run_payload(run, callback_state: dict) -> dict:
    """Everything needed to sample from the run, or resume it exactly (``run`` is a ganstudio.train.run.Run)."""
    from dataclasses import asdict

    model_config = run.model.config
    scaler = run.model.grad_scaler
    return {
        "ganstudio_version": __version__,
        "config": asdict(run.config),
        "model": {
            "name": run.config.model, "plugin": run.model_plugin.plugin, "kind": run.model.kind, "condition": run.model.condition,
            "config": {**asdict(model_config), "image_shape": tuple(model_config.image_shape)},
        },
        "data": {
            "name": run.config.data.name, "plugin": run.dataset_plugin.plugin, "source": run.data.source,
            "image_shape": tuple(run.data.image_shape), "size": len(run.data), "classes": list(run.data.classes or []),
        },
        "state": {
            "model": run.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in run.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in run.schedulers.items()},
        },
        "progress": {"step": run.step, "images_seen": run.images_seen, "steps_per_epoch": run.batches.per_epoch,
                     "elapsed_s": run.elapsed, "finished": run.finished,
                     "world_size": run.dist.world_size, "device": str(run.device), "precision": run.precision.name,
                     "machine": machine_description(run.device)},
        "ema": run.ema.state_dict() if run.ema is not None else None,  # the averaged generator: what sample and eval use
        "rng": rng_state(run.device),
        "grad_scaler": scaler.state_dict() if scaler is not None else {},
        "fixed_latents": run.fixed_latents.cpu(),
        "fixed_labels": run.fixed_labels.cpu() if run.fixed_labels is not None else None,
        "metrics": run.history[-1] if run.history else {},
        "results": run.results,
        "callbacks": callback_state,
    }


def restore_state(run, ckpt: dict) -> None:
    """Put a checkpoint's weights, optimizer/scheduler/scaler states, position and RNG streams into ``run``."""
    run.model.load_state_dict(ckpt["state"]["model"])
    for key, opt in run.optimizers.items():
        opt.load_state_dict(ckpt["state"]["optimizers"][key])
    for key, scheduler in run.schedulers.items():
        if key in ckpt["state"].get("schedulers", {}):
            scheduler.load_state_dict(ckpt["state"]["schedulers"][key])
    if run.ema is not None and ckpt.get("ema"):
        try:
            run.ema.load_state_dict(ckpt["ema"])
        except RuntimeError as e:
            raise GanstudioError(f"the checkpoint's generator EMA does not fit the model: {str(e).splitlines()[0][:160]}") from None
    elif run.ema is not None:  # a run saved without an EMA: the average starts from the weights as they are
        run.ema.averaged.update_parameters(run.model.generator)
    run.step = int(ckpt["progress"]["step"])
    # Images seen, not batches: a run saved by W processes resumes on one (or the reverse) at the same place.
    run.batches.drawn = int(ckpt["progress"].get("images_seen", run.step * run.config.batch_size)) // run.batches.global_batch
    run.elapsed_before = float(ckpt["progress"].get("elapsed_s", 0.0))
    if ckpt.get("fixed_latents") is not None:
        run.fixed_latents = ckpt["fixed_latents"]
    if ckpt.get("fixed_labels") is not None:
        run.fixed_labels = ckpt["fixed_labels"]
    set_rng_state(ckpt["rng"], run.device)
    if run.model.grad_scaler is not None and ckpt.get("grad_scaler"):
        run.model.grad_scaler.load_state_dict(ckpt["grad_scaler"])
