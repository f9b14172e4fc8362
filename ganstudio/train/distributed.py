"""Training on several processes with PyTorch's own engine: torchrun starts them, torch.distributed connects them,
DistributedDataParallel averages their gradients. One process per GPU (nccl) or per share of the CPU (gloo).

    torchrun --nproc-per-node 2 -m ganstudio train --data fashion      # or: ganstudio train --nproc 2 ...
    dist = Distributed.from_environment()       # rank / local rank / world size as torchrun set them (1 process: off)
    device = dist.setup(resolve_device("auto"))  # the process group; cuda:<local rank> on GPUs
    with dist.wrapped(model):                    # the model's networks called through their DDP wrappers
        model.training_step(...)

Every rank holds the same weights (DDP broadcasts rank 0's at the start and averages the gradients of every step),
draws its own shard of every epoch (batches.py) and its own latents. Rank 0 alone writes checkpoints, grids, logs
and the live view; the loop's decisions (stop on a signal, out of time, save now) are agreed at every log step so
that all ranks take the same number of steps. docs/distributed.md has the commands.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from ganstudio.errors import GanstudioError

FAILURE_KEY = "ganstudio/failure"  # in torchrun's store: the first rank to fail says why, so the others can name it


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    sync_batchnorm: bool = False  # --sync-batchnorm: batch statistics over the global batch, not each rank's share
    launched: bool = False  # started by torchrun: a process group and DDP, even for a world of one (its overhead)
    _wrappers: Optional[dict] = None  # attribute name -> DDP wrapper, made by wrap()

    @classmethod
    def from_environment(cls, sync_batchnorm: bool = False) -> "Distributed":
        """The process's place as torchrun's environment variables give it; a plain process is rank 0 of 1."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError:
            raise GanstudioError(
                "WORLD_SIZE, RANK and LOCAL_RANK must be integers (they are set by torchrun)"
            ) from None
        return cls(rank, local, world, sync_batchnorm, under_torchrun())

    @property
    def enabled(self) -> bool:
        return self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def setup(self, device):
        """Join the process group (nccl on CUDA, gloo on the CPU); returns this rank's device."""
        import torch
        import torch.distributed as dist

        if not self.enabled:
            return device
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise GanstudioError(
                    f"rank {self.rank}: local rank {self.local_rank} has no GPU (this machine has "
                    f"{torch.cuda.device_count()}); use --nproc-per-node <= the number of GPUs"
                )
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            # Ctrl-C / SIGTERM must reach the main thread only (GracefulStop handles them there): a signal landing in
            # one of gloo's or DDP's threads can interrupt its socket calls. Threads started from here on inherit
            # the mask; GracefulStop unblocks the main thread when training starts (pending signals arrive then).
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            # A rank that fails tells the others through the store and torchrun stops them all; the timeout only
            # bounds a collective that hangs for another reason (a lost node).
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=30))
        return device

    @property
    def backend(self) -> str:
        import torch.distributed as dist

        return dist.get_backend() if self.enabled and dist.is_initialized() else "none"

    def close(self, finished: bool = False) -> None:
        """Leave the process group. After a clean finish every rank waits for the others first, and the DDP wrappers
        (which hold the group's communication threads) are freed before the group: a rank that tears the group down
        while another still uses it, or with a wrapper's threads still alive, can abort at exit."""
        import torch.distributed as dist

        self._wrappers = None
        if self.enabled and dist.is_initialized():
            if finished:
                dist.barrier()
            gc.collect()
            dist.destroy_process_group()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    # --- the networks -----------------------------------------------------------------------------------------

    def wrap(self, model, device) -> None:
        """Wrap the networks the model declares (TrainableModel.distributed_networks) in DDP; the model keeps its
        plain modules (state_dict keys, EMA, sampling are unchanged) and calls the wrappers inside ``wrapped``."""
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        if not self.enabled:
            return
        networks = model.distributed_networks()
        if not networks:
            raise GanstudioError(f"model '{model.config.model}' declares no networks to train on several processes")
        if self.sync_batchnorm:
            for name, network in networks.items():
                setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(network))
            networks = model.distributed_networks()
        ids = [device.index] if device.type == "cuda" else None
        # Rank 0's weights and buffers are broadcast here: every rank starts from the same model.
        # Batch-norm buffers follow rank 0's at every forward, unless synchronised batch norm computes them globally.
        buffers = {"broadcast_buffers": False} if self.sync_batchnorm else {}
        # The model's own DDP settings (TrainableModel.ddp_options), e.g. find_unused_parameters for a step that
        # leaves some parameters without gradients (an R1-only discriminator step).
        options = {**buffers, **ddp_options(model)}
        self._wrappers = {name: DDP(network, device_ids=ids, **options) for name, network in networks.items()}

    @contextlib.contextmanager
    def wrapped(self, model):
        """The model's networks are their DDP wrappers inside (a training step), the plain modules again after."""
        if not self._wrappers:
            yield
            return
        plain = {name: model._modules[name] for name in self._wrappers}
        model._modules.update(self._wrappers)
        try:
            yield
        finally:
            model._modules.update(plain)

    # --- agreement between ranks ------------------------------------------------------------------------------

    def agree(self, *values: int) -> list[int]:
        """The largest of each value over all ranks, on every rank (one tiny all-reduce): a flag true anywhere is
        true everywhere, and a signal that reached one rank stops them all."""
        import torch
        import torch.distributed as dist

        if not self.enabled:
            return [int(v) for v in values]
        t = torch.tensor([int(v) for v in values], dtype=torch.int64, device=self.collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [int(v) for v in t.tolist()]

    def sum_(self, tensor) -> None:
        """All-reduce (sum) in place."""
        import torch.distributed as dist

        if self.enabled:
            dist.all_reduce(tensor)

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        import torch.distributed as dist

        if not self.enabled:
            return value
        holder = [value if self.is_main else None]
        dist.broadcast_object_list(holder, src=0, device=self.collective_device())
        return holder[0]

    def collective_device(self):
        import torch
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    # --- failures ---------------------------------------------------------------------------------------------

    def record_failure(self, message: str) -> None:
        """Tell the other ranks (through torchrun's store) why this rank stops; the first failure is kept."""
        store = _store()
        if store is None:
            return
        with contextlib.suppress(Exception):
            if not store.check([FAILURE_KEY]):
                store.set(FAILURE_KEY, f"rank {self.rank}: {message}")

    def failure_elsewhere(self, wait_s: float = 3.0) -> Optional[str]:
        """What another rank recorded when it failed (waiting briefly for it to say), or None."""
        store = _store()
        if store is None:
            return None
        deadline = time.monotonic() + wait_s
        while True:
            with contextlib.suppress(Exception):
                if store.check([FAILURE_KEY]):
                    message = store.get(FAILURE_KEY).decode()
                    return None if message.startswith(f"rank {self.rank}:") else message
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


DDP_OPTIONS = ("find_unused_parameters", "static_graph")  # what a model may set for DistributedDataParallel


def ddp_options(model) -> dict:
    """The model's TrainableModel.ddp_options, checked: only the settings of DDP_OPTIONS, as booleans."""
    options = dict(getattr(model, "ddp_options", None) or {})
    unknown = sorted(set(options) - set(DDP_OPTIONS))
    if unknown:
        raise GanstudioError(
            f"model '{model.config.model}' sets ddp_options {', '.join(unknown)}: the settings "
            f"are {', '.join(DDP_OPTIONS)}"
        )
    return {key: bool(value) for key, value in options.items()}


def _store():
    import torch.distributed as dist

    try:
        from torch.distributed.distributed_c10d import _get_default_store

        return _get_default_store() if dist.is_initialized() else None
    except Exception:
        return None


def under_torchrun() -> bool:
    """True in a process torchrun started (it sets TORCHELASTIC_RUN_ID, or at least RANK and WORLD_SIZE)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


def rank_prefix() -> str:
    """'rank 1: ' in a process started by torchrun with more than one rank, else ''."""
    try:
        return f"rank {int(os.environ['RANK'])}: " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    except (KeyError, ValueError):
        return ""
