"""The feature space of ``train --eval-every``: ``--eval-features NAME`` (``--eval-weights PATH``) checked and loaded
at train start, and the metrics its scores are declared as. A helper of eval.py (so that
file stays short) and of curves.py (which labels every space's scores the same way).

    space = load_training_space(run, "inception", weights="w.pth")       # before any step: one line if it cannot
    metrics = space_metrics("inception")     # {"fid_inception": Metric("FID (Inception)", ...), ...}
"""

from __future__ import annotations

import re
from typing import Optional

from ganstudio.api import Metric
from ganstudio.errors import GanstudioError, Interrupted, PluginError
from ganstudio.scoring.table import BEST, SPACE_NAMES, TRAINING_SCORES, labelled, record_key, space_name

DEFAULT = "classifier"
# The loaders word their errors for `ganstudio eval`'s flags; a training run is given these instead. The errors at
# train start are PluginErrors: the hook dispatcher passes those through as they are, so that the line reads as
# eval's does (any other error gets "plugin 'callback:eval' failed in hook ..." in front).
# Downloading is eval's (``ganstudio eval --features NAME --download``, on any run or --samples file): once.
TRAIN_FLAGS = {"features": "--eval-features", "weights": "--eval-weights", "download": "--download (of ganstudio eval)"}


def space_metrics(space: Optional[str], scores=TRAINING_SCORES) -> dict[str, Metric]:
    """The declared metrics of ``scores`` measured in ``space``, under their record keys: every label names the
    space, and a space other than the classifier's has panels of its own (its values are on another scale)."""
    qualified = space not in (None, DEFAULT)

    def group(name: str) -> str:
        return f"{name} ({space_name(space)})" if qualified else name

    metrics = {
        record_key(s.key, space): Metric(
            labelled(s, space), group(s.group), format=s.format, range=s.range, points=True, scale=s.scale
        )
        for s in scores
    }
    floor = f"{labelled(BEST, space)} of real images"
    metrics[record_key(BEST.floor, space)] = Metric(floor, group(BEST.group), format=BEST.format, points=True)
    return metrics


def declared_metrics(spaces=SPACE_NAMES, scores=TRAINING_SCORES) -> dict[str, Metric]:
    """The metrics of every space in ``spaces`` (the built-in ones by default: declared when the callback
    registers, before any feature space plugin is known)."""
    return {key: metric for space in spaces for key, metric in space_metrics(space, scores).items()}


def for_training(error: GanstudioError) -> PluginError:
    """The loader's one line with the flags of ``ganstudio train`` (--eval-weights for --weights, ...)."""
    text = re.sub(r"(?<![\w-])--(features|weights|download)(?![\w-])", lambda m: TRAIN_FLAGS[m.group(1)], str(error))
    return PluginError(text)


def check_options(every: Optional[int], features: str, weights: Optional[str]) -> None:
    """Options that would do nothing are one line, at train start."""
    if not every and (features != DEFAULT or weights):
        raise PluginError("--eval-features and --eval-weights score only with --eval-every N")
    if features == DEFAULT and weights:
        raise PluginError(
            "--eval-weights is for --eval-features inception (or another space with a weights file); the classifier "
            "is the one shipped for the dataset, or trained once"
        )


def load_training_space(run, name: str, weights: Optional[str] = None):
    """The encoder of feature space ``name`` for a training run (scoring/spaces.py), loaded before any step: an
    unknown name, a missing or damaged weights file, or a classifier for other images is one line."""
    from ganstudio.scoring.spaces import load_space

    c = run.config
    try:
        space = load_space(
            run.plugins,
            name,
            spec=c.data,
            checkpoints_dir=c.checkpoints_dir,
            weights=weights,
            download=False,  # no surprise downloads at train start: the missing file's line says how
            # the classifier trains on demand with the run's --device setting; a network goes to the run's device
            device=c.device if name == DEFAULT else run.device,
            plain=True,  # plain progress lines: the training run's own live display is already on screen
        )
    except Interrupted:  # Ctrl-C while a classifier trains for it: its exit status stays
        raise
    except GanstudioError as e:
        raise for_training(e) from None
    found = getattr(space, "found", None)
    if found is not None:
        expected = tuple(found.model.config.image_shape)
        if expected != tuple(run.data.image_shape):
            raise PluginError(
                f"--eval-every: classifier {found.path} expects {expected} images, this run makes "
                f"{tuple(run.data.image_shape)}"
            )
    return space


def describe_space(space) -> str:
    """``fashion-cnn-v1 (shipped with ganstudio)``, a user's classifier's path, or ``inception (version; weights)``."""
    found = getattr(space, "found", None)
    if found is not None:
        return f"{found.version} (shipped with ganstudio)" if found.shipped else str(found.path)
    return f"{space.name} ({space.version}; weights {space.weights})"
