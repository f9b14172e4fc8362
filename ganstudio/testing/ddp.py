"""The contract kit's two-process check: a model's training step under DistributedDataParallel, as ``--nproc 2``
runs it, on two forked CPU processes joined by gloo. ganstudio.testing's ``check_model_plugin`` calls it; only the
kit and tests import it."""

from __future__ import annotations

import multiprocessing
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Callable

import torch

# PyTorch's own error when a step leaves parameters of a wrapped network without a gradient, and what fixes it.
UNFINISHED = "Expected to have finished reduction"
ADVICE = (
    "PyTorch's 'Expected to have finished reduction' error: a step leaves parameters of a network without "
    "gradients; set ddp_options = {'find_unused_parameters': True} on the model when a step skips part of a "
    "network, or add 0 * its output to a loss that does not reach them all (an R1-only D step: the last bias)"
)


def check_distributed_step(build: Callable, data, folder, steps: int = 3, batch_size: int = 8) -> None:
    """``steps`` training steps of ``build()`` on 2 processes (each on its half of ``data``), through the engine's
    DDP wrapping with the model's ``ddp_options``; the ranks must end with the same weights. Raises AssertionError
    with one line naming what broke. Forks (the processes share the built plugins); skipped where fork is not
    available (Windows)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return
    torch.compiler.disable(lambda: None)  # loads TorchDynamo, which DDP imports when built: paid once, not per fork

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("ddp-*"):
        stale.unlink()
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_rank, args=(rank, build, data, folder, steps, batch_size)) for rank in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    failures = [(folder / f"ddp-failure-{rank}.txt") for rank in (0, 1)]
    reasons = [path.read_text().strip() for path in failures if path.is_file()]
    if reasons:
        raise AssertionError(f"on 2 processes (--nproc 2): {reasons[0]}")
    codes = [process.exitcode for process in processes]
    assert codes == [0, 0], f"on 2 processes (--nproc 2): the ranks exited {codes} (log: {folder / 'ddp-log-0.txt'})"


def _rank(rank: int, build: Callable, data, folder: Path, steps: int, batch_size: int) -> None:
    """One rank: its output to a log file, its one-line failure (if any) to ddp-failure-<rank>.txt, exit status 1."""
    import torch.distributed as dist

    from ganstudio.train.distributed import Distributed

    log = os.open(folder / f"ddp-log-{rank}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    torch.set_num_threads(1)  # a forked child must not enter the parent's OpenMP pool
    engine = Distributed(rank=rank, local_rank=rank, world_size=2, launched=True)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{folder.resolve() / 'ddp-store'}",
            rank=rank,
            world_size=2,
            timeout=timedelta(seconds=60),
        )
        _train(engine, build, data, rank, steps, batch_size)
    except BaseException as e:  # noqa: BLE001  (every failure becomes the kit's one line)
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = ADVICE if UNFINISHED in str(e) else f"rank {rank}: {type(e).__name__}: {text[:300]}"
        (folder / f"ddp-failure-{rank}.txt").write_text(reason)
        sys.stdout.flush()
        os._exit(1)
    engine.close(finished=True)
    sys.stdout.flush()
    os._exit(0)


def _train(engine, build: Callable, data, rank: int, steps: int, batch_size: int) -> None:
    import torch.distributed as dist

    from ganstudio.api.images import to_float
    from ganstudio.testing import FixedBatches, step_context

    torch.manual_seed(rank)  # different starting weights: DDP must broadcast rank 0's
    model = build()
    optimizers = model.configure_optimizers()
    engine.wrap(model, torch.device("cpu"))
    shard = slice(rank, None, 2)
    batches = FixedBatches(
        to_float(data.images[shard]),
        data.labels[shard] if data.labels is not None else None,
        data.attributes[shard].float() if data.attributes is not None else None,
        batch_size,
    )
    for step in range(steps):
        with engine.wrapped(model):
            model.training_step(batches, optimizers, step_context(step, step / steps, batch_size * 2))
    mine = {name: p.detach().clone() for name, p in model.named_parameters()}
    for name, value in mine.items():
        gathered = [torch.empty_like(value) for _ in range(2)]
        dist.all_gather(gathered, value.contiguous())
        if not torch.equal(gathered[0], gathered[1]):
            raise AssertionError(
                f"after {steps} steps the ranks hold different '{name}': inside training_step call "
                f"the networks distributed_networks() names (self.discriminator(x)), not their "
                f"submodules, so DDP averages their gradients"
            )
