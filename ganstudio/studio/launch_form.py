"""What the Train page's form becomes: the registered datasets and models, a model's declared options with the
defaults train would use, and the ``ganstudio train`` arguments of a filled-in form, checked first with train's own
option checks (ganstudio/train/entry.py check_options) so a bad value is the CLI's one line at once.

    fields = option_fields(plugins, "fashion", "dcgan")    # [{"name": "width", "default": "64", ...}, ...]
    name, args = train_args(studio, {"data": "fashion", "model": "dcgan", "options": {"width": "8"}, "steps": "50"})

The form names no file: the folders are the studio's, the data is found where the dataset looks by itself
(--data-root is no field: $GANSTUDIO_DATA, the cache, the system's folders).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ganstudio.api.options import describe_options, describe_type, field_types
from ganstudio.config import DataSpec, TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.limits import TEXT_CHARS
from ganstudio.store.runs import check_run_name, lock_held

BUDGET = ("steps", "minutes")  # train's own flags: its argparse checks them (a whole number, a number above 0)


def datasets(plugins) -> list[dict]:
    return [
        {"name": name, "default_model": d.default_model, "description": getattr(d, "description", "")}
        for name, d in plugins.datasets.items()
    ]


def models(plugins) -> list[dict]:
    return [{"name": name, "kind": m.kind, "description": m.description} for name, m in plugins.models.items()]


def shown(value) -> str:
    """A default as the form shows it and the command line takes it: true/false, none, 0.0002."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dataset_defaults(plugins, data: str, model: str) -> dict:
    """The dataset's own options for its default model (fashion-mini: hinge=false), as train applies them."""
    dataset = plugins.datasets.get(data)
    return dict(dataset.default_model_options) if dataset is not None and dataset.default_model == model else {}


def option_fields(plugins, data: str, model: str) -> list[dict]:
    """One entry per option the model declares: its name, type, the default train would use, the help line of
    ``ganstudio plugins NAME`` (describe_options)."""
    cls = plugins.model(model).options
    if cls is None:
        return []
    types = field_types(cls)
    own = dataset_defaults(plugins, data, model)
    fields = []
    for f, line in zip(dataclasses.fields(cls), describe_options(cls)):
        kind, optional = types[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        fields.append(
            {
                "name": f.name,
                "type": describe_type(kind, optional),
                "bool": kind is bool and not optional,
                "default": own.get(f.name, shown(default)),
                "dataset_default": f.name in own,
                "help": line,
            }
        )
    return fields


def text(form: dict, key: str) -> str:
    """A form field as text: stripped, at most TEXT_CHARS; anything else is one line."""
    value = form.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise GanstudioError(f"{key}: expected text, got {type(value).__name__}")
    value = str(value).strip()
    if len(value) > TEXT_CHARS:
        raise GanstudioError(f"{key}: at most {TEXT_CHARS} characters, got {len(value)}")
    return value


def changed_options(plugins, data: str, model: str, given) -> dict:
    """The options the form changed from the defaults it showed: the ones a person would type."""
    if not isinstance(given, dict):
        raise GanstudioError("options: expected a set of NAME: VALUE")
    defaults = {f["name"]: f["default"] for f in option_fields(plugins, data, model)}
    changed = {}
    for key in given:
        value = text(given, key)
        if key not in defaults or value != defaults[key]:
            changed[str(key)] = value  # an unknown name is check_options' one line
    return changed


def budget_of(form: dict) -> dict:
    return {key: text(form, key) for key in BUDGET}


def budget_args(budget: dict) -> list[str]:
    return [f"--{key}={value}" for key, value in budget.items() if value]


def folder_args(studio) -> list[str]:
    """The studio's folders and plugins, so the run is where the studio looks and trains with the same plugins."""
    args = [f"--checkpoints-dir={Path(studio.checkpoints_dir).resolve()}"]
    args.append(f"--samples-dir={Path(studio.samples_dir).resolve()}")
    sources = getattr(studio.plugins, "sources", {}) or {}
    if sources.get("plugins_dir") is not None:
        args.append(f"--plugins-dir={Path(sources['plugins_dir']).resolve()}")
    elif sources and not sources.get("entry_points", True) and not sources.get("local", True):
        args.append("--no-plugins")
    return args


def train_args(studio, form: dict) -> tuple[str, list[str], dict]:
    """(run name, the arguments of ``ganstudio train``, the budget) of a new run, or the CLI's one line."""
    if not isinstance(form, dict):
        raise GanstudioError("the form: expected a set of fields")
    data, model, name = text(form, "data"), text(form, "model"), text(form, "name")
    plugins = studio.plugins
    plugins.dataset(data)  # unknown names: the CLI's line, with the registered ones
    plugins.model(model)
    if name:
        check_run_name(name)
    options = changed_options(plugins, data, model, form.get("options") or {})
    config = TrainConfig(
        data=DataSpec(name=data),
        model=model,
        model_options={**dataset_defaults(plugins, data, model), **options},  # as train merges them
        name=name or None,
    )
    from ganstudio.train.entry import check_options  # imports torch: only once a run is to start

    check_options(config, plugins, resume=False)
    budget = budget_of(form)
    args = ["train", f"--data={data}", f"--model={model}", f"--name={config.run_name}"]
    args += [f"--model-option={key}={value}" for key, value in options.items()]
    return config.run_name, args + budget_args(budget) + folder_args(studio), budget


def resume_args(studio, form: dict) -> tuple[str, list[str], dict]:
    """(run name, the arguments of ``ganstudio train --resume``, the budget) of a run to continue."""
    if not isinstance(form, dict):
        raise GanstudioError("the form: expected a set of fields")
    name = check_run_name(text(form, "name"))
    budget = budget_of(form)
    return name, ["train", "--resume", f"--name={name}", *budget_args(budget), *folder_args(studio)], budget


def resumable_runs(checkpoints_dir) -> list[str]:
    """The runs under the studio's checkpoints folder that have a last.pt and are not being trained: names only
    (a folder whose name is not a plain run name is left out), the file itself is never read here."""
    root = Path(checkpoints_dir)
    names = []
    try:
        for path in sorted(root.glob("*/last.pt")):
            try:
                check_run_name(path.parent.name)
            except GanstudioError:
                continue
            if not lock_held(path.parent):
                names.append(path.parent.name)
    except OSError:
        return names
    return names
