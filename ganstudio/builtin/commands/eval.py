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

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ganstudio import hookimpl, limits
from ganstudio.api.commands import add_checkpoint_options, add_class_option
from ganstudio.api.data import add_data_options, load_data, recorded_root
from ganstudio.api.options import positive_int
from ganstudio.builtin.commands.eval_report import append_to_metrics_file, print_report
from ganstudio.builtin.commands.eval_space import feature_space
from ganstudio.config import DataSpec, TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.store.runs import choose_checkpoint

# torch, numpy and the scoring code are imported inside the functions that use them: `ganstudio --help` imports
# this module to register the command and must not wait for torch (about 2 s).


class Steps:
    """A rich progress bar per stage (on stderr, so that --json output stays clean)."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def features(self, description, space, images, device):
        task = self.progress.add_task(description, total=len(images))
        return space.encode(images, device, progress=lambda n: self.progress.advance(task, n))

    def real_features(self, description, space, images, data: str, split: str, device):
        """(features, probs, read from the cache) of real images: cached per feature space and exact images."""
        from ganstudio.scoring.spaces import cached_encode

        task = self.progress.add_task(description, total=len(images))
        return cached_encode(space, images, data, split, device, lambda n: self.progress.advance(task, n))

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
        images = generate_images(model, latents, labels, device, progress=lambda k: self.progress.advance(task, k))
        return images, labels


@dataclass
class Source:
    """What is scored: a GAN checkpoint's samples (``gan``) or given images, and the data they are compared with."""

    spec: DataSpec
    gan: Any = None
    ckpt: Optional[dict] = None
    checkpoint_path: Optional[Path] = None
    images: Any = None  # the --samples images


def load_source(args, console: Console) -> Source:
    from ganstudio.api.runs import load_model
    from ganstudio.scoring.samples import load_npz_images

    if args.samples and (args.checkpoint or args.run):
        raise GanstudioError(
            "pass either a run / --checkpoint (generate samples) or --samples FILE.npz (score given images), not both"
        )
    if args.samples and args.class_name:
        raise GanstudioError("--class is for generating samples from a conditional run, not for --samples FILE.npz")
    if args.samples:
        return Source(DataSpec.from_args(args), images=load_npz_images(args.samples))
    checkpoint_path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
    # paths and names are text, never markup; soft_wrap: one line however narrow the terminal (a path stays whole)
    console.print(f"scoring {chosen}: {checkpoint_path}", highlight=False, markup=False, soft_wrap=True)
    gan, ckpt = load_model(checkpoint_path, args.plugins, kind="gan", ema=not args.no_ema)
    trained_on = ckpt["data"]["name"]
    if args.data and args.data != trained_on:
        raise GanstudioError(
            f"{checkpoint_path} was trained on '{trained_on}', not '{args.data}' (omit --data to use '{trained_on}')"
        )
    # Real data the way the run found it, unless these options say otherwise.
    spec = DataSpec.from_dict(ckpt["config"]["data"])
    given = DataSpec.from_args(args, default=trained_on)
    spec.root = given.root or recorded_root(spec.root, checkpoint_path)
    spec.download = given.download or spec.download
    return Source(spec, gan, ckpt, checkpoint_path)


def scored_sets(source: Source, reference, samples: tuple, floor: tuple, asked, real, classes, notes: list) -> dict:
    """The scores of the samples and of the floor (the held-out real images), and their class consistency."""
    from ganstudio.scoring.evaluation import classes_differ, consistency_with_floor, score_features

    consistency = real_consistency = None
    if source.gan is not None and source.gan.condition == "class" and asked is not None:
        has_classes = samples[1].shape[1] > 0
        why_not = classes_differ(source.gan.config, classes, samples[1].shape[1]) if has_classes else None
        if not has_classes:  # DINOv2 has features only: class verdicts come from a classifier
            notes.append("note: no class consistency in this feature space: it is measured with --features classifier")
        elif why_not:
            notes.append(f"note: no class consistency: {why_not}")
        else:
            consistency, real_consistency = consistency_with_floor(
                samples[1], asked, floor[1], real.floor_labels, classes
            )
    return {
        "samples": score_features(reference, *samples, classes),
        "real": {
            **score_features(reference, *floor, classes),
            "kind": real.floor_name,
            "class_consistency": real_consistency,
        },
        "class_consistency": consistency,
    }


