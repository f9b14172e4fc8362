"""The evaluation classifiers shipped in the package (ganstudio/scoring/classifiers/): one feature space for everyone
who scores a built-in labelled dataset, with no training. Used by ganstudio/train/classifier.py.

    entry = shipped_for("fashion-mini")            # Shipped(version="fashion-cnn-v1", ...) or None
    model, ckpt = load_shipped(entry, plugins)     # sha256 checked, then the validating checkpoint reader

classifiers.json (written by scripts/train_eval_classifiers.py) names each file, its version, its sha256, its test
accuracy and the datasets it serves (a mini subset has its full set's image shape and classes, so it shares that
set's feature space). The file is checked against its sha256 before torch reads a byte of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ganstudio.errors import GanstudioError

FOLDER = Path(__file__).resolve().parent / "classifiers"
MANIFEST = FOLDER / "classifiers.json"


@dataclass(frozen=True)
class Shipped:
    data: str  # the dataset it was trained on
    version: str  # "fashion-cnn-v1": what score records name
    path: Path
    sha256: str
    test_accuracy: float
    size: int  # bytes


def manifest(path: Optional[Path] = None) -> dict:
    """classifiers.json, or {} when the package ships none (a source tree before the script ran)."""
    path = path or MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise GanstudioError(
            f"{path}: the list of shipped classifiers is unreadable ({e}); reinstall ganstudio"
        ) from None


def shipped_for(data: str, path: Optional[Path] = None) -> Optional[Shipped]:
    """The shipped classifier whose feature space scores ``data`` (a built-in dataset name), or None."""
    path = path or MANIFEST
    for trained_on, entry in manifest(path).items():
        if data in entry.get("serves", ()):
            return Shipped(
                trained_on,
                entry["version"],
                path.parent / entry["file"],
                entry["sha256"],
                entry["test_accuracy"],
                entry["bytes"],
            )
    return None


def shipped_version(sha256: str) -> Optional[str]:
    """The version of the shipped classifier with this sha256 (a copy of it passed as --classifier), or None."""
    return next((e["version"] for e in manifest().values() if e.get("sha256") == sha256), None)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(entry: Shipped) -> None:
    """One line when the file is missing or is not the one the package shipped."""
    try:
        found = file_sha256(entry.path)
    except OSError as e:
        raise GanstudioError(
            f"shipped classifier {entry.version} ({entry.path}) is unreadable: {e.strerror or e}; reinstall ganstudio, "
            f"or pass --classifier PATH"
        ) from None
    if found != entry.sha256:
        raise GanstudioError(
            f"shipped classifier {entry.path}: sha256 {found[:16]}... is not {entry.version}'s {entry.sha256[:16]}... "
            f"(the file was changed or damaged); reinstall ganstudio, or pass --classifier PATH"
        )


def load_shipped(entry: Shipped, plugins):
    """(classifier in eval mode, its checkpoint), after the sha256 check, through the same reader as any checkpoint."""
    from ganstudio.api.runs import load_model

    verify(entry)
    return load_model(entry.path, plugins, kind="classifier")
