"""Scoring images against real data in a classifier's feature space; shared by ``ganstudio eval``, the ``eval``
training callback and the benchmarks. Imports no built-in and no engine: the classifier comes from the caller
(ganstudio/train/classifier.py finds or trains one), and only its contract is used: ``features(x)`` and
``head(features)`` for float images in [-1, 1].

    from ganstudio.scoring.evaluation import extract, Reference, score_features
    reference = Reference(*extract(classifier, train_images_uint8, "cpu"))
    print(score_features(reference, *extract(classifier, sample_images_uint8, "cpu")))  # {"fid": ..., ...}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ganstudio.api.images import to_float
from ganstudio.scoring.metrics import (
    class_histogram,
    density_coverage,
    feature_stats,
    frechet_distance,
    inception_score,
    kid,
    knn_radii,
    precision_recall,
)

K_NEAREST = 3  # the k of the precision/recall manifolds (Kynkäänniemi et al. use 3)
K_DENSITY = 5  # the k of density and coverage (Naeem et al. 2020 use 5)
HISTOGRAM_KEYS = ("counts", "rarest_class", "rarest_share", "commonest_class", "commonest_share")


@torch.no_grad()
def predict(
    classifier,
    images_uint8: torch.Tensor,
    device,
    batch_size: int = 1000,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features float32 (N, hidden), class probabilities (N, classes)) on the CPU for uint8 images, in batches, with
    the classifier in eval mode (its training mode is restored afterwards)."""
    was_training = classifier.training
    classifier.eval()
    feats, probs = [], []
    try:
        for i in range(0, len(images_uint8), batch_size):
            x = to_float(images_uint8[i : i + batch_size].to(device))
            f = classifier.features(x)
            feats.append(f.float().cpu())
            probs.append(torch.softmax(classifier.head(f).float(), dim=1).cpu())
            if progress is not None:
                progress(len(x))
    finally:
        classifier.train(was_training)
    return torch.cat(feats), torch.cat(probs)


def extract(
    classifier, images: torch.Tensor, device, batch_size: int = 1000, progress: Optional[Callable[[int], None]] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate features, class probabilities) of uint8 images, computed in batches on ``device``."""
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


def score_features(
    reference: Reference,
    features: torch.Tensor,
    probs: torch.Tensor,
    class_names=None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict:
    """Every eval score of one set of images (already turned into features/probabilities). A space without classes
    (DINOv2: ``probs`` has no columns) has no Inception Score and no class shares: those are None, not made up."""
    mu, sigma = feature_stats(features)
    kid_mean, kid_std = kid(reference.features, features, kid_subsets, kid_subset_size)
    has_classes = probs.shape[1] > 0
    is_mean, is_std = inception_score(probs) if has_classes else (None, None)
    precision, recall = precision_recall(reference.features, features, K_NEAREST, real_radii=reference.radii)
    density, coverage = density_coverage(reference.features, features, reference.density_radii, K_DENSITY)
    hist = class_histogram(probs, reference.probs.shape[1]) if has_classes else dict.fromkeys(HISTOGRAM_KEYS)
    name = (lambda i: class_names[i]) if class_names else str
    name = name if has_classes else (lambda i: None)
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
    return {
        "mean": sum(per_class.values()) / len(per_class),
        "worst_class": worst_class,
        "worst": per_class[worst_class],
        "per_class": per_class,
    }


def classes_differ(model_config, classifier_classes, classifier_outputs: int) -> Optional[str]:
    """Why the classifier's classes cannot be compared with the ones a conditional generator (its ``ModelConfig``)
    was asked for; None: they can."""
    names = list(model_config.class_names)
    if model_config.num_classes != classifier_outputs:
        return f"the model has {model_config.num_classes} classes, the classifier {classifier_outputs}"
    if names and classifier_classes and names != list(classifier_classes):
        return "the model's classes and the classifier's are not the same (or not in the same order)"
    return None


def consistency_with_floor(sample_probs, asked, floor_probs, floor_labels, class_names=None):
    """(class consistency of samples asked for the classes ``asked``, its floor); the floor is how often the
    classifier sees held-out real images as their own class (its per-class test accuracy), the consistency a
    generator that made real images would get, over the classes asked for only (None without labels or such images)."""
    consistency = class_consistency(sample_probs, asked, class_names)
    if floor_labels is None:
        return consistency, None
    kept = torch.isin(floor_labels.cpu().long(), asked.cpu().long().unique())
    if not kept.any():
        return consistency, None
    return consistency, class_consistency(floor_probs.cpu()[kept], floor_labels.cpu()[kept], class_names)


def random_subset(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n images drawn without replacement, the same ones for the same seed (all of them when n >= len); the same
    n, seed and length pick the same rows of any tensor, so labels can be drawn alongside their images."""
    if n >= len(images):
        return images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
