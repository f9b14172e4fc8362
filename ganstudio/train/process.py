"""A run's process: its set-up (prepare_process) and the RNG streams and machine its checkpoint records."""

from __future__ import annotations

import os
import platform
import random

import torch

from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError, OtherRankFailed
from ganstudio.train.accel import configure_backends, resolve_device
from ganstudio.train.distributed import Distributed


def prepare_process(config: TrainConfig, dist: Distributed) -> torch.device:
    """This process's device: resolved from --device, the process group joined under torchrun (cuda:<local rank>
    on GPUs), the backends tuned for it. Done once per process, before its run is built."""
    device = dist.setup(resolve_device(config.device))
    if config.sync_batchnorm and dist.enabled and device.type != "cuda":
        # Every rank finds this; rank 0 says it.
        raise (GanstudioError if dist.is_main else OtherRankFailed)(
            "--sync-batchnorm needs CUDA devices (PyTorch's SyncBatchNorm runs only on GPUs); on the CPU leave it off"
        )
    configure_backends(device)
    return device


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
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{platform.machine()}, {os.cpu_count()} cores"
    return f"{where}, torch {torch.__version__.split('+')[0]}"
