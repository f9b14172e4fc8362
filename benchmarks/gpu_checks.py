"""The checks of benchmarks/gpu_check.py, one function each: given a Context, a dict with the row's ``result``
(one line), and ``peak_mb`` / ``peak_kind`` where it measured memory; an exception is the row's FAILED line. Each
runs in a forked process (gpu_check_isolate.py) and reuses benchmarks/throughput.py and benchmarks/eval_speed.py.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import eval_speed
import throughput
import torch
import torch._dynamo  # noqa: F401 (imported by torch.optim on first use: seconds, paid once in the parent)

import ganstudio.builtin.models.classifier.nets  # noqa: F401 (what the checks import lazily, loaded before the fork)
import ganstudio.builtin.models.dcgan.nets  # noqa: F401
import ganstudio.output.generation  # noqa: F401
import ganstudio.train.loop  # noqa: F401
import ganstudio.train.run  # noqa: F401
from ganstudio.plugins import load_plugins
from ganstudio.store.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Context:
    """What every check needs: the device, the plan, the work folder."""

    device: str
    plan: object  # gpu_check.Plan
    work: Path

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def peak(ctx: Context) -> dict:
    """This process's peak memory: CUDA max allocated on a GPU, else resident memory."""
    if ctx.cuda:
        return {"peak_mb": torch.cuda.max_memory_allocated() / 2**20, "peak_kind": "CUDA"}
    return {"peak_mb": throughput.peak_rss_mb(), "peak_kind": "RSS"}


# --- the checks (each runs in a forked process) ---------------------------------------------------------------


