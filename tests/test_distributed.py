"""Training under torchrun (ganstudio/train/distributed.py): 2 CPU processes on gloo train together with identical
weights, only rank 0 writes, resume continues, one process samples the result; two "nodes" meet through c10d rendezvous;
a rank that fails stops both with its rank named and last.pt intact; Ctrl-C to `train --nproc` saves and exits 130.
The data shards and the metric reduction are checked in-process."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ganstudio.api import ImageData
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.train.batches import DeviceBatches
from ganstudio.train.metric_window import MetricWindow

PROBE = Path(__file__).parent / "distributed_plugins"
TINY = (
    "--model",
    "dcgan",
    "--model-option",
    "width=8",
    "--model-option",
    "latent_dim=8",
    "--batch-size",
    "16",
    "--log-every",
    "2",
)


def torchrun(*args, nproc=2, extra=(), env=None, cwd, **popen):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *extra,
        "--nproc-per-node",
        str(nproc),
        "-m",
        "ganstudio",
        "--plugins-dir",
        str(PROBE),
        *map(str, args),
    ]
    if "--nnodes" not in extra:
        command[3:3] = ["--standalone"]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "GANSTUDIO_NO_ENTRY_POINTS": "1", **(env or {})}
    return subprocess.Popen(
        command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def finish(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def train_args(tiny_idx, *extra):
    return ("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)


def test_two_processes_train_as_one_and_only_rank_0_writes(workdir, tiny_idx):
    probe = workdir / "probe"
    probe.mkdir()
    code, out, err = finish(
        torchrun(
            *train_args(tiny_idx, "--steps", "6", "--callbacks", "log,grid"),
            cwd=workdir,
            env={"RANK_PROBE_DIR": str(probe)},
        )
    )
    assert code == 0, err
    assert "distributed: 2 processes (gloo), batch 16 per process, 32 per step in all" in out
    assert out.count("saved checkpoints/fashion-dcgan/last.pt at step 6") == 1  # rank 0 speaks, the others are quiet
    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in (0, 1)]  # hooks run on every rank
    assert ranks[0]["world_size"] == 2 and ranks[0]["step"] == ranks[1]["step"] == 6
    for name, weight in ranks[0]["weights"].items():  # DDP averaged the gradients: the same weights on both ranks
        assert torch.equal(weight, ranks[1]["weights"][name]), name
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")
    assert ckpt["progress"]["world_size"] == 2 and ckpt["progress"]["images_seen"] == 6 * 32
    assert all(torch.equal(ckpt["state"]["model"][k], v) for k, v in ranks[0]["weights"].items())
    assert "module." not in "".join(ckpt["state"]["model"])  # plain keys: the checkpoint loads in one process
    steps = [
        int(m) for m in re.findall(r'"step": (\d+)', (workdir / "checkpoints/fashion-dcgan/metrics.jsonl").read_text())
    ]
    assert steps == [2, 4, 6]  # one log, written once
    assert sorted(p.name for p in (workdir / "samples/fashion-dcgan").glob("step_*.png")) == [
        "step_000000.png",
        "step_000006.png",
    ]

    code, out, err = finish(
        torchrun(*train_args(tiny_idx, "--steps", "10", "--callbacks", "log", "--resume"), cwd=workdir)
    )
    assert code == 0, err
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 10
    sample = subprocess.run(
        [sys.executable, "-m", "ganstudio", "sample", "fashion-dcgan", "--n", "4", "--out", "four.npz"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "GANSTUDIO_NO_ENTRY_POINTS": "1"},
    )
    assert sample.returncode == 0, sample.stderr
    assert np.load(workdir / "four.npz")["images"].shape == (4, 28, 28, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two torchruns meeting through c10d (~8 s); `make test-all` runs it
def test_two_nodes_meet_through_c10d_rendezvous(workdir, tiny_idx):
    rendezvous = [
        "--nnodes",
        "2",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{free_port()}",
        "--rdzv-id",
        "test",
    ]
    probe = workdir / "probe"
    probe.mkdir()
    nodes = [
        torchrun(
            *train_args(tiny_idx, "--steps", "4", "--callbacks", "log"),
            nproc=1,
            extra=rendezvous,
            cwd=workdir,
            env={"RANK_PROBE_DIR": str(probe)},
        )
        for _ in range(2)
    ]
    results = [finish(node) for node in nodes]
    assert all(code == 0 for code, _, _ in results), [err[-2000:] for _, _, err in results]
    assert sum("distributed: 2 processes" in out for _, out, _ in results) == 1  # rank 0 is on one of the nodes
    weights = [torch.load(probe / f"rank{r}.pt", weights_only=True)["weights"] for r in (0, 1)]
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 4


def test_a_failing_rank_stops_both_names_itself_and_leaves_last_pt_intact(cli, workdir, tiny_idx):
    # A checkpoint of one process resumes under torchrun (until the probe makes rank 1 fail).
    code, out, err = cli(*train_args(tiny_idx, "--steps", "4", "--callbacks", "log"))
    assert code == 0, err
    before = (workdir / "checkpoints/fashion-dcgan/last.pt").read_bytes()
    code, out, err = finish(
        torchrun(
            *train_args(tiny_idx, "--steps", "40", "--callbacks", "log", "--resume"),
            cwd=workdir,
            env={"PROBE_FAIL_RANK": "1", "PROBE_FAIL_STEP": "7"},
        )
    )
    assert code != 0
    assert "rank 1: error: plugin" in err and "probe failure on rank 1 at step 7" in err  # the failing rank, by name
    assert "rank 0: error: stopped because rank 1: " in err, err  # and the other one says why it stopped
    assert "distributed: 2 processes" in out and "resuming at step 4" in out
    records = [
        json.loads(line) for line in (workdir / "checkpoints/fashion-dcgan/metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if "event" not in r][
        -1
    ] == 6  # steps 5-6 logged on two ranks before step 7 failed
    assert (
        records[-1]["event"] == "error" and "stopped because rank 1" in records[-1]["error"]
    )  # `ganstudio runs`: failed
    # No save came between step 4 and the failure (an epoch is 8 steps here): last.pt is the file it was.
    assert (workdir / "checkpoints/fashion-dcgan/last.pt").read_bytes() == before
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 4


def test_ctrl_c_to_train_nproc_saves_once_and_exits_130(workdir, tiny_idx):
    command = [
        sys.executable,
        "-m",
        "ganstudio",
        "--plugins-dir",
        str(PROBE),
        *map(str, train_args(tiny_idx, "--steps", "100000", "--callbacks", "log")),
        "--nproc",
        "2",
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GANSTUDIO_NO_ENTRY_POINTS": "1"},
    )
    metrics = workdir / "checkpoints/fashion-dcgan/metrics.jsonl"
    deadline = time.monotonic() + 90
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 130, err
    assert "starting 2 processes: torchrun --standalone --nproc-per-node 2 -m ganstudio" in err
    # Saved once; the signal went to the ranks, not to torchrun (whose own SignalException traceback would show here).
    assert out.count("(interrupted)") == 1 and "SignalException" not in err, err[-3000:]
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")
    assert ckpt["progress"]["finished"] is False and ckpt["progress"]["step"] >= 4


def test_ranks_take_disjoint_slices_whose_union_is_the_single_process_epoch():
    data = ImageData(
        images=torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous(),
        labels=torch.arange(40),
        source="test",
    )
    single = DeviceBatches(data, 8, seed=3, device=torch.device("cpu"))
    ranks = [DeviceBatches(data, 4, seed=3, device=torch.device("cpu"), rank=r, ranks=2) for r in (0, 1)]
    assert single.per_epoch == ranks[0].per_epoch == 5 and ranks[0].images_drawn == 0
    for _ in range(12):  # past an epoch boundary
        whole = single.next().labels
        parts = [r.next().labels for r in ranks]
        assert torch.equal(torch.cat(parts), whole)
    assert ranks[1].images_drawn == single.images_drawn == 96 and ranks[1].epochs_completed == 2


def test_metric_window_averages_over_ranks():
    # Two ranks' windows, summed by a fake all-reduce: the record is the mean over every rank's steps.
    windows = [MetricWindow(0, 0, reduce=None, ranks=2) for _ in range(2)]
    for rank, window in enumerate(windows):
        for value in (1.0, 3.0):
            window.add({"loss": torch.tensor(value + 10 * rank)})
    totals = [torch.stack([w.sums["loss"], torch.tensor(float(w.unmasked))]) for w in windows]
    for window in windows:
        window.reduce = lambda t: totals[0] + totals[1]
    record = windows[0].flush(2, 64, 0.5)
    assert record["loss"] == pytest.approx((1 + 3 + 11 + 13) / 4) and "fp16_skipped_steps" not in record


@pytest.mark.parametrize(
    "model, options",
    [
        ("cdcgan", {"width": 8, "latent_dim": 8}),
        # two in the default run, all four in `make test-all` (each is a torchrun of two processes, ~6 s)
        pytest.param("wgan-gp", {"width": 8, "latent_dim": 8, "n_critic": 2}, marks=pytest.mark.slow),
        ("sngan", {"width": 8, "latent_dim": 8}),
        pytest.param("classifier", {"width": 8}, marks=pytest.mark.slow),
    ],
)
def test_every_built_in_model_trains_under_torchrun(workdir, tiny_idx, model, options):
    probe = workdir / "probe"
    probe.mkdir()
    flags = [x for key, value in options.items() for x in ("--model-option", f"{key}={value}")]
    args = (
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        model,
        *flags,
        "--batch-size",
        "16",
        "--log-every",
        "2",
        "--steps",
        "2",
        "--callbacks",
        "log",
    )
    code, out, err = finish(torchrun(*args, cwd=workdir, env={"RANK_PROBE_DIR": str(probe)}))
    assert code == 0, err[-3000:]
    weights = [torch.load(probe / f"rank{r}.pt", weights_only=True)["weights"] for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    ckpt = load_checkpoint(workdir / f"checkpoints/fashion-{model}/last.pt")
    d_batches = {"wgan-gp": 2, "sngan": 5}.get(model, 1)  # real batches a step draws: n_critic (set to 2) / n_dis
    assert ckpt["progress"]["step"] == 2 and ckpt["progress"]["images_seen"] == 2 * 32 * d_batches


def test_sync_batchnorm_on_the_cpu_is_one_line_from_rank_0(workdir, tiny_idx):
    code, out, err = finish(torchrun(*train_args(tiny_idx, "--steps", "2", "--sync-batchnorm"), cwd=workdir))
    assert code != 0
    lines = [line for line in err.splitlines() if "error:" in line and "sync-batchnorm" in line]
    assert lines == [
        "rank 0: error: --sync-batchnorm needs CUDA devices (PyTorch's SyncBatchNorm runs only on GPUs); "
        "on the CPU leave it off"
    ]


def test_a_model_declares_its_ddp_settings(tmp_path):
    """TrainableModel.ddp_options reach DistributedDataParallel (a one-process gloo group, in-process); an unknown
    setting is a one-line error naming the model."""
    import tiny_models
    import torch.distributed as dist

    from ganstudio.api import ModelConfig
    from ganstudio.errors import GanstudioError
    from ganstudio.train.distributed import Distributed

    class Unused(tiny_models.TinyGAN):
        ddp_options = {"find_unused_parameters": True}

        def distributed_networks(self):
            return {"net": self.net}

    model = Unused(ModelConfig((1, 4, 4), 0, {}, [], [], "unused"))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    group = Distributed(launched=True)
    try:
        group.wrap(model, torch.device("cpu"))
        assert group._wrappers["net"].find_unused_parameters is True
        Unused.ddp_options = {"find_unused": True}
        with pytest.raises(GanstudioError, match=r"^model 'unused' sets ddp_options find_unused: the settings are "):
            group.wrap(model, torch.device("cpu"))
    finally:
        group.close()
