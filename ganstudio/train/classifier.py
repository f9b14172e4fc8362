"""The classifier whose feature space eval scores in: the one shipped for a built-in dataset, one found under
checkpoints/, or one trained there on demand (after saying how long it takes). Imported by ``ganstudio eval``, the
eval callback and the benchmarks; the scoring itself is ganstudio/scoring/evaluation.py.

    from ganstudio.train.classifier import ensure_classifier
    found = ensure_classifier(plugins, DataSpec("fashion"))   # found.model, .ckpt, .path, .version ("fashion-cnn-v1")

The order: an explicit path; else the classifier shipped for the dataset (ganstudio/scoring/shipped.py: fashion,
mnist and their mini subsets; one feature space for everyone); else ``checkpoints/D-classifier/last.pt`` (what
``ganstudio train --data D --model classifier`` writes) or the newest finished ``classifier`` checkpoint trained on
D; else one is trained there.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import NamedTuple, Optional

import torch

from ganstudio.api.runs import load_model
from ganstudio.config import DataSpec, TrainConfig
from ganstudio.errors import GanstudioError, Interrupted
from ganstudio.scoring.shipped import file_sha256, load_shipped, shipped_for, shipped_version
from ganstudio.store.checkpoint import load_checkpoint

CLASSIFIER_MODEL = "classifier"
DEFAULT_CHECKPOINTS_DIR = TrainConfig.default("checkpoints_dir")  # ensure_classifier's default, as the CLI's
AUTO_TRAIN_EPOCHS = 20  # for a classifier trained on demand: ~93% on Fashion-MNIST (see docs/evaluation.md)


class Classifier(NamedTuple):
    """A feature space: the model, its checkpoint, its file and its version: the shipped one's (``fashion-cnn-v1``),
    else ``local-`` and the first 12 hex digits of the file's sha256 (equal versions: the same feature space)."""

    model: object
    ckpt: dict
    path: Path
    version: str
    shipped: bool = False


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


class Announcement:
    """The one line said before a classifier trains on demand: why, how long on this machine, how to skip it."""

    def __init__(self, view, data: str, epochs: int, unfinished: bool):
        self.view, self.data, self.epochs, self.said = view, data, epochs, False
        self.what = "continuing the unfinished one" if unfinished else "training one"

    def __call__(self, run) -> None:
        self.said = True
        epochs = self.epochs
        steps = max(epochs * run.batches.per_epoch - run.step, 0)
        self.view.log(
            f"no classifier ships with ganstudio for '{self.data}' and none is trained yet: {self.what} "
            f"({epochs} epoch{'s' if epochs != 1 else ''}, {steps:,} steps on {len(run.data):,} images of "
            f"{run.data.source}), about {duration(steps * seconds_per_step(run))} on this machine, into "
            f"{run.checkpoint_path}; to skip it, stop now (Ctrl-C) and pass --classifier PATH (a classifier "
            f"trained on this data)"
        )


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
        announce = Announcement(view, spec.name, epochs, unfinished)
        try:
            run, code = train(
                config, plugins, resume=unfinished, overwrite=not unfinished, view=view, announce=announce
            )
        except GanstudioError as e:
            if announce.said or isinstance(e, Interrupted):
                raise
            raise GanstudioError(
                f"eval needs a classifier for '{spec.name}' and none ships with ganstudio; training one failed: "
                f"{e} (pass --classifier PATH to use one trained elsewhere)"
            ) from None
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


def seconds_per_step(run, repeats: int = 3) -> float:
    """One training batch of ``run``'s classifier timed on this machine as it is now (a copy, forward and backward,
    the fastest of the repeats after a warm-up), without touching the run's weights or random streams."""
    import copy

    import torch.nn.functional as F

    from ganstudio.api.images import to_float

    model = copy.deepcopy(run.model).train()
    images = to_float(run.data.images[: run.config.batch_size].to(run.device))
    labels = run.data.labels[: len(images)].to(run.device)
    times = []
    with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
        for _ in range(repeats):
            started = time.perf_counter()
            with model.autocast():
                loss = F.cross_entropy(model(model.augment(images)).float(), labels)
            loss.backward()
            float(loss.detach())  # waits for the device
            times.append(time.perf_counter() - started)
    return min(times[1:] or times)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def version_of(path) -> tuple[str, bool]:
    """(version, shipped): a copy of a shipped classifier keeps its version; any other is ``local-<sha256[:12]>``."""
    digest = file_sha256(Path(path))
    version = shipped_version(digest)
    return (version, True) if version else (f"local-{digest[:12]}", False)


def ensure_classifier(
    plugins,
    spec: DataSpec,
    checkpoints_dir=DEFAULT_CHECKPOINTS_DIR,
    path=None,
    device: str = TrainConfig.default("device"),
    plain: bool = False,
    classes=None,
) -> Classifier:
    """The feature space for ``spec``'s data: ``path`` if given (trained on ``spec``'s data, or on data with the same
    ``classes``), else the one shipped for ``spec.name``, else the cached one, else a newly trained one."""
    if path is None:
        entry = shipped_for(spec.name)
        if entry is not None:
            model, ckpt = load_shipped(entry, plugins)
            return Classifier(model, ckpt, entry.path, entry.version, shipped=True)
        path = find_classifier(checkpoints_dir, spec.name) or train_classifier(
            plugins, spec, checkpoints_dir, device, plain=plain
        )
    model, ckpt = load_classifier(path, plugins, spec.name, classes=classes)
    return Classifier(model, ckpt, Path(path), *version_of(path))
