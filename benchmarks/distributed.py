"""Images/s of one process against torchrun on this machine, one after another, the same data, model and budget each.

    .venv/bin/python benchmarks/distributed.py --seconds 60                  # CPU: plain, torchrun x1, torchrun x N
    .venv/bin/python benchmarks/distributed.py --device cuda --seconds 60    # GPU: plain vs torchrun x1 (DDP overhead)

Rows: a plain process (every core); torchrun with one process (DDP on one device: what the distributed machinery
costs); torchrun with --nproc processes (on the CPU, the cores shared out: OMP_NUM_THREADS = cores / N). Each row
trains --seconds of wall time after start-up and reports images/s over its own training time (from the checkpoint),
plus the wall time of the whole command. Measures and prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def train(args, name: str, nproc: int | None, threads: int) -> dict:
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)
    common = [
        "train",
        "--data",
        args.data,
        "--model",
        args.model,
        "--minutes",
        str(args.seconds / 60),
        "--name",
        name,
        "--checkpoints-dir",
        str(out / "checkpoints"),
        "--samples-dir",
        str(out / "samples"),
        "--callbacks",
        "log",
        "--device",
        args.device,
        "--batch-size",
        str(args.batch_size),
    ]
    if nproc is None:
        command = [sys.executable, "-m", "ganstudio", *common]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(nproc),
            "-m",
            "ganstudio",
            *common,
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GANSTUDIO_NO_ENTRY_POINTS": "1"}
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    ckpt = torch.load(out / "checkpoints" / name / "last.pt", map_location="cpu", weights_only=True)
    p = ckpt["progress"]
    return {
        "steps": p["step"],
        "images": p["images_seen"],
        "seconds": p["elapsed_s"],
        "wall": wall,
        "images_per_s": p["images_seen"] / max(p["elapsed_s"], 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion")
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--batch-size", type=int, default=128, help="per process (torchrun rows take N x this per step)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget of each row")
    parser.add_argument("--nproc", type=int, default=2, help="processes of the last row (CPU)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ganstudio-distributed"))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}; "
        f"{args.data}, {args.model}, "
        f"{args.device}, batch {args.batch_size} per process, {args.seconds:g} s per row",
        flush=True,
    )
    rows = [("plain process", None, cores), ("torchrun, 1 process (DDP)", 1, cores)]
    if args.device == "cpu":
        rows.append((f"torchrun, {args.nproc} processes", args.nproc, max(1, cores // args.nproc)))
    results = []
    for label, nproc, threads in rows:
        r = train(args, f"bench-{label.split(',')[0].split()[0]}-{nproc or 0}", nproc, threads)
        results.append((label, threads, r))
        print(f"{label:<28} {r['images_per_s']:8.0f} img/s  ({r['steps']:,} steps, {r['wall']:.0f} s wall)", flush=True)
    base = results[0][2]["images_per_s"]
    print("\n| run | threads per process | steps | images/s | vs plain |\n|---|---|---|---|---|")
    for label, threads, r in results:
        print(f"| {label} | {threads} | {r['steps']:,} | {r['images_per_s']:.0f} | {r['images_per_s'] / base:.2f}x |")


if __name__ == "__main__":
    main()