def what_was_scored(args, source: Source, train, space) -> dict:
    """The first keys of eval's result: the images scored, the real data and the feature space (its version,
    weights and protocol; the classifier's details for the classifier space)."""
    from ganstudio.scoring.spaces import describe

    ckpt, found = source.ckpt, getattr(space, "found", None)
    cls_ckpt = found.ckpt if found is not None else {}
    return {
        "checkpoint": str(source.checkpoint_path) if source.checkpoint_path else None,
        "samples_file": str(args.samples) if args.samples else None,
        "step": int(ckpt["progress"]["step"]) if ckpt else None,
        # Which generator weights made the samples: the averaged ones unless --no-ema or the checkpoint has none.
        "weights": None
        if ckpt is None
        else "raw"
        if args.no_ema or not (ckpt.get("ema") or {}).get("weights")
        else "ema",
        "class": args.class_name,
        "data": source.spec.name,
        "data_source": train.source,
        **describe(space),
        "feature_weights": space.weights,
        "classifier": str(found.path) if found is not None else None,
        "classifier_version": found.version if found is not None else None,  # equal: the same space, comparable
        "classifier_shipped": found.shipped if found is not None else None,
        "classifier_test_accuracy": (cls_ckpt.get("results") or {}).get("test_accuracy"),
    }


def run_eval(args) -> int:
    from ganstudio.scoring.evaluation import Reference
    from ganstudio.scoring.samples import real_sets
    from ganstudio.train.accel import resolve_device

    started = time.monotonic()
    limits.at_most("--n", args.n, limits.EVAL_IMAGES, "the standard FID uses 50,000")
    console = Console(stderr=True)
    device = resolve_device(args.device)
    source = load_source(args, console)
    train = load_data(args.plugins, source.spec, "train")
    notes = []
    space = feature_space(args, source, train, notes, device)
    try:
        held_out = load_data(args.plugins, source.spec, "test", quiet=True)
    except GanstudioError:
        held_out = None
    real = real_sets(train, held_out, args.n if source.images is None else len(source.images), args.seed)
    data = source.spec.name
    with Steps(console) as steps:
        *reference, cached = steps.real_features(
            "features: real training images", space, real.reference, data, "train", device
        )
        reference = Reference(*reference)
        *floor, _ = steps.real_features(
            "features: held-out real images", space, real.floor, data, real.floor_name, device
        )
        images, asked = source.images, None
        if source.gan is not None:
            images, asked = steps.generate(source.gan, args.n, args.seed, device, args.class_name)
        samples = steps.features("features: samples", space, images, device)
    classes = space.classes
    result = {
        **what_was_scored(args, source, train, space),
        "n": len(images),
        "reference_images": len(real.reference),
        "reference_split": "train",
        "real_features_cached": cached,
        "classes": classes,
        **scored_sets(source, reference, samples, tuple(floor), asked, real, classes, notes),
        "seconds": round(time.monotonic() - started, 2),
    }
    result["metrics_file"] = (
        None
        if source.checkpoint_path is None
        else str(append_to_metrics_file(source.checkpoint_path.parent / "metrics.jsonl", result, source.ckpt))
    )
    for note in notes:
        console.print(note, highlight=False, markup=False, soft_wrap=True)  # quotes class names: text, never markup
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, real.floor_name)
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command(
        "eval",
        help="score a GAN's samples (FID, KID, IS, precision/recall, class coverage; class "
        "consistency of conditional models) against real data",
        run=run_eval,
    )
    add_checkpoint_options(p)
    add_class_option(p)
    p.add_argument(
        "--samples", metavar="FILE.npz", help="score these images instead of generating: uint8 (N, H, W[, C])"
    )
    p.add_argument("--n", type=positive_int, default=10000, help="number of samples (and of real reference images)")
    p.add_argument(
        "--classifier",
        metavar="PATH",
        help="classifier checkpoint (default: the one shipped for fashion, mnist and their -mini subsets; for other "
        "data checkpoints/<data>-classifier/last.pt, trained if missing after saying how long it takes)",
    )
    p.add_argument(
        "--features",
        default="classifier",
        metavar="NAME",
        help="feature space to score in: classifier (default, offline), inception (the FID of papers; needs its "
        "weights file), dinov2 (see: ganstudio plugins)",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        help="the feature space's weights file (default: found in the ganstudio or torch hub cache; --download "
        "fetches it once)",
    )
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--seed", type=int, default=0, help="seed for the latents and the real subsets")
    p.add_argument("--device", default=TrainConfig.default("device"), help="auto (CUDA when present), cpu or cuda")
    add_data_options(p, default_data=None)
