"""``ganstudio eval``: how good are a GAN's samples? Scores in the feature space of a classifier trained on
the same data, next to the same scores for held-out real images (the floor).

    ganstudio eval                                         # newest GAN run, 10,000 samples
    ganstudio eval fashion-dcgan --n 2000 --json           # a run by name (or --checkpoint PATH)
    ganstudio eval --samples other_tool.npz --data fashion # images from anywhere: uint8 (N, H, W[, C])

Real reference set: n training images. Floor: n held-out (test) images scored the same way.
Class-conditional models: the n samples are asked for the classes in turn (or all --class), and class consistency
is the share of each class's samples that the classifier assigns to it; its floor is the share of held-out real
images of each class that the classifier assigns to their own class.
Results are appended to checkpoints/<run>/metrics.jsonl.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ganstudio import hookimpl
from ganstudio.api import Metric
from ganstudio.builtin.callbacks.eval import SCORES
from ganstudio.api.commands import add_checkpoint_options, add_class_option
from ganstudio.api.data import add_data_options, load_data
from ganstudio.config import DataSpec
from ganstudio.errors import GanstudioError
from ganstudio.api.options import positive_int
from ganstudio.store.runs import choose_checkpoint

# torch, numpy and the scoring code are imported inside the functions that use them: `ganstudio --help` imports
# this module to register the command and must not wait for torch (about 2 s).

SCORE_ROWS = [  # (key, which way is better); labels and formats are the eval callback's, so they read the same everywhere
    ("fid", "lower"), ("kid", "lower"), ("inception_score", "higher"), ("precision", "higher"), ("recall", "higher"),
    ("density", "about 1"), ("coverage", "higher"),
]


def load_npz_images(path) -> torch.Tensor:
    """uint8 (N, C, H, W) from an .npz: key ``images`` (or its only array), uint8 (N, H, W), (N, H, W, C) or
    (N, C, H, W) with C in 1/3, or floats in [0, 1]."""
    import numpy as np
    import torch

    path = Path(path)
    if not path.is_file():
        raise GanstudioError(f"--samples {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise GanstudioError(f"--samples {path}: no 'images' array (found {', '.join(keys) or 'none'})")
            array = archive[key]
    except (ValueError, OSError) as e:
        raise GanstudioError(f"--samples {path}: not a readable .npz file ({e})") from None
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) == 0:
        raise GanstudioError(f"--samples {path}: expected images (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise GanstudioError(f"--samples {path}: {int((~np.isfinite(array)).sum()):,} values are NaN or Inf")
        if not np.issubdtype(array.dtype, np.floating) or array.min() < 0 or array.max() > 1:
            raise GanstudioError(f"--samples {path}: expected uint8 pixels or floats in [0, 1], got {array.dtype} "
                                 f"in [{array.min()}, {array.max()}]")
        array = np.round(array * 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array))


class Steps:
    """A rich progress bar per stage (on stderr, so that --json output stays clean)."""

    def __init__(self, console: Console):
        self.progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=console, transient=True)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def features(self, description, classifier, images, device):
        from ganstudio.scoring.evaluation import extract

        task = self.progress.add_task(description, total=len(images))
        out = extract(classifier, images, device, progress=lambda n: self.progress.advance(task, n))
        return out

    def generate(self, model, n: int, seed: int, device, class_name=None):
        """(uint8 images, the labels asked for): a class-conditional model's n samples spread evenly over its classes
        (or all of --class), so that every class is scored for consistency."""
        import torch

        from ganstudio.output.generation import class_labels, generate_images, spread_labels

        task = self.progress.add_task("generating samples", total=n)
        g = torch.Generator().manual_seed(seed)
        latents = model.sample_latent(n, generator=g)
        labels = spread_labels(model, n) if class_name is None else None
        if labels is None:
            labels = class_labels(model, class_name, n, generator=g)
        return generate_images(model, latents, labels, device, progress=lambda k: self.progress.advance(task, k)), labels


def run_eval(args) -> int:
    import torch

    from ganstudio.train.accel import resolve_device
    from ganstudio.scoring.evaluation import Reference, class_consistency, ensure_classifier, random_subset, score_features
    from ganstudio.output.generation import load_model

    started = time.monotonic()
    console = Console(stderr=True)
    device = resolve_device(args.device)
    if args.samples and (args.checkpoint or args.run):
        raise GanstudioError("pass either a run / --checkpoint (generate samples) or --samples FILE.npz (score given images), not both")
    if args.samples and args.class_name:
        raise GanstudioError("--class is for generating samples from a conditional run, not for --samples FILE.npz")

    gan, ckpt, checkpoint_path = None, None, None
    if args.samples:
        images = load_npz_images(args.samples)
        spec = DataSpec.from_args(args)
    else:
        checkpoint_path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
        console.print(f"scoring {chosen}: {checkpoint_path}", highlight=False)
        gan, ckpt = load_model(checkpoint_path, args.plugins, kind="gan", ema=not args.no_ema)
        trained_on = ckpt["data"]["name"]
        if args.data and args.data != trained_on:
            raise GanstudioError(f"{checkpoint_path} was trained on '{trained_on}', not '{args.data}' (omit --data to use '{trained_on}')")
        # Real data the way the run found it, unless these options say otherwise.
        spec = DataSpec.from_dict(ckpt["config"]["data"])
        given = DataSpec.from_args(args, default=trained_on)
        spec.root, spec.download = given.root or spec.root, given.download or spec.download
    data = spec.name

    train = load_data(args.plugins, spec, "train")
    # --json keeps stdout for the JSON: a classifier trained on demand reports its progress on stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        classifier, cls_ckpt, classifier_path = ensure_classifier(args.plugins, spec, args.checkpoints_dir, args.classifier, device=args.device,
                                                                  classes=train.classes if args.classifier else None)
    if ckpt is not None and tuple(ckpt["data"]["image_shape"]) != tuple(cls_ckpt["data"]["image_shape"]):
        raise GanstudioError(f"{checkpoint_path} makes {tuple(ckpt['data']['image_shape'])} images but classifier "
                             f"{classifier_path} was trained on {tuple(cls_ckpt['data']['image_shape'])}")
    expected_shape = tuple(cls_ckpt["model"]["config"]["image_shape"])
    if args.samples and tuple(images.shape[1:]) != expected_shape:
        raise GanstudioError(f"--samples {args.samples}: images are {tuple(images.shape[1:])} (C, H, W), "
                             f"but the '{data}' classifier expects {expected_shape}")
    notes = []
    if cls_ckpt["data"].get("source") and cls_ckpt["data"]["source"] != train.source:
        notes.append(f"note: the classifier was trained on {cls_ckpt['data']['source']}; the real images here are {train.source}")
    try:
        held_out = load_data(args.plugins, spec, "test", quiet=True)
    except GanstudioError:
        held_out = None

    n = args.n if not args.samples else len(images)
    with Steps(console) as steps:
        if held_out is None or len(held_out) == 0:  # no test split: hold out part of the training images instead
            shuffled = random_subset(train.images, len(train.images), args.seed)
            split = len(shuffled) // 2
            reference_images, floor_images = shuffled[:split][:n], shuffled[split:][:n]
            floor_labels = None if train.labels is None else random_subset(train.labels, len(train.labels), args.seed)[split:][:n]
            floor_name = "real (held-out train)"
        else:
            reference_images, floor_images = random_subset(train.images, n, args.seed), random_subset(held_out.images, n, args.seed)
            floor_labels = None if held_out.labels is None else random_subset(held_out.labels, n, args.seed)
            floor_name = "real (held-out test)"
        ref_features, ref_probs = steps.features("features: real training images", classifier, reference_images, device)
        reference = Reference(ref_features, ref_probs)
        floor_features, floor_probs = steps.features("features: held-out real images", classifier, floor_images, device)
        asked = None
        if gan is not None:
            images, asked = steps.generate(gan, n, args.seed, device, args.class_name)
        sample_features, sample_probs = steps.features("features: samples", classifier, images, device)

    classes = list(cls_ckpt["data"].get("classes") or []) or None
    consistency = None
    if gan is not None and gan.condition == "class" and asked is not None:
        why_not = classes_differ(gan, classes, sample_probs.shape[1])
        if why_not:
            notes.append(f"note: no class consistency: {why_not}")
        else:
            consistency = class_consistency(sample_probs, asked, classes)
    real_consistency = None
    if consistency is not None and floor_labels is not None:
        # Its floor: how often the classifier sees held-out real images as their own class (its per-class test
        # accuracy), the consistency a generator that made real images would get.
        # Only the classes asked for (all of them, or --class).
        kept = torch.isin(floor_labels.cpu().long(), asked.cpu().long().unique())
        real_consistency = class_consistency(floor_probs.cpu()[kept], floor_labels.cpu()[kept], classes) if kept.any() else None
    result = {
        "checkpoint": str(checkpoint_path) if checkpoint_path else None,
        "samples_file": str(args.samples) if args.samples else None,
        "step": int(ckpt["progress"]["step"]) if ckpt else None,
        # Which generator weights made the samples: the averaged ones unless --no-ema or the checkpoint has none.
        "weights": None if ckpt is None else "raw" if args.no_ema or not (ckpt.get("ema") or {}).get("weights") else "ema",
        "class": args.class_name,
        "data": data,
        "data_source": train.source,
        "classifier": str(classifier_path),
        "classifier_test_accuracy": (cls_ckpt.get("results") or {}).get("test_accuracy"),
        "n": len(images),
        "reference_images": len(reference_images),
        "classes": classes,
        "samples": score_features(reference, sample_features, sample_probs, classes),
        "real": score_features(reference, floor_features, floor_probs, classes),
        "class_consistency": consistency,
    }
    result["real"]["kind"] = floor_name
    result["real"]["class_consistency"] = real_consistency
    result["seconds"] = round(time.monotonic() - started, 2)
    if checkpoint_path is not None:
        result["metrics_file"] = str(append_to_metrics_file(checkpoint_path.parent / "metrics.jsonl", result, ckpt))
    else:
        result["metrics_file"] = None

    for note in notes:
        console.print(note, highlight=False)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, floor_name)
    return 0


def classes_differ(gan, classifier_classes, classifier_outputs: int):
    """Why the classifier's classes cannot be compared with the ones the generator was asked for (None: they can)."""
    names = list(gan.config.class_names)
    if gan.config.num_classes != classifier_outputs:
        return f"the model has {gan.config.num_classes} classes, the classifier {classifier_outputs}"
    if names and classifier_classes and names != list(classifier_classes):
        return "the model's classes and the classifier's are not the same (or not in the same order)"
    return None


