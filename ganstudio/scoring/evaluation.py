"""Scoring images against real data in a classifier's feature space; shared by ``ganstudio eval`` and the
``eval`` training callback.

    from ganstudio.scoring.evaluation import ensure_classifier, extract, Reference, score_features
    from ganstudio.plugins import load_plugins
    plugins = load_plugins()
    classifier, ckpt, path = ensure_classifier(plugins, DataSpec("fashion"))        # found under checkpoints/, or trained
    reference = Reference(*extract(classifier, train_images_uint8, "cpu"))
    print(score_features(reference, *extract(classifier, sample_images_uint8, "cpu")))  # {"fid": ..., ...}

The classifier for dataset D is ``checkpoints/D-classifier/last.pt`` (what ``ganstudio train --data D --model
classifier`` writes), else the newest ``classifier`` checkpoint trained on D, else one is trained there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.config import DataSpec
from ganstudio.errors import GanstudioError
from ganstudio.output.generation import load_model
from ganstudio.scoring.metrics import (class_histogram, density_coverage, feature_stats, frechet_distance, inception_score, kid, knn_radii,
                               precision_recall)

CLASSIFIER_MODEL = "classifier"
AUTO_TRAIN_EPOCHS = 20  # for a classifier trained on demand: ~93% on Fashion-MNIST (see docs/evaluation.md)
K_NEAREST = 3  # the k of the precision/recall manifolds (Kynkäänniemi et al. use 3)
K_DENSITY = 5  # the k of density and coverage (Naeem et al. 2020 use 5)


def classifier_run_name(data: str) -> str:
    return f"{data}-{CLASSIFIER_MODEL}"


def _describe(path: Path) -> Optional[dict]:
    try:
        ckpt = load_checkpoint(path)
        return {"kind": ckpt["model"]["kind"], "model": ckpt["model"]["name"], "data": ckpt["data"]["name"],
                "finished": ckpt["progress"].get("finished", True)}  # 0.1 checkpoints did not say: they were kept whole
    except (GanstudioError, KeyError, TypeError):
        return None


def find_classifier(checkpoints_dir, data: str) -> Optional[Path]:
    """checkpoints/<data>-classifier/last.pt, else the newest ``classifier`` checkpoint trained on ``data``; only
    classifiers whose training finished (one stopped by Ctrl-C is resumed by train_classifier instead)."""
    root = Path(checkpoints_dir)
    preferred = root / classifier_run_name(data) / "last.pt"
    if preferred.is_file():
        info = _describe(preferred)
        return preferred if info is None or info["finished"] else None
    others = sorted(root.glob("*/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for path in others:
        info = _describe(path)
        if info and info["kind"] == "classifier" and info["model"] == CLASSIFIER_MODEL and info["data"] == data and info["finished"]:
            return path
    return None


def train_classifier(plugins, spec: DataSpec, checkpoints_dir, device: str = "auto", epochs: Optional[int] = None,
                     plain: bool = False) -> Path:
    """Train ``classifier`` on ``spec``'s data into checkpoints/<data>-classifier/, with a progress view (continuing
    one that a signal stopped). Nested in another run, it leaves that run's random streams as they were (a resumed
    GAN stays bit-identical), and Ctrl-C / SIGTERM stops both: ``Interrupted``, never an unfinished classifier.

    A fresh plugin manager (the same plugins) keeps the callbacks of a surrounding training run out of this one."""
    import random

    from ganstudio.errors import Interrupted
    from ganstudio.output.live import LiveView
    from ganstudio.train.loop import fit
    from ganstudio.train.run import open_run
    from ganstudio.config import TrainConfig

    epochs = epochs or AUTO_TRAIN_EPOCHS
    config = TrainConfig(data=spec, model=CLASSIFIER_MODEL, name=classifier_run_name(spec.name), epochs=epochs, device=device,
                         checkpoints_dir=str(checkpoints_dir), callbacks=[])
    view = LiveView(f"train {config.run_name} (feature space for eval)", plain=True if plain else None)
    plugins = plugins.fresh()
    python_state = random.getstate()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
        unfinished = (Path(checkpoints_dir) / config.run_name / "last.pt").is_file()
        run = open_run(config, plugins, resume=unfinished, overwrite=not unfinished)
        what = "continuing the unfinished one" if unfinished else "training one"
        view.log(f"no classifier for '{spec.name}' yet: {what} ({epochs} epochs on {run.data.source}) into {run.checkpoint_path}")
        try:
            with view:
                code = fit(run, plugins, view)
        finally:
            random.setstate(python_state)
    if code:
        raise Interrupted(f"interrupted while training the '{spec.name}' classifier for eval; it continues where it stopped "
                          f"next time ({run.checkpoint_path})", code)
    return run.checkpoint_path


def load_classifier(path, plugins, data: Optional[str] = None, image_shape=None, classes=None):
    """(classifier model in eval mode, checkpoint); a clear error when it was trained on other data. Other data with
    the same class names (``classes``: the data's), such as a subset (fashion-mini of fashion), is accepted."""
    model, ckpt = load_model(path, plugins, kind="classifier")
    trained_on = ckpt.get("data", {}).get("name")
    same_classes = bool(classes) and list(classes) == list(ckpt.get("data", {}).get("classes") or [])
    if data is not None and trained_on != data and not same_classes:
        raise GanstudioError(f"classifier {path} was trained on '{trained_on}', but the images to score are '{data}': "
                             f"pass --classifier for a '{data}' classifier, or omit it to use/train one")
    shape = tuple(ckpt["model"]["config"]["image_shape"])
    if image_shape is not None and tuple(image_shape) != shape:
        raise GanstudioError(f"classifier {path} expects images of shape {shape}, the images to score are {tuple(image_shape)}")
    return model, ckpt


def ensure_classifier(plugins, spec: DataSpec, checkpoints_dir="checkpoints", path=None, device: str = "auto", plain: bool = False,
                      classes=None):
    """(classifier, checkpoint, path): ``path`` if given (trained on ``spec``'s data, or on data with the same
    ``classes``), else the cached one for ``spec.name``, else a newly trained one."""
    if path is None:
        path = find_classifier(checkpoints_dir, spec.name) or train_classifier(plugins, spec, checkpoints_dir, device, plain=plain)
    model, ckpt = load_classifier(path, plugins, spec.name, classes=classes)
    return model, ckpt, Path(path)


@torch.no_grad()
def extract(classifier, images: torch.Tensor, device, batch_size: int = 1000,
            progress: Optional[Callable[[int], None]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate features, class probabilities) of uint8 images, computed in batches."""
    from ganstudio.builtin.models.classifier.nets import predict

    classifier.to(device)
    return predict(classifier, images, device, batch_size, progress)


@dataclass
class Reference:
    """Features of real images that every set of samples is compared with; statistics computed once."""

    features: torch.Tensor
    probs: torch.Tensor

    def __post_init__(self):
        self.mu, self.sigma = feature_stats(self.features)
        self.radii = knn_radii(self.features.float(), K_NEAREST)
        self.density_radii = knn_radii(self.features.float(), K_DENSITY)


def score_features(reference: Reference, features: torch.Tensor, probs: torch.Tensor, class_names=None,
                   kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
    """Every eval score of one set of images (already turned into features/probabilities)."""
    mu, sigma = feature_stats(features)
    kid_mean, kid_std = kid(reference.features, features, kid_subsets, kid_subset_size)
    is_mean, is_std = inception_score(probs)
    precision, recall = precision_recall(reference.features, features, K_NEAREST, real_radii=reference.radii)
    density, coverage = density_coverage(reference.features, features, reference.density_radii, K_DENSITY)
    hist = class_histogram(probs, reference.probs.shape[1])
    name = (lambda i: class_names[i]) if class_names else str
    return {
        "fid": frechet_distance(reference.mu, reference.sigma, mu, sigma),
        "kid": kid_mean,
        "kid_std": kid_std,
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
        "class_counts": hist["counts"],
        "rarest_class": name(hist["rarest_class"]),
        "rarest_share": hist["rarest_share"],
        "commonest_class": name(hist["commonest_class"]),
        "commonest_share": hist["commonest_share"],
        "images": len(features),
    }


def class_consistency(probs: torch.Tensor, labels: torch.Tensor, class_names=None) -> dict:
    """How often a class-conditional generator makes what it was asked for, in the classifier's eyes: for each class
    asked for (``labels``), the share of its samples whose predicted class (the most probable) is that class; the
    mean over those classes (each class counts the same, however many samples it had), and the worst class.

    ``{"mean": 0.9, "worst_class": "Dress", "worst": 0.0, "per_class": {"T-shirt/top": 1.0, ...}}``"""
    predicted = probs.argmax(1).cpu()
    labels = labels.cpu().long()
    name = (lambda i: class_names[i]) if class_names else str
    per_class = {}
    for c in sorted(set(labels.tolist())):
        asked = labels == c
        per_class[name(c)] = int((predicted[asked] == c).sum()) / int(asked.sum())
    if not per_class:
        return {"mean": None, "worst_class": None, "worst": None, "per_class": {}}
    worst_class = min(per_class, key=per_class.get)  # the first of equals, in class order
    return {"mean": sum(per_class.values()) / len(per_class), "worst_class": worst_class, "worst": per_class[worst_class],
            "per_class": per_class}


def random_subset(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n images drawn without replacement, the same ones for the same seed (all of them when n >= len); the same
    n, seed and length pick the same rows of any tensor, so labels can be drawn alongside their images."""
    if n >= len(images):
        return images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
