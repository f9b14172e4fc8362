"""The kit's building blocks: FixedBatches, step_context(), synthetic_data(), plugins_with() (the built-ins
plus yours) and train_run() (a short CPU training run); the checks in checks.py are built on them."""

from __future__ import annotations

import contextlib
import io
import signal
from pathlib import Path
from typing import Optional

import torch

from ganstudio import hookimpl
from ganstudio.api import Batches, DatasetPlugin, ImageData, StepContext
from ganstudio.api.model import Batch
from ganstudio.config import DataSpec


class FixedBatches(Batches):
    """Batches cut in turn from given float images in [-1, 1] (and labels / attributes), cycling; counts draws."""

    def __init__(self, images: torch.Tensor, labels=None, attributes=None, batch_size: Optional[int] = None):
        self.images, self.labels, self.attributes = images, labels, attributes
        self.batch_size = batch_size or len(images)
        self.drawn = 0

    def next(self) -> Batch:
        start = (self.drawn * self.batch_size) % max(1, len(self.images) - self.batch_size + 1)
        self.drawn += 1
        part = slice(start, start + self.batch_size)
        return Batch(
            self.images[part],
            self.labels[part] if self.labels is not None else None,
            self.attributes[part] if self.attributes is not None else None,
        )


def step_context(
    step: int = 0, fraction: Optional[float] = None, batch_size: int = 0, total_steps: Optional[int] = None
) -> StepContext:
    return StepContext(step, step * batch_size, 0.0, fraction, total_steps)


def _several(plugin) -> tuple:
    """A plugin, or a list/tuple of plugins registered together."""
    return tuple(plugin) if isinstance(plugin, (list, tuple)) else (plugin,)


def synthetic_data(n: int = 64, shape=(1, 28, 28), classes: int = 10, seed: int = 0) -> ImageData:
    """Labelled images with a class-dependent bright bar: tiny, deterministic, learnable."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    labels = torch.arange(n) % classes
    images = torch.randint(0, 40, (n, c, h, w), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        row = int(label) * (h - 3) // max(classes, 1)
        images[i, :, row : row + 3, 2:-2] = 220
    return ImageData(images, labels, [f"class{i}" for i in range(classes)], source="ganstudio.testing synthetic data")


class _Data:
    def __init__(self, data: ImageData):
        self.data = data

    @hookimpl
    def register_datasets(self, register):
        register(DatasetPlugin("contract-data", lambda request: self.data, "synthetic data of ganstudio.testing"))


def plugins_with(*plugins, data: Optional[ImageData] = None):
    """The built-in plugins plus ``plugins`` (modules or objects with hookimpls), and a ``contract-data`` dataset."""
    from ganstudio.plugins import check_pending, load_plugins

    loaded = load_plugins(entry_points=False, local=False)
    for i, plugin in enumerate(plugins):
        if not loaded.pm.is_registered(plugin):  # a built-in module is loaded already
            loaded.pm.register(plugin, name=f"under-test-{i}:{getattr(plugin, '__name__', type(plugin).__name__)}")
    loaded.pm.register(_Data(data if data is not None else synthetic_data()), name="contract-data")
    check_pending(loaded.pm)
    loaded.refresh()
    return loaded


class _StopAt:
    """Ctrl-C at a given step, as a user would: the run saves that step-aligned state and ends with exit code 130."""

    def __init__(self, step: int):
        self.step = step

    @hookimpl
    def after_training_step(self, step):
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


def train_run(
    plugins,
    folder,
    model: str,
    steps: int,
    resume: bool = False,
    callbacks=(),
    options=None,
    callback_options=None,
    batch_size: int = 16,
    name: str = "contract",
    stop_at: Optional[int] = None,
):
    """Train ``model`` on ``contract-data`` for ``steps`` (total) under ``folder``; returns the finished Run.
    ``stop_at``: interrupt the run there (a run planned for ``steps``, stopped early, as Ctrl-C would)."""
    from ganstudio.config import TrainConfig
    from ganstudio.train.entry import train

    # ema_decay: the kit checks that the core's generator EMA resumes exactly with every model.
    config = TrainConfig(
        data=DataSpec("contract-data"),
        model=model,
        model_options=dict(options or {}),
        name=name,
        steps=steps,
        ema_decay=0.999,
        batch_size=batch_size,
        device="cpu",
        precision="fp32",
        log_every=1,
        grid_samples=8,
        checkpoints_dir=str(Path(folder) / "checkpoints"),
        samples_dir=str(Path(folder) / "samples"),
        callbacks=list(callbacks),
        callback_options=dict(callback_options or {}),
    )
    stopper = _StopAt(stop_at) if stop_at is not None else None
    if stopper is not None:
        plugins.pm.register(stopper, name="ganstudio.testing:stop-at")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            run, code = train(config, plugins, resume=resume, overwrite=not resume)
    finally:
        if stopper is not None:
            plugins.pm.unregister(stopper)
    expected = 128 + signal.SIGINT if stop_at is not None else 0
    assert code == expected, f"training '{model}' exited {code}, expected {expected}"
    return run
