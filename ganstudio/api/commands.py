"""Helpers for command plugins: the arguments that choose a run and a class, shared by sample, eval, interpolate,
export and any third-party command, and the (model, RunInfo) they choose. No torch at import: commands register
before anything trains. Any module may import it.

    p = cli.command("describe", help="...", run=run_describe)
    add_checkpoint_options(p)                            # RUN, --checkpoint PATH, --checkpoints-dir, --no-ema

    def run_describe(args):
        model, info = load_run_from_args(args)           # the chosen run's GAN, EMA weights unless --no-ema
        print(f"{info.name}: step {info.step:,}, {info.model} on {info.data} ({info.chosen})")
"""

from __future__ import annotations

from typing import Optional

from ganstudio.config import TrainConfig


def add_checkpoint_options(p, what: str = "GAN") -> None:
    """The run to read: a name, --checkpoint PATH, or the newest; shared by sample, eval and interpolate."""
    p.add_argument(
        "run", nargs="?", metavar="RUN", help=f"run name under --checkpoints-dir (default: the newest {what} run)"
    )
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint file instead of a run name")
    add_folder_options(p, samples=False)
    p.add_argument(
        "--no-ema",
        action="store_true",
        help="use the raw generator weights, not the averaged (EMA) ones the checkpoint holds",
    )


def add_folder_options(p, checkpoints: bool = True, samples: bool = True) -> None:
    """--checkpoints-dir and --samples-dir, with train's defaults (ganstudio/config.py holds them once)."""
    if checkpoints:
        p.add_argument(
            "--checkpoints-dir",
            default=TrainConfig.default("checkpoints_dir"),
            metavar="DIR",
            help="the folder of run checkpoints (default: %(default)s)",
        )
    if samples:
        p.add_argument(
            "--samples-dir",
            default=TrainConfig.default("samples_dir"),
            metavar="DIR",
            help="the folder of run outputs: grids, GIFs, reports (default: %(default)s)",
        )


def add_class_option(p) -> None:
    p.add_argument(
        "--class", dest="class_name", metavar="NAME|INDEX", help="class-conditional models: generate this class"
    )


def load_run_from_args(args, kind: Optional[str] = "gan"):
    """(model, RunInfo) for the arguments of ``add_checkpoint_options``: the run named, ``--checkpoint PATH``, or the
    newest run of ``kind``, from ``args.plugins``, with the EMA weights unless ``--no-ema``. Naming a run and a
    --checkpoint both is a one-line error."""
    from ganstudio.api.runs import load_chosen
    from ganstudio.store.runs import choose_checkpoint

    path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind=kind)
    return load_chosen(path, chosen, getattr(args, "plugins", None), ema=not getattr(args, "no_ema", False), kind=kind)


def plugin_help(kind: str, item) -> tuple[str, list[str]]:
    """The title and lines that describe one model, dataset or callback and its own options, as ``train --help
    --model NAME`` and ``ganstudio plugins NAME`` show them. ``kind``: "model", "dataset" or "callback"."""
    import dataclasses

    from ganstudio.api.options import describe_options

    described = describe_options(item.options)
    if kind == "callback":
        names = [f.name.replace("_", "-") for f in dataclasses.fields(item.options)] if item.options else []
        flags = [f"--{item.name}-{name}{line[len(name) :]}" for name, line in zip(names, described)]
        default = "on by default" if item.default else f"off by default: --with {item.name}"
        return f"callback '{item.name}' ({default}; --no-{item.name} turns it off)", _lines(item.description, *flags)
    if kind == "model":
        batch = item.batch_size or TrainConfig.default("batch_size")
        decay = item.ema_decay if item.ema_decay is not None else TrainConfig.default("ema_decay")
        ema = f"EMA decay {decay:g}" if decay else "no EMA"
        lines = [item.description, f"unless given: batch size {batch}, {ema} (--batch-size, --ema-decay)"]
        return f"model '{item.name}' (--model-option KEY=VALUE)", _lines(*lines, *described)
    given = " ".join(f"--model-option {key}={value}" for key, value in item.default_model_options.items())
    lines = [item.description, f"trains {item.default_model} by default" + (f", with {given}" if given else "")]
    return f"dataset '{item.name}' (--data-option KEY=VALUE)", _lines(*lines, *(described or ["(no options)"]))


def _lines(*lines: str) -> list[str]:
    return [line for line in lines if line]