def check_tests(ctx: Context) -> dict:
    """``pytest -m cuda``: passed on a GPU; on the CPU collected and skipped."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "-m", "cuda"]
    proc = subprocess.run([*command, *ctx.plan.pytest_paths], cwd=REPO, capture_output=True, text=True)
    print(proc.stdout, proc.stderr, sep="\n")
    lines = proc.stdout.strip().splitlines()
    summary = lines[-1].strip("= ") if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
    if proc.returncode == 5 or not counts:
        raise RuntimeError(f"no cuda-marked tests collected in {' '.join(ctx.plan.pytest_paths)}")
    if proc.returncode != 0:
        first = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), summary)
        raise RuntimeError(f"{summary}; {first}")
    text = re.sub(r" in [\d.]+s.*", "", summary)
    if counts.get("skipped") and not ctx.cuda:
        return {"status": "skipped", "result": f"skipped: no CUDA ({text}: collected, would run on a GPU)"}
    if counts.get("skipped"):
        raise RuntimeError(f"{text} on a CUDA device: a cuda test must not skip there")
    return {"result": text}


def safe_flops(count, model, images) -> float:
    """throughput.step_flops, or 0 when the FLOP counter cannot trace the step (a compiled model)."""
    try:
        return count(model, images)
    except Exception as e:  # only the TFLOP/s figure is lost, not the row
        print(f"FLOPs not counted: {e}")
        return 0.0


def check_train(ctx: Context, shape: int, precision: str, compiled: bool) -> dict:
    """benchmarks/throughput.py's ``ours`` row: ganstudio's loop at this shape and precision."""
    plan = ctx.plan
    throughput.BATCH = plan.batch
    throughput.step_flops = partial(safe_flops, throughput.step_flops)
    jpegs = ctx.work / f"jpegs-{plan.jpegs}" / "faces"
    if shape == 64:
        throughput.make_jpeg_folder(jpegs, plan.jpegs)
    extra = plan.compile_allowance if compiled else 0.0
    args = argparse.Namespace(
        shape=shape,
        device=ctx.device,
        compile=compiled,
        warmup=plan.warmup,
        seconds=plan.seconds + extra,
        jpeg_folder=str(jpegs),
    )
    out = throughput.run_ours(args, precision, True)
    if out["images_per_s"] <= 0:
        if plan.quick:  # the path ran; a step of the 64 px net can outlast a loaded CPU's budget
            return {"result": f"trained {out['steps']} step(s), too few to time (--quick)", **peak(ctx)}
        why = "compiling took longer than --compile's allowance" if compiled else "too few log marks"
        raise RuntimeError(f"no speed measured: {out['steps']} steps ({why})")
    text = f"{out['images_per_s']:,.0f} img/s ({out['steps']:,} steps, batch {plan.batch}, {out['precision']})"
    if out.get("tflops"):
        text += f", {out['tflops']:.1f} TFLOP/s"
    return {"result": text, **peak(ctx), **({"peak_mb": out["cuda_max_allocated_mb"]} if ctx.cuda else {})}


def check_ddp(ctx: Context) -> dict:
    """``ganstudio train --nproc 1``: torchrun, one rank, DDP over nccl (gloo on the CPU); img/s from its checkpoint."""
    out = ctx.work / "ddp"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "ganstudio", "train", "--nproc", "1", "--data", "fashion", "--model", "dcgan"]
    command += [*ctx.plan.ddp, "--device", ctx.device, "--name", "ddp", "--callbacks", "log"]
    command += ["--checkpoints-dir", str(out / "c"), "--samples-dir", str(out / "s")]
    proc = subprocess.run(command, cwd=out, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    print(proc.stdout, proc.stderr, sep="\n")
    if proc.returncode != 0:
        said = [line for line in proc.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"exit {proc.returncode}: {said[-1] if said else 'no message'}")
    found = re.search(r"distributed: 1 process \((\w+)\)", proc.stdout)
    backend = found.group(1) if found else "none"
    wanted = "nccl" if ctx.cuda else "gloo"
    if backend != wanted:
        raise RuntimeError(f"trained over backend '{backend}', expected {wanted}")
    progress = load_checkpoint(out / "c" / "ddp" / "last.pt")["progress"]
    speed = progress["images_seen"] / max(progress["elapsed_s"], 1e-9)
    return {"result": f"{speed:,.0f} img/s ({progress['step']:,} steps, {backend})"}


def check_sample(ctx: Context) -> dict:
    """benchmarks/throughput.py's sampling row, with the plan's n: ``ganstudio sample``'s generate_images, n images
    of a default-size DCGAN at 28 px, after a warm-up."""
    from ganstudio.api import ModelConfig
    from ganstudio.builtin.models.dcgan.nets import DCGAN
    from ganstudio.output.generation import generate_images

    n, device = ctx.plan.sample_n, torch.device(ctx.device)
    model = DCGAN(ModelConfig((1, 28, 28), 10, {})).to(device)
    generate_images(model, model.sample_latent(min(n, 1000)), device=device)  # warm-up (cuDNN, allocator)
    latents = model.sample_latent(n, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    images = generate_images(model, latents, device=device)  # uint8 on the CPU: the GPU's work is done
    seconds = time.perf_counter() - start
    if images.shape != (n, 1, 28, 28):
        raise RuntimeError(f"generated {tuple(images.shape)}, expected {(n, 1, 28, 28)}")
    return {"result": f"{n / seconds:,.0f} img/s", **peak(ctx)}


def check_eval(ctx: Context) -> dict:
    """benchmarks/eval_speed.py's stages of ``ganstudio eval``: generate, features, reference, scores."""
    n = ctx.plan.eval_n
    args = argparse.Namespace(n=n, data="fashion", checkpoint=None, classifier=None)
    timer = eval_speed.Timer()
    start = time.perf_counter()
    eval_speed.time_eval(args, load_plugins(entry_points=False), timer, torch.device(ctx.device))
    total = time.perf_counter() - start
    label, seconds, _ = max(timer.rows, key=lambda row: row[1])
    text = f"{total:.1f} s, {n / total:,.0f} samples/s (slowest stage: {label.strip()}, {seconds:.1f} s)"
    return {"result": text, **peak(ctx)}
