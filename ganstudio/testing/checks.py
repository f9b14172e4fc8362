"""The contract checks: check_model_plugin(), check_dataset_plugin() and check_callback_plugin(), each
raising AssertionError that names what broke."""

from __future__ import annotations

import contextlib
import inspect
import io
from pathlib import Path
from typing import Optional

import torch

from ganstudio.api import ImageData, ModelConfig, TrainableModel
from ganstudio.api.data import load_data
from ganstudio.api.images import to_float
from ganstudio.api.options import parse_options
from ganstudio.config import DataSpec
from ganstudio.errors import GanstudioError
from ganstudio.testing.runs import FixedBatches, _several, plugins_with, step_context, synthetic_data, train_run


def _weights(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def check_model_plugin(
    plugin,
    name: str,
    folder,
    options: Optional[dict] = None,
    data: Optional[ImageData] = None,
    distributed: bool = True,
) -> None:
    """Builds; one step changes the weights and returns finite scalar metrics; generate has the data's shape and
    range; a conditional model honours its labels; the state round-trips; two steps + resume + two steps equals
    four steps exactly on the CPU; ``ganstudio sample`` works from the checkpoint alone; with ``distributed``, three
    steps on two processes (DDP over gloo, as ``--nproc 2``) run with the model's ``ddp_options`` and leave the
    ranks with the same weights."""
    data = data if data is not None else synthetic_data()
    plugins = plugins_with(*_several(plugin), data=data)
    assert name in plugins.models, f"model '{name}' is not registered (registered: {', '.join(plugins.models)})"
    entry = plugins.models[name]
    parse_options(entry.options, dict(options or {}), f"model '{name}'")  # the options parse on their own
    classes = list(data.classes or [])

    def build() -> TrainableModel:
        attributes = list(data.attribute_names or [])
        return entry.build(ModelConfig(data.image_shape, len(classes), dict(options or {}), classes, attributes, name))

    torch.manual_seed(0)
    model = build()
    assert isinstance(model, TrainableModel), f"build returned {type(model).__name__}, not a TrainableModel"
    optimizers = model.configure_optimizers()
    assert optimizers and all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values()), (
        "configure_optimizers: a dict of optimizers"
    )
    before = _weights(model)
    batches = FixedBatches(
        to_float(data.images),
        data.labels,
        data.attributes.float() if data.attributes is not None else None,
        batch_size=16,
    )
    metrics = model.training_step(batches, optimizers, step_context(fraction=0.0))
    assert batches.drawn >= 1, "training_step drew no batch"
    assert any(not torch.equal(before[k], v) for k, v in _weights(model).items()), "one training step changed no weight"
    for key, value in (metrics or {}).items():
        assert isinstance(value, torch.Tensor) and value.numel() == 1, f"metric '{key}' is not a scalar tensor"
        assert not value.requires_grad, f"metric '{key}' is not detached"
        assert torch.isfinite(value), f"metric '{key}' is not finite after one step"
    if model.kind == "gan":
        _check_generation(model, data)
    _check_resume(plugins, name, Path(folder), options, model.kind)
    if distributed:
        from ganstudio.testing.ddp import check_distributed_step

        check_distributed_step(build, data, Path(folder) / "ddp")


def _check_resume(plugins, name: str, folder: Path, options: Optional[dict], kind: str) -> None:
    """2 steps + resume + 2 steps equals 4 steps (weights and EMA); the checkpoint alone reproduces the samples."""
    from ganstudio.api.runs import load_run
    from ganstudio.output.generation import generate_images

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        straight = train_run(plugins, folder / "straight", name, 4, options=options)
        # The first leg is planned for 4 steps too (schedules that follow context.fraction see the same values).
        train_run(plugins, folder / "resumed", name, 4, options=options, stop_at=2)
        resumed = train_run(plugins, folder / "resumed", name, 4, resume=True, options=options)
    for key, value in _weights(straight.model).items():
        assert torch.equal(value, _weights(resumed.model)[key]), (
            f"resume is not exact: '{key}' differs after 2 + 2 steps vs 4"
        )
    if straight.ema is not None:  # the generator's moving average (train_run turns it on) resumes exactly too
        assert resumed.ema is not None and resumed.ema.updates == straight.ema.updates, (
            "the generator EMA was not resumed"
        )
        for key, value in _weights(straight.ema.module).items():
            assert torch.equal(value, _weights(resumed.ema.module)[key]), (
                f"resume is not exact: EMA '{key}' differs after 2 + 2 steps vs 4"
            )
    if kind == "gan":
        loaded, info = load_run(resumed.checkpoint_path, plugins=plugins, kind="gan")
        assert info.step == 4 and info.model == name and info.ema == (resumed.ema is not None), f"load_run: {info}"
        z = loaded.sample_latent(4, generator=torch.Generator().manual_seed(0))
        labels = loaded.sample_labels(4, generator=torch.Generator().manual_seed(1))
        with resumed.ema.swapped_into(resumed.model) if resumed.ema is not None else contextlib.nullcontext():
            again = generate_images(resumed.model, z, labels)  # what the run itself shows: the averaged generator
        assert torch.equal(generate_images(loaded, z, labels), again), (
            "the checkpoint alone does not reproduce the samples"
        )


