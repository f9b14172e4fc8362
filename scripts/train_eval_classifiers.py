"""Train and pack the evaluation classifiers shipped in ganstudio/scoring/classifiers/ (one feature space for all).

    nice -n 10 .venv/bin/python scripts/train_eval_classifiers.py                  # both: train, then pack
    .venv/bin/python scripts/train_eval_classifiers.py fashion --pack-only          # pack an existing training run

Each classifier is trained by the project's own command, ``ganstudio train --model classifier``, with a fixed seed
and a fixed number of epochs (RECIPES), into a scratch checkpoints folder. Packing keeps what eval needs: the model
section (name, options, image shape, classes), the data section, the test accuracy and the weights (the classifier
has no EMA: its raw weights) stored as float16 when that leaves the test accuracy unchanged (measured here, on the
whole test split, both ways). The packed file is an ordinary ganstudio checkpoint, so eval reads it with the same
validating reader (weights_only); its sha256 goes into classifiers.json beside it, which eval checks before loading.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "ganstudio" / "scoring" / "classifiers"
SEED = 0
# epochs: each training takes at most ~10-15 minutes on a busy 2-core CPU; serves: the datasets whose images have
# this data's shape and classes (the mini subsets are drawn from the full sets), which share its feature space.
RECIPES = {
    "fashion": {
        "root": "/usr/share/datasets/fashion-mnist",
        "epochs": 5,
        "version": "fashion-cnn-v1",
        "serves": ["fashion", "fashion-mini"],
    },
    "mnist": {
        "root": "/work/shared/data/mnist-5k",  # the only MNIST on the build machine: a real 5,000-image subset
        "epochs": 60,
        "version": "mnist-cnn-v1",
        "serves": ["mnist", "mnist-mini"],
    },
}


def train(data: str, recipe: dict, checkpoints: Path) -> float:
    command = [
        *("nice", "-n", "10", sys.executable, "-m", "ganstudio", "--no-plugins", "train"),
        *("--data", data, "--data-root", recipe["root"], "--model", "classifier"),
        *("--epochs", str(recipe["epochs"]), "--seed", str(SEED), "--device", "cpu"),
        *("--name", f"{data}-classifier", "--checkpoints-dir", str(checkpoints), "--overwrite"),
        *("--callbacks", "log"),
    ]
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    # one thread: on a 2-core machine shared with other jobs, two threads wait on each other (measured 157 img/s)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, cwd=checkpoints.parent, env=env)
    return time.monotonic() - started


def accuracy(path: Path, data: str, root: str) -> float:
    from ganstudio.api.data import load_data
    from ganstudio.api.runs import load_model
    from ganstudio.builtin.models.classifier.nets import classify_accuracy
    from ganstudio.config import DataSpec
    from ganstudio.plugins import load_plugins

    plugins = load_plugins(entry_points=False, local=False, quiet=True)
    model, _ = load_model(path, plugins, kind="classifier")
    test = load_data(plugins, DataSpec(data, root=root), "test", quiet=True)
    return classify_accuracy(model, test, "cpu")


def half(state: dict, dtype) -> dict:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def pack(data: str, recipe: dict, checkpoints: Path, seconds) -> dict:
    from ganstudio.store.checkpoint import load_checkpoint, save_checkpoint

    source = checkpoints / f"{data}-classifier" / "last.pt"
    ckpt = load_checkpoint(source)
    config = ckpt["config"]
    shipped = {
        "version": recipe["version"],
        "trained_with": f"ganstudio train --data {data} --data-root {recipe['root']} --model classifier "
        f"--epochs {recipe['epochs']} --seed {SEED} --device cpu (precision {config.get('precision')})",
    }
    measured = {"float32": accuracy(source, data, recipe["root"])}
    chosen = "float32"
    for dtype_name in ("float16", "bfloat16"):
        payload = {
            "model": ckpt["model"],
            "data": ckpt["data"],
            "config": {"name": config["name"], "data": config["data"], "model_options": config.get("model_options")},
            "progress": {k: ckpt["progress"][k] for k in ("step", "epoch", "finished") if k in ckpt["progress"]},
            "results": {**ckpt.get("results", {}), "shipped": {**shipped, "weights_dtype": dtype_name}},
            "state": {"model": half(ckpt["state"]["model"], getattr(torch, dtype_name))},
        }
        target = OUT / f"{recipe['version']}.{dtype_name}.pt"
        save_checkpoint(payload, target)
        measured[dtype_name] = accuracy(target, data, recipe["root"])
        if chosen == "float32" and measured[dtype_name] == measured["float32"]:
            chosen = dtype_name
        print(f"{data}: test accuracy {measured[dtype_name] * 100:.2f}% with {dtype_name} weights", flush=True)
    final = OUT / f"{recipe['version']}.pt"
    if chosen == "float32":  # neither half precision kept the accuracy: ship the float32 weights
        payload["state"] = {"model": ckpt["state"]["model"]}
        payload["results"]["shipped"]["weights_dtype"] = "float32"
        save_checkpoint(payload, final)
    else:
        (OUT / f"{recipe['version']}.{chosen}.pt").replace(final)
    for leftover in OUT.glob(f"{recipe['version']}.*.pt"):
        leftover.unlink()
    return {
        "file": final.name,
        "version": recipe["version"],
        "serves": recipe["serves"],
        "sha256": hashlib.sha256(final.read_bytes()).hexdigest(),
        "bytes": final.stat().st_size,
        "weights_dtype": chosen,
        "test_accuracy": measured[chosen],
        "test_accuracy_by_dtype": measured,
        "test_images": ckpt["results"].get("test_images"),
        "trained_with": shipped["trained_with"],
        "train_seconds": round(seconds, 1) if seconds else None,
        "steps": ckpt["progress"].get("step"),
    }


def main(argv=None) -> None:
    from ganstudio.store.atomic import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--pack-only", action="store_true", help="pack the runs already trained")
    parser.add_argument("--work", default="/tmp/eval-classifiers", help="scratch folder of the training runs")
    args = parser.parse_args(argv)
    work = Path(args.work)
    checkpoints = work / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "classifiers.json"
    for data in args.datasets:
        recipe = RECIPES[data]
        seconds = None if args.pack_only else train(data, recipe, checkpoints)
        packed = pack(data, recipe, checkpoints, seconds)
        print(json.dumps(packed, indent=2), flush=True)
        # read just before writing: the other dataset may be packed by another process meanwhile
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        manifest[data] = packed
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
