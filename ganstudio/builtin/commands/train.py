"""``ganstudio train``: train any model plugin on any dataset plugin.

    ganstudio train --data fashion --model dcgan --minutes 10
    ganstudio train --data fashion --model dcgan --model-option width=32 --gif-fps 8 --eval-every 500

The command names no plugin's option: models and datasets declare theirs (``--model-option KEY=VALUE``,
``--data-option KEY=VALUE``, listed in --help under the plugin's name), and each callback's options become
``--<callback>-<option>`` flags.
"""

from __future__ import annotations

import argparse
import os
import sys

from ganstudio import hookimpl
from ganstudio.api.data import add_data_options
from ganstudio.api.options import (
    add_option_flags,
    describe_options,
    key_value,
    number_type,
    positive_float,
    positive_int,
    seed_number,
)
from ganstudio.builtin.commands.train_config import (
    add_resume_options,
    config_from_args,
    dataset_defaults,
    dataset_model_options,
    given_options,
    model_batch_sizes,
    model_ema_decays,
    resume_choice,
)
from ganstudio.config import DEFAULT_EPOCHS, TrainConfig
from ganstudio.errors import GanstudioError, PluginError
from ganstudio.train.accel import PRECISIONS
from ganstudio.train.stopping import REQUEUE

ema_decay = number_type(float, low=0, high=0.99999, what="an EMA decay (0 turns it off)")


def run_train(args) -> int:
    from ganstudio.output.live import LiveView
    from ganstudio.train.distributed import Distributed, under_torchrun
    from ganstudio.train.entry import train
    from ganstudio.train.launch import LAUNCHED, launch_torchrun

    if args.nproc is not None:
        if under_torchrun():
            raise GanstudioError(
                "--nproc starts torchrun itself; under torchrun, drop it (torchrun's --nproc-per-node says how many)"
            )
        config_from_args(args)  # a bad option is one line here, before any rank starts
        return launch_torchrun(args.argv, args.nproc, args.save_on_signal)
    config = config_from_args(args)
    dist = Distributed.from_environment(config.sync_batchnorm)
    resume, overwrite = resume_choice(args, dist)
    if config.sync_batchnorm and not dist.enabled:
        print(
            "note: --sync-batchnorm matters only with several processes (torchrun, --nproc); ignored", file=sys.stderr
        )
    view = LiveView(f"train {config.run_name}") if dist.is_main else None
    announce = (lambda run: announce_run(args, run, dist)) if dist.is_main else None
    run, code = train(
        config,
        args.plugins,
        resume=resume,
        overwrite=overwrite,
        given=given_options(args),
        view=view,
        dist=dist,
        announce=announce,
        save_on_signal=args.save_on_signal,
    )
    requeue = bool(args.save_on_signal) and code == 128 + args.save_on_signal
    if dist.is_main:
        outputs = sorted(p.name for p in run.samples_dir.iterdir()) if run.samples_dir.is_dir() else []
        shown = (
            f"{run.samples_dir}/ ({', '.join(outputs[:4])}{', ...' if len(outputs) > 4 else ''})"
            if outputs
            else "no sample files"
        )
        print(
            f"run '{run.config.run_name}': step {run.step:,}, epoch {run.epoch:.2f}; checkpoint "
            f"{run.checkpoint_path}; outputs in {shown}"
        )
        if requeue:
            print(f"saved at step {run.step:,}; run the same command with --resume auto (requeue the job) to continue")
        elif code:
            print(f"stopped by a signal; continue with: ganstudio train --name {run.config.run_name} --resume")
    if requeue:  # a rank's non-zero status would make torchrun restart the ranks rather than end (--help)
        return 0 if dist.enabled else REQUEUE
    if code and os.environ.get(LAUNCHED):
        return 0  # `train --nproc` reports the signal itself; a clean exit keeps torchrun quiet
    return code


def announce_run(args, run, dist) -> None:
    """What trains: the data, the model and its size, the device, and the defaults that chose them."""
    c, new = run.config, not run.resumed
    print(f"data: {run.data.source} — {len(run.data):,} images {run.data.image_shape}")
    print(
        f"model: {c.model} ({run.model_plugin.plugin}), {sum(p.numel() for p in run.model.parameters()):,} parameters, "
        f"device {run.device} ({run.precision.name}), batch {c.batch_size}"
        + (
            " (the model's default; --batch-size N for another)"
            if new and not hasattr(args, "batch_size") and run.model_plugin.batch_size
            else ""
        )
        + f", {run.batches.per_epoch:,} batches/epoch"
        + (f", resuming at step {run.step:,}" if run.resumed else "")
        + (
            f" (the default for '{c.data.name}'; --model NAME for another)"
            if new and not hasattr(args, "model")
            else ""
        )
    )
    if new and not hasattr(args, "ema_decay") and run.model_plugin.ema_decay:
        print(f"generator EMA: decay {c.ema_decay:g} (the model's default; --ema-decay 0 turns it off)")
    if new and (defaults := dataset_model_options(args, c.data.name, c.model)):
        listed = ", ".join(f"{key}={value}" for key, value in defaults.items())
        print(f"model options: {listed} (the default for '{c.data.name}'; --model-option KEY=VALUE for another)")
    if dist.enabled:
        print(
            f"distributed: {dist.world_size} process{'es' if dist.world_size > 1 else ''} ({dist.backend}), batch "
            f"{c.batch_size} per process, {c.batch_size * dist.world_size} per step in all; the learning rate is the "
            f"model's, not rescaled (docs/distributed.md)" + (", synchronised batch norm" if c.sync_batchnorm else "")
        )