def _check_generation(model: TrainableModel, data: ImageData) -> None:
    from ganstudio.output.generation import generate_images

    assert model.latent_dim > 0, "a GAN sets latent_dim"
    z = model.sample_latent(6, generator=torch.Generator().manual_seed(0))
    labels = model.sample_labels(6, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        out = model.generate(z, labels) if labels is not None else model.generate(z)
    model.train()
    assert tuple(out.shape) == (6, *data.image_shape), (
        f"generate gave {tuple(out.shape)}, expected {(6, *data.image_shape)}"
    )
    assert out.min() >= -1 - 1e-4 and out.max() <= 1 + 1e-4, (
        f"generate is not in [-1, 1]: [{out.min():.3f}, {out.max():.3f}]"
    )
    if model.condition == "class":
        assert labels is not None and labels.dtype == torch.long, (
            "a class-conditional model's sample_labels gives class indices"
        )
        z1 = z[:1].repeat(2, 1)
        two = generate_images(model, z1, torch.tensor([0, 1]))
        assert not torch.equal(two[0], two[1]), (
            "the same latent with two classes gave the same image: labels are ignored"
        )
    elif model.condition is None:
        assert labels is None, "an unconditional model's sample_labels returns None"


def check_dataset_plugin(plugin, name: str, root=None, options: Optional[dict] = None, splits=("train",)) -> dict:
    """Each split loads through the core as valid ImageData, the same twice (the data order depends on it); labels
    fall inside the class names; default_model_options are valid options of default_model; returns
    {split: ImageData}."""
    plugins = plugins_with(*_several(plugin))
    assert name in plugins.datasets, f"dataset '{name}' is not registered (registered: {', '.join(plugins.datasets)})"
    default_model = plugins.datasets[name].default_model
    assert default_model in plugins.models, (
        f"default_model '{default_model}' is not a registered model ({', '.join(plugins.models)})"
    )
    model_options = plugins.datasets[name].default_model_options
    assert all(isinstance(v, str) for v in model_options.values()), (
        "default_model_options values are text, as --model-option gives them"
    )
    try:
        parse_options(plugins.models[default_model].options, model_options, f"model '{default_model}'")
    except GanstudioError as e:
        raise AssertionError(f"default_model_options: {e}") from None
    spec = DataSpec(name, root=str(root) if root is not None else None, options=dict(options or {}))
    loaded = {}
    for split in splits:
        first, second = load_data(plugins, spec, split, quiet=True), load_data(plugins, spec, split, quiet=True)
        assert first.source, f"{split}: ImageData.source says nothing about where the data came from"
        assert torch.equal(first.images, second.images), f"{split}: two loads gave different images"
        if first.labels is not None:
            assert first.classes, f"{split}: labels without class names"
            assert int(first.labels.min()) >= 0 and int(first.labels.max()) < len(first.classes), (
                f"{split}: a label is outside the classes"
            )
        if first.attributes is not None:
            assert first.attribute_names and len(first.attribute_names) == first.attributes.shape[1], (
                f"{split}: attributes need one name each"
            )
        loaded[split] = first
    return loaded


def check_callback_plugin(
    plugin,
    name: str,
    folder,
    options: Optional[dict] = None,
    model: str = "dcgan",
    model_options: Optional[dict] = None,
) -> None:
    """The callback joins a real run (with its options as the command line gives them) and a resumed one without
    error; a state_dict() it keeps is plain (loads with weights_only=True) and comes back on resume."""
    plugins = plugins_with(*_several(plugin))
    assert name in plugins.callbacks, (
        f"callback '{name}' is not registered (registered: {', '.join(plugins.callbacks)})"
    )
    entry = plugins.callbacks[name]
    parse_options(entry.options, dict(options or {}), f"callback '{name}'")
    model_options = (
        model_options if model_options is not None else ({"width": 8, "latent_dim": 8} if model == "dcgan" else {})
    )
    kwargs = dict(callbacks=[name], callback_options={name: dict(options or {})}, options=model_options)
    with contextlib.redirect_stderr(io.StringIO()):
        first = train_run(plugins, folder, model, 3, **kwargs)
        from ganstudio.store.checkpoint import load_checkpoint

        saved = load_checkpoint(first.checkpoint_path).get("callbacks", {})
        resumed = train_run(plugins, folder, model, 5, resume=True, **kwargs)
    assert resumed.step == 5, f"the resumed run stopped at step {resumed.step}"
    if inspect.isclass(entry.factory) and hasattr(entry.factory, "state_dict"):
        assert name in saved, f"callback '{name}' has state_dict() but its state is not in the checkpoint"
