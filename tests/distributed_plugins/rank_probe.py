"""A plugin for tests/test_distributed.py: lifecycle hooks run on every rank, so it can see each rank's weights
(RANK_PROBE_DIR: saves rank<r>.pt when training ends) and make one rank fail (PROBE_FAIL_RANK at PROBE_FAIL_STEP)."""

import os
from pathlib import Path

import torch

from ganstudio import hookimpl


@hookimpl
def after_training_step(run, step):
    if os.environ.get("PROBE_FAIL_RANK") == str(run.rank) and step == int(os.environ.get("PROBE_FAIL_STEP", "3")):
        raise RuntimeError(f"probe failure on rank {run.rank} at step {step}")


@hookimpl
def after_training_run(run, step, reason):
    folder = os.environ.get("RANK_PROBE_DIR")
    if folder:
        weights = {k: v.detach().cpu() for k, v in run.model.named_parameters()}
        torch.save(
            {"step": step, "world_size": run.world_size, "weights": weights}, Path(folder) / f"rank{run.rank}.pt"
        )
