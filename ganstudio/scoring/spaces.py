"""Feature spaces as plugins (the ``register_feature_extractors`` hook): looking one up and loading it, the encoder of
the shipped classifier, and the cache of real images' features, so a second eval does not encode the reals again.

    space = load_space(plugins, "inception", weights="w.pth", device="cpu")   # an encoder (see FeatureExtractor)
    features, probs, hit = cached_encode(space, train_images, "fashion", "train", "cpu")
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import sys
import zipfile
from pathlib import Path
from typing import Callable, Optional

import torch

from ganstudio import limits
from ganstudio.api.types import FeatureExtractor
from ganstudio.errors import unknown_name
from ganstudio.scoring.shipped import file_sha256

DEFAULT = "classifier"


def registered(plugins) -> dict[str, FeatureExtractor]:
    """Every registered feature space by name (collected and checked like datasets and models)."""
    return plugins.feature_extractors


def load_space(plugins, name: str, **context):
    """The encoder of the feature space ``name``; ``context`` as FeatureExtractor.load documents."""
    spaces = registered(plugins)
    if name not in spaces:
        raise unknown_name("feature space", name, list(spaces))
    return spaces[name].load(plugins=plugins, **context)


class ClassifierSpace:
    """The encoder of a classifier (train/classifier.py ``Classifier``): its penultimate features and its class
    probabilities, at the data's own size, in [-1, 1]. Cheap to run, so its real features are not cached."""

    name = "classifier"
    cacheable = False

    def __init__(self, found):
        self.found = found
        self.version = found.version
        self.sha256 = file_sha256(found.path)
        self.weights = f"{found.path} (sha256 {self.sha256[:16]}...)"
        self.classes = list(found.ckpt["data"].get("classes") or []) or None
        self.protocol = {
            "resize": "none (the data's own size)",
            "input": "float -1..1",
            "features": "penultimate layer",
            "network": found.version,
        }

    def encode(self, images, device, progress: Optional[Callable[[int], None]] = None):
        from ganstudio.scoring import evaluation  # looked up at call time: tests swap in another extractor

        return evaluation.extract(self.found.model, images, device, progress=progress)


def describe(space) -> dict:
    """What every eval record says about its feature space (``--json`` and metrics.jsonl)."""
    return {
        "feature_space": space.name,
        "feature_space_version": space.version,
        "feature_weights_sha256": space.sha256,
        "protocol": dict(space.protocol),
    }


def cache_file(space, images: torch.Tensor, data: str, split: str) -> tuple[Path, dict]:
    """Where the features of exactly these images in exactly this space are kept, and the key stored in the file."""
    from ganstudio.api.data import cache_root

    key = {
        **describe(space),
        "images_sha256": hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest(),
        "images": len(images),
        "image_shape": list(images.shape[1:]),
        "split": split,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{data}-{split}-{space.name}")[:80]
    return cache_root() / "real-features" / f"{safe}-{digest}.pt", key


def read_cached(path: Path, key: dict) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """The cached (features, probs) if the file is whole and for this key; None otherwise (it is then rebuilt)."""
    if not path.is_file() or path.stat().st_size > limits.REAL_FEATURES_BYTES:
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError):
        return None
    if not isinstance(payload, dict) or payload.get("key") != json.dumps(key, sort_keys=True):
        return None
    features, probs = payload.get("features"), payload.get("probs")
    n = key["images"]
    for t in (features, probs):
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.dim() == 2 and len(t) == n):
            return None
        if not torch.isfinite(t).all():
            return None
    return features, probs


def cached_encode(space, images, data: str, split: str, device, progress=None, encode=None):
    """(features, probs, True when read from the cache) of real images; a cacheable space's are written to the cache
    through the atomic writer and read back validated; a damaged or foreign cache file is encoded again."""
    from ganstudio.store.atomic import atomic_write

    encode = encode or space.encode
    if not getattr(space, "cacheable", False):
        return (*encode(images, device, progress), False)
    path, key = cache_file(space, images, data, split)
    found = read_cached(path, key)
    if found is not None:
        if progress is not None:
            progress(len(images))
        return (*found, True)
    features, probs = encode(images, device, progress)
    payload = {"key": json.dumps(key, sort_keys=True), "features": features.float(), "probs": probs.float()}
    try:
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
    except OSError as e:  # a full or read-only cache costs the next eval time, not this one its result
        print(f"note: real features not cached ({path}: {e.strerror or e})", file=sys.stderr)
    return features, probs, False
