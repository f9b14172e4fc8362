"""The plain data types of the plugin API (no torch at import): what a plugin registers (DatasetPlugin,
ModelPlugin, CallbackPlugin), what a dataset loads (DataRequest -> ImageData), what rebuilds a model (ModelConfig) and
how a metric is shown (Metric). Re-exported by ganstudio.api; any module may import it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

if TYPE_CHECKING:
    import torch

    from ganstudio.api.model import TrainableModel


def import_object(path: str):
    """``"package.module:attribute"`` -> the attribute, imported now (what a lazy ``ModelPlugin.build`` resolves to)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'package.module:attribute', got {path!r}")
    return getattr(importlib.import_module(module_name), attribute)


# --- datasets --------------------------------------------------------------------------------------


@dataclass
class DataRequest:
    """What the user asked for; a dataset plugin's ``load`` receives it."""

    split: str = "train"  # "train" or "test"
    root: Optional[Path] = None  # --data-root; None means "search the usual places"
    download: bool = False  # only ever True when the user passed --download
    image_size: Optional[int] = None  # --image-size, for datasets that can resize
    channels: Optional[int] = None  # --channels, for datasets that can convert
    quiet: bool = False  # suppress warnings/progress (tests, nested use)
    options: Any = None  # the plugin's options dataclass, filled from --data-option KEY=VALUE (None: it declares none)


@dataclass
class ImageData:
    """A whole dataset split held in memory: batches are drawn by index, no per-sample transforms."""

    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: Optional[torch.Tensor] = None  # int64, (N,), or None for unlabelled data
    classes: Optional[list[str]] = None  # class names, indexable by label
    source: str = ""  # where the data came from, said to the user and stored in checkpoints
    attributes: Optional[torch.Tensor] = None  # uint8 0/1, (N, K): binary attributes (CelebA's 40), or None
    attribute_names: Optional[list[str]] = None  # K names, e.g. "Smiling"

    def __post_init__(self):
        import torch

        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"ImageData.images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"ImageData has {len(self.images)} images but {len(self.labels)} labels")
        if self.attributes is not None and (self.attributes.dim() != 2 or len(self.attributes) != len(self.images)):
            raise ValueError(
                f"ImageData has {len(self.images)} images but attributes of shape {tuple(self.attributes.shape)}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class DatasetPlugin:
    """A named dataset. ``load(request) -> ImageData`` raises GanstudioError with a one-line reason on failure.
    ``options``: a dataclass of the plugin's settings (``--data-option KEY=VALUE``), handed over as
    ``request.options``."""

    name: str
    load: Callable[[DataRequest], ImageData]
    description: str = ""
    options: Optional[type] = None
    default_model: str = "dcgan"  # what ``ganstudio train --data NAME`` trains when no --model is given
    # --model-option values this dataset trains default_model with (strings, as the command line gives them); the
    # user's own --model-option wins for each key, and another --model leaves them out
    default_model_options: dict[str, str] = field(default_factory=dict)
    plugin: str = ""  # filled in by the registry: which plugin registered it


# --- models ----------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model from a checkpoint (plain types only: loads with weights_only=True)."""

    image_shape: tuple[int, int, int]  # (C, H, W) of the training data
    num_classes: int = 0  # 0 when the dataset has no labels
    options: dict[str, Any] = field(default_factory=dict)  # the model's options, e.g. {"latent_dim": 100}
    class_names: list[str] = field(default_factory=list)  # num_classes names, e.g. "Trouser"
    attribute_names: list[str] = field(default_factory=list)  # binary attributes of the data (CelebA's 40)
    model: str = ""  # the model plugin's name, for messages


@dataclass(frozen=True)
class Metric:
    """How the live view and the curves show a metric the model returns."""

    label: str  # shown in the view and the legend, e.g. "D(x)"
    group: str  # metrics of one group share a curves panel, e.g. "losses"
    format: str = "{:.3f}"  # e.g. "{:.2e}" for a learning rate
    range: Optional[tuple[float, float]] = None  # the panel's fixed y range, e.g. (0, 1) for probabilities
    points: bool = False  # sparse values (eval scores): drawn as points joined by lines, not smoothed
    scale: float = 1.0  # shown multiplied by this (KID is shown x1000: "KID x10^3 12.34", not "0.012")


@dataclass
class ModelPlugin:
    """A named model. ``build(ModelConfig) -> TrainableModel``; ``supports(image_shape)`` returns None or why not.
    ``options``: the model's options dataclass (``--model-option KEY=VALUE``); usually the model class's ``Options``.

    ``build`` may also be ``"package.module:Class"``: imported when a model is first built, so that registering
    the plugin imports no torch and ``ganstudio --help`` stays fast. Pass ``options`` then (it is not imported
    to find them): ``ModelPlugin("mygan", "mygan.model:MyGAN", options=MyGANOptions)``."""

    name: str
    build: Union[Callable[[ModelConfig], "TrainableModel"], str]
    kind: str = "gan"
    description: str = ""
    supports: Optional[Callable[[tuple], Optional[str]]] = None
    options: Optional[type] = None
    plugin: str = ""
    batch_size: Optional[int] = None  # ``train --model NAME``'s batch size when no --batch-size is given (None: 128)
    ema_decay: Optional[float] = None  # its generator EMA decay when no --ema-decay is given (None: 0, off)
    # steps at which this model, at its defaults, usually makes recognisable images; the summary warns below it
    recognisable_steps: Optional[int] = None

    def __post_init__(self):
        size, decay = self.batch_size, self.ema_decay
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ValueError(f"ModelPlugin {self.name!r}: batch_size must be a positive int or None, got {size!r}")
        if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1):
            raise ValueError(f"ModelPlugin {self.name!r}: ema_decay must be a number in [0, 1) or None, got {decay!r}")
        steps = self.recognisable_steps
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            raise ValueError(
                f"ModelPlugin {self.name!r}: recognisable_steps must be a positive int or None, got {steps!r}"
            )
        if isinstance(self.build, str):
            self.build = LazyBuild(self.build)
        elif self.options is None:
            self.options = getattr(self.build, "Options", None)


