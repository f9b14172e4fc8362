"""The classifier whose feature space eval scores in: found under checkpoints/, or trained there on demand. Imported
by ``ganstudio eval``, the eval callback and the benchmarks; the scoring itself is ganstudio/scoring/evaluation.py.

    from ganstudio.train.classifier import ensure_classifier
    classifier, ckpt, path = ensure_classifier(plugins, DataSpec("fashion"))   # found under checkpoints/, or trained

The classifier for dataset D is ``checkpoints/D-classifier/last.pt`` (what ``ganstudio train --data D --model
classifier`` writes), else the newest ``classifier`` checkpoint trained on D, else one is trained there.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import torch

from ganstudio.api.runs import load_model
from ganstudio.config import DataSpec, TrainConfig
from ganstudio.errors import GanstudioError, Interrupted
from ganstudio.store.checkpoint import load_checkpoint

CLASSIFIER_MODEL = "classifier"
DEFAULT_CHECKPOINTS_DIR = TrainConfig.default("checkpoints_dir")  # ensure_classifier's default, as the CLI's
AUTO_TRAIN_EPOCHS = 20  # for a classifier trained on demand: ~93% on Fashion-MNIST (see docs/evaluation.md)


def classifier_run_name(data: str) -> str:
    return f"{data}-{CLASSIFIER_MODEL}"


def _describe(path: Path) -> Optional[dict]:
    try:
        ckpt = load_checkpoint(path)
        return {
            "kind": ckpt["model"]["kind"],
            "model": ckpt["model"]["name"],
            "data": ckpt["data"]["name"],
            # 0.1 checkpoints did not say: they were kept whole
            "finished": ckpt["progress"].get("finished", True),
        }
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
        if (
            info
            and info["kind"] == "classifier"
            and info["model"] == CLASSIFIER_MODEL
            and info["data"] == data
            and info["finished"]
        ):
            return path
    return None


def train_classifier(
    plugins,
    spec: DataSpec,
    checkpoints_dir,
    device: str = TrainConfig.default("device"),
    epochs: Optional[int] = None,
    plain: bool = False,
) -> Path:
    """Train ``classifier`` on ``spec``'s data into checkpoints/<data>-classifier/, with a progress view (continuing
    one that a signal stopped). Nested in another run, it leaves that run's random streams as they were (a resumed
    GAN stays bit-identical), and Ctrl-C / SIGTERM stops both: ``Interrupted``, never an unfinished classifier.

    A fresh plugin manager (the same plugins) keeps the callbacks of a surrounding training run out of this one."""
    from ganstudio.output.live import LiveView
    from ganstudio.train.entry import train

    epochs = epochs or AUTO_TRAIN_EPOCHS
    config = TrainConfig(
        data=spec,
        model=CLASSIFIER_MODEL,
        name=classifier_run_name(spec.name),
        epochs=epochs,
        device=device,
        checkpoints_dir=str(checkpoints_dir),
        callbacks=[],
    )
    view = LiveView(f"train {config.run_name} (feature space for eval)", plain=True if plain else None)
    plugins = plugins.fresh()
    python_state = random.getstate()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
        unfinished = (Path(checkpoints_dir) / config.run_name / "last.pt").is_file()
        what = "continuing the unfinished one" if unfinished else "training one"

        def announce(run):
            view.log(
                f"no classifier for '{spec.name}' yet: {what} ({epochs} epochs on {run.data.source}) "
                f"into {run.checkpoint_path}"
            )

        try:
            run, code = train(
                config, plugins, resume=unfinished, overwrite=not unfinished, view=view, announce=announce
            )
        finally:
            random.setstate(python_state)
    if code:
        raise Interrupted(
            f"interrupted while training the '{spec.name}' classifier for eval; it continues where it "
            f"stopped next time ({run.checkpoint_path})",
            code,
        )
    return run.checkpoint_path


def load_classifier(path, plugins, data: Optional[str] = None, image_shape=None, classes=None):
    """(classifier model in eval mode, checkpoint); a clear error when it was trained on other data. Other data with
    the same class names (``classes``: the data's), such as a subset (fashion-mini of fashion), is accepted."""
    model, ckpt = load_model(path, plugins, kind="classifier")
    trained_on = ckpt.get("data", {}).get("name")
    same_classes = bool(classes) and list(classes) == list(ckpt.get("data", {}).get("classes") or [])
    if data is not None and trained_on != data and not same_classes:
        raise GanstudioError(
            f"classifier {path} was trained on '{trained_on}', but the images to score are '{data}': "
            f"pass --classifier for a '{data}' classifier, or omit it to use/train one"
        )
    shape = tuple(ckpt["model"]["config"]["image_shape"])
    if image_shape is not None and tuple(image_shape) != shape:
        raise GanstudioError(
            f"classifier {path} expects images of shape {shape}, the images to score are {tuple(image_shape)}"
        )
    return model, ckpt


def ensure_classifier(
    plugins,
    spec: DataSpec,
    checkpoints_dir=DEFAULT_CHECKPOINTS_DIR,
    path=None,
    device: str = TrainConfig.default("device"),
    plain: bool = False,
    classes=None,
):
    """(classifier, checkpoint, path): ``path`` if given (trained on ``spec``'s data, or on data with the same
    ``classes``), else the cached one for ``spec.name``, else a newly trained one."""
    if path is None:
        path = find_classifier(checkpoints_dir, spec.name) or train_classifier(
            plugins, spec, checkpoints_dir, device, plain=plain
        )
    model, ckpt = load_classifier(path, plugins, spec.name, classes=classes)
    return model, ckpt, Path(path)
