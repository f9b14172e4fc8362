"""The CUDA paths, on a GPU: training in fp32 and bf16, sampling's documented determinism, eval, and a checkpoint
trained on the GPU sampled and resumed on the CPU. Marked ``cuda``: skipped where torch sees no GPU (conftest.py),
run by ``pytest -m cuda`` and by benchmarks/gpu_check.sh. Each check is a function taking the device, so the same
code can be read (and was tried) against the CPU."""

import json
import math
import re

import numpy as np
import pytest
import torch
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint

pytestmark = pytest.mark.cuda

TINY = ("--data", "fashion", "--model", "dcgan", "--model-option", "width=8", *FAST)
CKPT = "checkpoints/fashion-dcgan/last.pt"


def train(cli, tiny_idx, device, *extra):
    code, out, err = cli("train", "--data-root", tiny_idx, *TINY, "--device", device, *extra)
    assert code == 0, err
    return out


@pytest.fixture
def fresh_backends():
    """``fresh_backends()``: the cuDNN / TF32 settings of a new ``ganstudio sample`` process, restored after the test.
    An in-process ``train`` set them for training (cudnn.benchmark, TF32 matmuls): they would leak into sampling."""
    before = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()

    def reset():
        torch.backends.cudnn.benchmark = False
        torch.set_float32_matmul_precision("highest")

    yield reset
    torch.backends.cudnn.benchmark = before[0]
    torch.set_float32_matmul_precision(before[1])


def check_training(cli, tiny_idx, workdir, device, precision):
    """6 steps on ``device``: the run says where it trained, its checkpoint records it, the losses are finite and
    the weights moved."""
    out = train(cli, tiny_idx, device, "--precision", precision, "--steps", "6", "--seed", "1")
    assert re.search(rf"device {device}(:0)? \({precision}\)", out), out
    ckpt = load_checkpoint(workdir / CKPT)
    progress = ckpt["progress"]
    assert progress["step"] == 6 and progress["precision"] == precision
    assert progress["device"].split(":")[0] == device
    losses = [ckpt["metrics"][key] for key in ("loss_d", "loss_g", "d_real", "d_fake")]
    assert all(math.isfinite(value) for value in losses), ckpt["metrics"]
    weights = ckpt["state"]["model"]
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
    return ckpt


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trains_on_cuda(cli, tiny_idx, workdir, precision):
    torch.cuda.reset_peak_memory_stats()
    ckpt = check_training(cli, tiny_idx, workdir, "cuda", precision)
    assert torch.cuda.get_device_name(0) in ckpt["progress"]["machine"]
    assert torch.cuda.max_memory_allocated() > 0, "the steps ran on the GPU"
    assert "cuda" in ckpt["rng"], "the GPU's random stream is saved for an exact resume"


def sample(cli, name, device, *args):
    code, out, err = cli("sample", "--device", device, "--out", name, *args)
    assert code == 0, err
    return np.load(name)["images"]


def check_sampling(cli, tiny_idx, workdir, fresh_backends, device):
    """README "Sampling": the same --seed gives the same images, and image i of --seed S --n N is --seeds S+i alone,
    the same pixels; on ``device`` as on the CPU within rounding."""
    train(cli, tiny_idx, device, "--steps", "4")
    fresh_backends()
    images = sample(cli, "a.npz", device, "--n", "7", "--seed", "3")
    assert images.shape == (7, 28, 28, 1) and images.std() > 0
    assert np.array_equal(sample(cli, "again.npz", device, "--n", "7", "--seed", "3"), images)
    picked = sample(cli, "picked.npz", device, "--seeds", "4,9,6")
    assert np.array_equal(picked, images[[1, 6, 3]]), "a seed alone must give its image's pixels (README Sampling)"
    on_cpu = sample(cli, "cpu.npz", "cpu", "--n", "7", "--seed", "3").astype(int)
    difference = np.abs(on_cpu - images.astype(int))
    # cuDNN convolutions round differently (TF32): a level here and there, never another image
    assert difference.mean() < 1.0 and difference.max() <= 16, (difference.mean(), difference.max())


def test_sampling_on_cuda_keeps_the_documented_determinism(cli, tiny_idx, workdir, fresh_backends):
    check_sampling(cli, tiny_idx, workdir, fresh_backends, "cuda")


def eval_json(cli, device):
    code, out, err = cli("eval", "--json", "--n", "64", "--device", device)
    assert code == 0, err
    return json.loads(out)


def check_eval(cli, tiny_idx, workdir, monkeypatch, fresh_backends, device):
    """``ganstudio eval`` on ``device`` scores what it scores on the CPU (samples made and encoded there)."""
    train(cli, tiny_idx, device, "--steps", "6")
    monkeypatch.setenv("GANSTUDIO_DATA", str(tiny_idx))  # eval reads data only where the user points
    fresh_backends()
    there, cpu = eval_json(cli, device), eval_json(cli, "cpu")
    assert there["n"] == cpu["n"] == 64 and there["step"] == 6
    # Distances within 5%; the k-NN shares of 64 samples within 3 samples' worth (a neighbour at the edge may flip).
    for key, tolerance in (("fid", {}), ("kid", {"abs": 1e-3}), ("inception_score", {})):
        assert there["samples"][key] == pytest.approx(cpu["samples"][key], rel=0.05, **tolerance), key
    for key in ("precision", "recall", "density", "coverage"):
        assert there["samples"][key] == pytest.approx(cpu["samples"][key], abs=3 / 64), key
    assert there["real"]["fid"] == pytest.approx(cpu["real"]["fid"], rel=1e-3)


def test_eval_on_cuda_scores_as_on_the_cpu(cli, tiny_idx, workdir, monkeypatch, fresh_backends):
    check_eval(cli, tiny_idx, workdir, monkeypatch, fresh_backends, "cuda")


def check_moves_to_the_cpu(cli, tiny_idx, workdir, device):
    """A run trained on ``device`` (bf16, its default on a GPU) samples on the CPU and resumes there."""
    train(cli, tiny_idx, device, "--precision", "bf16", "--steps", "4")
    images = sample(cli, "cpu.npz", "cpu", "--n", "8")
    assert images.shape == (8, 28, 28, 1) and images.std() > 0
    resume = ("train", "--data", "fashion", "--model", "dcgan", "--data-root", tiny_idx, "--resume", "--steps", "8")
    code, out, err = cli(*resume, "--device", "cpu")
    assert code == 0, err
    assert "resuming at step 4" in out
    progress = load_checkpoint(workdir / CKPT)["progress"]
    assert progress["step"] == 8 and progress["device"] == "cpu" and progress["precision"] == "bf16"


def test_a_checkpoint_trained_on_cuda_samples_and_resumes_on_the_cpu(cli, tiny_idx, workdir):
    check_moves_to_the_cpu(cli, tiny_idx, workdir, "cuda")