def add_plugin_options(p: argparse.ArgumentParser, plugins) -> None:
    """What each plugin declares, under its own name in --help."""
    for kind, registry, flag in (
        ("model", plugins.models, "--model-option"),
        ("dataset", plugins.datasets, "--data-option"),
    ):
        for name, item in registry.items():
            lines = describe_options(item.options)
            if lines:
                p.add_argument_group(f"{kind} '{name}' ({flag} KEY=VALUE)", "\n".join(lines))
    for name, callback in plugins.callbacks.items():
        try:
            add_option_flags(p, callback.options, name, f"callback '{name}' ({callback.plugin})")
        except argparse.ArgumentError as e:
            raise PluginError(
                f"callback '{name}' (plugin '{callback.plugin}') declares an option that clashes: {e}"
            ) from None


@hookimpl
def register_commands(cli):
    p = cli.command(
        "train", help="train a model on a dataset, with a live view, checkpoints and sample grids", run=run_train
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_data_options(p)
    add_model_options(p, cli.plugins)
    add_budget_options(p)
    add_run_options(p, cli.plugins)
    add_process_options(p)
    add_callback_flags(p, cli.plugins)
    p.add_argument("--checkpoints-dir", default=TrainConfig.default("checkpoints_dir"), metavar="DIR")
    p.add_argument("--samples-dir", default=TrainConfig.default("samples_dir"), metavar="DIR")
    add_plugin_options(p, cli.plugins)


def add_model_options(p: argparse.ArgumentParser, plugins) -> None:
    """--model, --model-option and --name."""
    p.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        help=f"model plugin name (default: the dataset's, {dataset_defaults(plugins)}; see: ganstudio plugins)",
    )
    p.add_argument(
        "--model-option",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="a setting of the model plugin, e.g. --model-option width=32 (repeatable; listed below)",
    )
    p.add_argument(
        "--name", help="run name (default <data>-<model>); outputs go to checkpoints/<name>/ and samples/<name>/"
    )


def add_budget_options(p: argparse.ArgumentParser) -> None:
    """How long the run trains: --epochs, --steps, --minutes."""
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"total epochs of the run (default {DEFAULT_EPOCHS} when no --steps/--minutes)",
    )
    p.add_argument("--steps", type=positive_int, help="total training steps of the run")
    p.add_argument("--minutes", type=positive_float, help="wall-clock budget; stops cleanly and saves")


def add_run_options(p: argparse.ArgumentParser, plugins) -> None:
    """The options that define a run (RUN_OPTIONS, with no argparse default), and --device."""
    default = TrainConfig.default
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=argparse.SUPPRESS,
        help=f"images per batch (default: {model_batch_sizes(plugins)})",
    )
    p.add_argument(
        "--seed",
        type=seed_number,
        default=argparse.SUPPRESS,
        help=f"seed of the run's data order and weights (default {default('seed')})",
    )
    p.add_argument("--device", default=default("device"), help="auto (default: CUDA when present), cpu or cuda")
    p.add_argument(
        "--precision",
        default=argparse.SUPPRESS,
        choices=PRECISIONS,
        help="auto (default): bf16 autocast where the hardware runs it natively (CUDA GPUs with bf16, AVX512-BF16 "
        "or AMX CPUs), fp16 with loss scaling on older CUDA GPUs, else fp32",
    )
    p.add_argument(
        "--ema-decay",
        type=ema_decay,
        default=argparse.SUPPRESS,
        metavar="D",
        help="a moving average of the generator (e.g. 0.999; 0 turns it off) makes every sample, grid and score "
        f"(default: the model's own, {model_ema_decays(plugins)}; measured in docs/models.md)",
    )
    p.add_argument(
        "--augment",
        default=argparse.SUPPRESS,
        metavar="POLICY",
        help="DiffAugment before the discriminator, on real and fake images: off (default), on (translation, cutout; "
        "+ color for RGB), or a list of translation, cutout, color",
    )


def add_process_options(p: argparse.ArgumentParser) -> None:
    """Processes, compiling, resuming and how often to log: --nproc ... --grid-every."""
    default = TrainConfig.default
    p.add_argument(
        "--nproc",
        type=positive_int,
        metavar="N",
        help="train on N processes of this machine: starts torchrun (one per GPU, or CPU processes); "
        "several machines: docs/distributed.md",
    )
    p.add_argument(
        "--sync-batchnorm",
        action="store_true",
        help="with several processes: batch-norm statistics over the whole batch of all processes",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the networks (minutes of compiling; pays off on long GPU runs)",
    )
    add_resume_options(p)
    p.add_argument("--overwrite", action="store_true", help="start afresh even if checkpoints/<name>/last.pt exists")
    p.add_argument(
        "--log-every",
        type=positive_int,
        default=default("log_every"),
        help=f"steps between metric syncs / log lines (default {default('log_every')})",
    )
    p.add_argument(
        "--grid-every", type=positive_int, help="also render the fixed-latent grid every N steps (besides epoch ends)"
    )


def add_callback_flags(p: argparse.ArgumentParser, plugins) -> None:
    """Which callbacks run: --callbacks, --with, --no-callback and a --no-NAME flag per callback."""
    p.add_argument("--callbacks", help="comma-separated callbacks to use instead of the defaults")
    p.add_argument(
        "--with",
        dest="with_callback",
        action="append",
        metavar="NAME",
        help="add a callback to the defaults, e.g. --with tensorboard (repeatable)",
    )
    p.add_argument("--no-callback", action="append", metavar="NAME", help="disable a callback (repeatable)")
    for name, callback in plugins.callbacks.items():
        p.add_argument(
            f"--no-{name}",
            dest="no_callback",
            action="append_const",
            const=name,
            help=f"disable callback '{name}': {callback.description}",
        )