def append_to_metrics_file(path: Path, result: dict, ckpt: dict) -> Path:
    """One JSON line like the training log's, with the scores under the same names the eval callback uses."""
    s = result["samples"]
    record = {
        "step": result["step"],
        "epoch": round(result["step"] / max(ckpt["progress"].get("steps_per_epoch", 1), 1), 4),
        "event": "eval",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "eval_samples": result["n"],
        "weights": result["weights"],
        **{k: s[k] for k in ("fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "rarest_share",
                             "commonest_share")},
        "floor_fid": result["real"]["fid"],
        "classifier": result["classifier"],
    }
    if result.get("class_consistency") is not None:
        record["class_consistency"] = result["class_consistency"]["mean"]
    if result["real"].get("class_consistency") is not None:
        record["floor_class_consistency"] = result["real"]["class_consistency"]["mean"]
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise GanstudioError(f"could not append the scores to {path}: {e.strerror or e}") from None
    return path


WEIGHTS = {"ema": "averaged (EMA) generator", "raw": "raw generator weights", None: ""}


def print_report(result: dict, floor_name: str) -> None:
    what = result["checkpoint"] or result["samples_file"]
    step = f" (step {result['step']:,}, {WEIGHTS[result['weights']]})" if result["step"] is not None else ""
    acc = result["classifier_test_accuracy"]
    print(f"scored {result['n']:,} images from {what}{step} against {result['reference_images']:,} training images of "
          f"{result['data_source']}")
    print(f"feature space: {result['classifier']}" + (f" (test accuracy {acc * 100:.2f}%)" if acc is not None else ""))
    table = Table(show_edge=False)
    table.add_column("score")
    table.add_column("samples", justify="right")
    table.add_column(floor_name, justify="right")
    table.add_column("better")
    for key, better in SCORE_ROWS:
        spec = SCORES.get(key) or Metric("Inception Score", "", format="{:.2f}")
        table.add_row(spec.label, *(spec.format.format(result[which][key] * spec.scale) for which in ("samples", "real")), better)
    for which in ("rarest", "commonest"):
        table.add_row(f"{which} class", *(f"{r[which + '_class']} {r[which + '_share'] * 100:.1f}%" for r in (result["samples"], result["real"])),
                      "closer to 10%" if len(result["samples"]["class_counts"]) == 10 else "")
    consistency = result.get("class_consistency")
    if consistency is not None:
        real = result["real"].get("class_consistency") or {}
        table.add_row("class consistency", f"{consistency['mean'] * 100:.1f}%",
                      f"{real['mean'] * 100:.1f}%" if real else "", "higher")
        table.add_row("least consistent class", f"{consistency['worst_class']} {consistency['worst'] * 100:.1f}%",
                      f"{real['worst_class']} {real['worst'] * 100:.1f}%" if real else "", "higher")
    Console().print(table)
    counts = result["samples"]["class_counts"]
    names = result["classes"] or [str(i) for i in range(len(counts))]
    print("samples per class: " + ", ".join(f"{name} {count}" for name, count in zip(names, counts)))
    if consistency is not None:
        shares = consistency["per_class"].items()
        print("seen as the class asked for: " + ", ".join(f"{name} {share * 100:.1f}%" for name, share in shares))
        real = result["real"].get("class_consistency")
        if real:
            print("real held-out images seen as their class: " + ", ".join(f"{name} {share * 100:.1f}%" for name, share in real["per_class"].items()))
    if result["metrics_file"]:
        print(f"appended to {result['metrics_file']}  ({result['seconds']:.1f} s)")
    else:
        print(f"({result['seconds']:.1f} s)")


@hookimpl
def register_commands(cli):
    p = cli.command("eval", help="score a GAN's samples (FID, KID, IS, precision/recall, class coverage; class consistency of "
                                 "conditional models) against real data", run=run_eval)
    add_checkpoint_options(p)
    add_class_option(p)
    p.add_argument("--samples", metavar="FILE.npz", help="score these images instead of generating: uint8 (N, H, W[, C])")
    p.add_argument("--n", type=positive_int, default=10000, help="number of samples (and of real reference images)")
    p.add_argument("--classifier", metavar="PATH", help="classifier checkpoint (default: checkpoints/<data>-classifier/last.pt, trained if missing)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--seed", type=int, default=0, help="seed for the latents and the real subsets")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    add_data_options(p, default_data=None)
