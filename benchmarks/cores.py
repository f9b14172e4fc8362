r"""Does the default model use the second core? The default (``ganstudio train --data fashion``: cdcgan) trained for
the same wall-clock budget on one core (``taskset -c 0``, one torch thread) and on the whole machine, with the
settings that could make a second core pay: torch threads, batch size, channels_last; and, for what moving work off
the training thread could gain at most, the same without the generator EMA and with every default callback (grids,
GIF, curves) on. Each row is the ordinary ``ganstudio train`` in its own process; steps and images come from its
metrics.jsonl. Prints a markdown table with the ratio of each row to the one-core row; asserts nothing. Run it on a
quiet machine: every row wants every core.

    .venv/bin/python benchmarks/cores.py --minutes 1
    .venv/bin/python benchmarks/cores.py --minutes 10 --rows one-core two-threads two-threads@128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> (cpus for taskset or None for all, torch threads, batch size or None for the default, extra train args)
ROWS = {
    "one-core": ("0", 1, None, ()),
    "two-threads": (None, 2, None, ()),
    "two-threads@128": (None, 2, 128, ()),
    "two-threads@256": (None, 2, 256, ()),
    "two-threads+nchw": (None, 2, None, ("--model-option", "channels_last=false")),  # the default is channels_last
    # The EMA's update after every step (and its standing statistics at each output) all on the training thread:
    # the steps it costs are the most that moving it to another thread could win back.
    "two-threads-no-ema": (None, 2, None, ("--ema-decay", "0")),
    # The other rows write metrics.jsonl only; this one every default callback (grid, gif, curves, log) as `train`.
    "two-threads+outputs": (None, 2, None, ("--callbacks", "grid,gif,curves,log")),
}


def train_row(name: str, minutes: float, folder: Path, data: str) -> dict:
    cpus, threads, batch, extra = ROWS[name]
    run = name.replace("@", "-b").replace("+", "-")
    command = [sys.executable, "-P", "-m", "ganstudio", "train", "--data", data, "--minutes", str(minutes)]
    command += ["--name", run, "--callbacks", "log", "--log-every", "10", "--overwrite", *extra]
    command += ["--checkpoints-dir", str(folder / "checkpoints"), "--samples-dir", str(folder / "samples")]
    if batch:
        command += ["--batch-size", str(batch)]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"row": name, "problem": (done.stderr.strip().splitlines() or ["?"])[-1]}
    records = [json.loads(line) for line in (folder / "checkpoints" / run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "step" in r and "elapsed_s" in r][-1]
    ckpt_batch = batch or 64  # cdcgan's default batch (train --help)
    return {"row": name, "steps": last["step"], "images": last["step"] * ckpt_batch, "seconds": last["elapsed_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--data", default="fashion")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="ganstudio-cores-") as tmp:
        for name in args.rows:
            results.append(train_row(name, args.minutes, Path(tmp), args.data))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    base = next((r for r in results if r["row"] == "one-core" and "steps" in r), None)
    print(f"| row ({args.minutes:g} min each, {os.cpu_count()} cpus) | steps | images | img/s | images vs one core |")
    print("|---|---|---|---|---|")
    for r in results:
        if "problem" in r:
            print(f"| {r['row']} | failed: {r['problem']} | | | |")
            continue
        ratio = f"{r['images'] / base['images']:.2f}x" if base else "—"
        print(f"| {r['row']} | {r['steps']:,} | {r['images']:,} | {r['images'] / r['seconds']:.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