class LazyBuild:
    """A model class named by ``"package.module:Class"``, imported on the first build."""

    def __init__(self, path: str):
        if ":" not in path:
            raise ValueError(f"ModelPlugin build {path!r}: expected 'package.module:Class'")
        self.path = path

    def __call__(self, config: ModelConfig) -> "TrainableModel":
        return import_object(self.path)(config)

    def __repr__(self) -> str:
        return f"LazyBuild({self.path!r})"


# --- callbacks -------------------------------------------------------------------------------------


@dataclass
class CallbackPlugin:
    """A named callback. ``factory(options) -> object`` whose ``@hookimpl`` methods receive the lifecycle hooks for
    the length of a run; ``options`` is an instance of the ``options`` dataclass (or None when it declares none),
    filled from ``--<name>-<field>`` flags. The object may have ``state_dict()`` / ``load_state_dict(state)``:
    its state is then kept in the checkpoint and restored on resume; and ``close()``, called when the run ends
    however it ends (files, writers)."""

    name: str
    factory: Callable[[Any], Any]
    description: str = ""
    default: bool = True  # on unless the user passes --no-<name> or a --callbacks list without it
    options: Optional[type] = None
    metrics: dict = field(default_factory=dict)  # name -> Metric: how the view and curves show what it reports
    plugin: str = ""


# --- feature spaces --------------------------------------------------------------------------------


@dataclass
class FeatureExtractor:
    """A feature space that ``ganstudio eval --features NAME`` (and ``train --eval-features NAME``) scores in.
    ``load(**context)`` returns an encoder: ``encode(images_uint8, device, progress) -> (features (N, D), class
    probabilities (N, K))`` plus ``name``, ``version``, ``sha256`` (of its weights), ``protocol`` (a dict: resize,
    input range, ...), ``cacheable`` and ``classes``. ``context`` holds ``plugins``, ``spec`` (the DataSpec),
    ``checkpoints_dir``, ``weights`` (--weights PATH or None), ``download``, ``device``, ``classifier`` and
    ``plain``; a loader takes what it needs and ``**_``. A missing weights file is a GanstudioError of one line."""

    name: str
    load: Callable[..., Any]
    input_size: Optional[int] = None  # the side images are resized to (299 for Inception); None: the data's own
    input_range: str = "uint8 0..255"  # what the network is fed, said by `ganstudio plugins` and the docs
    channels: Optional[int] = None  # 3: grey images are repeated to RGB; None: the data's own
    weights: str = ""  # the weights file it needs ("" none: the classifier ships with ganstudio)
    description: str = ""
    plugin: str = ""  # filled in by the registry: which plugin registered it
