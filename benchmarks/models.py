r"""The model zoo at one wall-clock budget, side by side: every row trains for the same --minutes on the same data, then
``ganstudio eval`` scores its averaged (EMA) generator and its raw one, against the same real images and the same
classifier. Prints a markdown table (docs/models.md holds one) and writes 12x12 sample grids to look at.

    .venv/bin/python benchmarks/models.py --data fashion --minutes 10 --rows dcgan dcgan+augment cdcgan wgan-gp sngan
    .venv/bin/python benchmarks/models.py --data fashion-mini --minutes 10 \
        --rows dcgan dcgan+augment --jobs 2 --threads 1

A row is MODEL or MODEL+augment (DiffAugment, ``--augment on``), optionally with a batch size (``cdcgan@64``; the
train default otherwise) and model options: ``cdcgan@64:ac=0.5,width=48``. ``--jobs 2 --threads 1`` trains two rows at a
time with one core each: on a 2-core machine that halves the wall time, and every row still gets the same budget
(one core for --minutes). Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
GANSTUDIO = [sys.executable, "-m", "ganstudio"]
SCORES = [
    ("fid", "FD", "{:.2f}"),
    ("kid", "KID×10³", "{:.2f}"),
    ("inception_score", "IS", "{:.2f}"),
    ("precision", "prec.", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("density", "density", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
]


def run_name(data: str, row: str) -> str:
    return f"zoo-{data}-" + re.sub(r"[^A-Za-z0-9.-]+", "-", row).strip("-")


def parse_row(row: str) -> tuple[str, bool, int | None, list[str]]:
    """MODEL[+augment][@BATCH][:KEY=VALUE,KEY=VALUE] -> (model, augment, batch size or None, model options)."""
    head, _, options = row.partition(":")
    head, _, batch = head.partition("@")
    model, _, extra = head.partition("+")
    if extra not in ("", "augment") or (batch and not batch.isdigit()):
        raise SystemExit(
            f"row {row}: expected MODEL, MODEL+augment, optionally followed by @BATCH and :KEY=VALUE,KEY=VALUE"
        )
    return model, extra == "augment", int(batch) if batch else None, [o for o in options.split(",") if o]


def train_command(args, row: str) -> list[str]:
    model, augment, batch_size, options = parse_row(row)
    command = [
        *GANSTUDIO,
        "train",
        "--data",
        args.data,
        "--model",
        model,
        "--minutes",
        str(args.minutes),
        "--name",
        run_name(args.data, row),
        "--overwrite",
        "--checkpoints-dir",
        str(args.out / "checkpoints"),
        "--samples-dir",
        str(args.out / "samples"),
        "--seed",
        str(args.seed),
        "--ema-decay",
        str(args.ema_decay),
    ]
    if augment:
        command += ["--augment", "on"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    for option in options:
        command += ["--model-option", option]
    return command


def run_parallel(commands: list[tuple[str, list[str]]], jobs: int, threads: int, log_dir: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    pending, running = list(commands), []
    while pending or running:
        while pending and len(running) < jobs:
            label, command = pending.pop(0)
            log = open(log_dir / f"{label}.log", "w")
            print(f"[{time.strftime('%H:%M:%S')}] start {label}: {' '.join(command[2:])}", flush=True)
            running.append(
                (label, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), log)
            )
        time.sleep(2)
        for item in list(running):
            label, process, log = item
            if process.poll() is not None:
                log.close()
                running.remove(item)
                print(f"[{time.strftime('%H:%M:%S')}] done  {label} (exit {process.returncode})", flush=True)
                if process.returncode != 0:
                    print((log_dir / f"{label}.log").read_text()[-2000:], file=sys.stderr)


def evaluate(args, row: str, ema: bool) -> dict:
    command = [
        *GANSTUDIO,
        "eval",
        run_name(args.data, row),
        "--checkpoints-dir",
        str(args.out / "checkpoints"),
        "--n",
        str(args.n),
        "--classifier",
        str(args.classifier),
        "--device",
        "cpu",
        "--json",
        "--seed",
        str(args.seed),
    ] + ([] if ema else ["--no-ema"])
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"eval of {row} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def progress_of(args, row: str) -> dict:
    ckpt = torch.load(
        args.out / "checkpoints" / run_name(args.data, row) / "last.pt", map_location="cpu", weights_only=True
    )
    p = ckpt["progress"]
    return {
        "steps": p["step"],
        "images_seen": p["images_seen"],
        "elapsed_s": p["elapsed_s"],
        "images_per_s": p["images_seen"] / max(p["elapsed_s"], 1e-9),
        "epochs": p["images_seen"] / ckpt["data"]["size"],
    }


def table(results: list[dict], floor: dict) -> str:
    head = [
        "model",
        "augment",
        "EMA",
        "steps",
        "img/s",
        *[label for _, label, _ in SCORES],
        "rarest class",
        "class consistency (worst)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        s = r["scores"]
        consistency = s.get("class_consistency")
        cc = (
            f"{consistency['mean'] * 100:.1f}% ({consistency['worst_class']} {consistency['worst'] * 100:.1f}%)"
            if consistency
            else "-"
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    "on" if r["augment"] else "off",
                    "on" if r["ema"] else "off",
                    f"{r['steps']:,}",
                    f"{r['images_per_s']:.0f}",
                    *[fmt.format(s["samples"][k] * (1000 if k == "kid" else 1)) for k, _, fmt in SCORES],
                    f"{s['samples']['rarest_class']} {s['samples']['rarest_share'] * 100:.1f}%",
                    cc,
                ]
            )
            + " |"
        )
    real = floor.get("class_consistency")  # the classifier's per-class accuracy on held-out real images
    real_cc = f"{real['mean'] * 100:.1f}% ({real['worst_class']} {real['worst'] * 100:.1f}%)" if real else ""
    lines.append(
        "| real held-out (floor) | | | | | "
        + " | ".join(fmt.format(floor[k] * (1000 if k == "kid" else 1)) for k, _, fmt in SCORES)
        + f" | {floor['rarest_class']} {floor['rarest_share'] * 100:.1f}% | {real_cc} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--data", default="fashion")
    parser.add_argument("--rows", nargs="+", default=["dcgan", "dcgan+augment", "cdcgan", "wgan-gp", "sngan"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at the same time")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads per row")
    parser.add_argument("--n", type=int, default=5000, help="samples per eval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--classifier", type=Path, default=ROOT / "checkpoints" / "fashion-classifier" / "last.pt")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ganstudio-zoo"))
    parser.add_argument("--grids", type=Path, default=ROOT / "docs" / "models", help="where the 12x12 grids go")
    parser.add_argument("--skip-training", action="store_true", help="score the runs already under --out")
    parser.add_argument(
        "--train-only", action="store_true", help="train the rows and stop (score them later with --skip-training)"
    )
    args = parser.parse_args()
    args.out = args.out.resolve()
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    args.grids.mkdir(parents=True, exist_ok=True)
    if not args.classifier.exists():
        raise SystemExit(
            f"no classifier at {args.classifier}: train one first "
            f"(ganstudio train --data {args.data.split('-')[0]} --model classifier --minutes 10)"
        )

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"{args.data}, "
        f"{args.minutes:g} min per row, {args.jobs} row(s) at a time with {args.threads} thread(s) each",
        flush=True,
    )
    if not args.skip_training:
        run_parallel(
            [(run_name(args.data, row), train_command(args, row)) for row in args.rows],
            args.jobs,
            args.threads,
            args.out / "logs",
        )
    if args.train_only:
        return

    results, floor = [], None
    for row in args.rows:
        model, augment, batch_size, options = parse_row(row)
        info = progress_of(args, row)
        for ema in (True, False):
            scores = evaluate(args, row, ema)
            if floor is None or scores["real"].get(
                "class_consistency"
            ):  # a conditional row's floor also has consistency
                floor = scores["real"]
            results.append(
                {
                    "row": row,
                    "model": " ".join([model + (f" batch {batch_size}" if batch_size else ""), *options]),
                    "augment": augment,
                    "ema": ema,
                    **info,
                    "scores": scores,
                }
            )
            grid = args.grids / f"{run_name(args.data, row).removeprefix('zoo-')}-{'ema' if ema else 'raw'}.png"
            subprocess.run(
                [
                    *GANSTUDIO,
                    "sample",
                    run_name(args.data, row),
                    "--checkpoints-dir",
                    str(args.out / "checkpoints"),
                    "--n",
                    "144",
                    "--scale",
                    "2",
                    "--out",
                    str(grid),
                ]
                + ([] if ema else ["--no-ema"]),
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            print(
                f"{row:<16} EMA {'on ' if ema else 'off'} steps {info['steps']:>6,}  "
                f"FD {scores['samples']['fid']:8.2f}  "
                f"recall {scores['samples']['recall']:.3f}  grid {grid}",
                flush=True,
            )
    (args.out / f"results-{args.data}.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2)
    )
    print()
    print(table(results, floor))
    best = min(results, key=lambda r: r["scores"]["samples"]["fid"])
    baseline = next((r for r in results if r["row"] == "dcgan" and r["ema"] is False), None)
    if baseline is not None:
        print(
            f"\nbest: {best['row']} EMA {'on' if best['ema'] else 'off'}, FD {best['scores']['samples']['fid']:.2f} = "
            f"{best['scores']['samples']['fid'] / baseline['scores']['samples']['fid']:.3f} x plain DCGAN without EMA "
            f"({baseline['scores']['samples']['fid']:.2f}), measured in this run"
        )


if __name__ == "__main__":
    main()
