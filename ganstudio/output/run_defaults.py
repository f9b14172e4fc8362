"""What a run changed: its options that differ from what ``ganstudio train --data D --model M`` uses unasked.

    model_options, settings = changed_options(ckpt["config"], "cdcgan", "fashion", plugins)

The baseline is the model's own (its batch size and EMA decay, its options dataclass, and the dataset's default model
options when the model is the dataset's default), as ``train`` chooses them (builtin/commands/train_config.py), so
that ``cdcgan batch_size=64 ema_decay=0.999`` is no change. A run of a model that is not installed falls back to
what its checkpoint records: the model options it was given, and the settings that differ from TrainConfig's.
"""

from __future__ import annotations

import dataclasses

from ganstudio.api.options import convert, field_types
from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError

# The run settings a summary lists (in this order) when they differ from the defaults, with their train flags.
FLAGS = (
    ("batch_size", "--batch-size"),
    ("seed", "--seed"),
    ("precision", "--precision"),
    ("ema_decay", "--ema-decay"),
    ("augment", "--augment"),
)
DEFAULTS = {name: TrainConfig.default(name) for name, _ in FLAGS}  # train's, whatever the model


def setting_defaults(entry) -> dict:
    """The run settings ``train --model NAME`` uses when none is given: the model plugin's own, else TrainConfig's."""
    defaults = dict(DEFAULTS)
    if entry is not None and entry.batch_size:
        defaults["batch_size"] = entry.batch_size
    if entry is not None and entry.ema_decay is not None:
        defaults["ema_decay"] = entry.ema_decay
    return defaults


def option_defaults(entry, dataset) -> dict:
    """The model's options as ``train`` sets them unasked: the options dataclass's defaults, with the dataset's
    default model options (fashion-mini: hinge=false) when the model is the dataset's default."""
    defaults = {}
    if entry.options is not None:
        for f in dataclasses.fields(entry.options):
            defaults[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if dataset is not None and dataset.default_model == entry.name:
        defaults.update(dataset.default_model_options)
    return defaults


def same_value(value, default, kind: type, optional: bool) -> bool:
    """Whether an option's recorded value (text as given, or a value) is its default, compared as its type."""
    none = lambda v: v is None or (optional and isinstance(v, str) and v.strip().lower() == "none")  # noqa: E731
    if none(value) or none(default):
        return none(value) and none(default)
    try:
        return convert(value, kind, "") == convert(default, kind, "")
    except (GanstudioError, TypeError, ValueError, OverflowError):  # a damaged value: listed as it is
        return False


def changed_options(config: dict, model: str, data: str, plugins) -> tuple[dict, dict]:
    """(model options, run settings) of a checkpoint's ``config`` that differ from the defaults of ``model`` on
    ``data``; ``plugins``: the loaded Plugins, or None (then TrainConfig's defaults, and the options as given)."""
    given = dict(config.get("model_options") or {})
    entry = plugins.models.get(model) if plugins is not None else None
    settings_base = setting_defaults(entry)
    settings = {k: config[k] for k, _ in FLAGS if k in config and config[k] != settings_base[k]}
    if entry is None:
        return given, settings
    defaults = option_defaults(entry, plugins.datasets.get(data))
    types = field_types(entry.options) if entry.options is not None else {}
    options = {
        key: value
        for key, value in given.items()
        if key not in defaults or key not in types or not same_value(value, defaults[key], *types[key])
    }
    return options, settings
