"""The options of ``ganstudio train``, in groups, and its --help: the core options on a screen or two; one plugin's
own options with ``ganstudio train --help --model NAME`` (or ``--data NAME``), or ``ganstudio plugins NAME``. A
helper of train.py (so that file stays short), not a plugin: it registers nothing.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from ganstudio.api.commands import add_folder_options, plugin_help
from ganstudio.api.data import add_data_options
from ganstudio.api.options import add_option_flags, key_value, number_type, positive_float, positive_int, seed_number
from ganstudio.builtin.commands.train_config import (
    add_resume_options,
    dataset_defaults,
    model_batch_sizes,
    model_ema_decays,
)
from ganstudio.config import DEFAULT_EPOCHS, TrainConfig
from ganstudio.errors import PluginError
from ganstudio.train.accel import PRECISIONS

ema_decay = number_type(float, low=0, high=0.99999, what="an EMA decay (0 turns it off)")
ada_target = number_type(float, low=0.01, high=0.99, what="a target share of positive real scores")

USAGE = "ganstudio train [--data NAME] [--model NAME] [--steps N | --epochs N | --minutes M] [--name NAME] [options]"
EPILOG = """\
a plugin's own options (--model-option / --data-option KEY=VALUE), defaults and description:
  ganstudio train --help --model NAME    (or --data NAME)
  ganstudio plugins NAME                 any model, dataset or callback
"""


def add_train_arguments(p: argparse.ArgumentParser, cli) -> None:
    """Every option of ``train``, in the groups --help shows; with ``--help --model NAME`` that model's options."""
    plugins = cli.plugins
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.usage = USAGE
    listed = f"models: {', '.join(plugins.models)}; datasets: {', '.join(plugins.datasets)}"
    p.epilog = EPILOG + "\n".join(textwrap.wrap(listed, 79, subsequent_indent="  "))
    add_data_options(p.add_argument_group("data"))
    add_model_options(p.add_argument_group("model"), plugins)
    add_budget_options(p.add_argument_group("how long (the first reached ends the run)"))
    add_run_options(p.add_argument_group("run settings (--resume keeps the run's own)"), plugins)
    add_process_options(p.add_argument_group("processes, resuming, logging"))
    add_callback_flags(p.add_argument_group("callbacks (ganstudio plugins NAME: what one does)"), plugins)
    add_folder_options(p.add_argument_group("folders"))
    add_plugin_options(p, plugins, cli.argv)


def named(argv: list[str], flag: str):
    """The value of ``flag`` on the command line (``--model NAME`` or ``--model=NAME``), else None."""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(f"{flag}="):
            return word.partition("=")[2]
    return None


def add_plugin_options(p: argparse.ArgumentParser, plugins, argv=()) -> None:
    """Each callback's options as --<callback>-<option> flags; with --help, the model and dataset the command line
    names (--model NAME, --data NAME), their own options under their name."""
    if "-h" in argv or "--help" in argv:
        for kind, flag, get in (("model", "--model", plugins.model), ("dataset", "--data", plugins.dataset)):
            name = named(list(argv), flag)
            if name is not None:
                title, lines = plugin_help(kind, get(name))  # an unknown name: one line, with a did-you-mean
                p.add_argument_group(title, wrapped(lines))
    for name, callback in plugins.callbacks.items():
        try:
            title = f"callback '{name}' ({callback.plugin})"
            add_option_flags(p, callback.options, name, title, hidden=not callback.default and name not in argv)
        except argparse.ArgumentError as e:
            raise PluginError(
                f"callback '{name}' (plugin '{callback.plugin}') declares an option that clashes: {e}"
            ) from None


def wrapped(lines: list[str]) -> str:
    """Lines of a group's description (kept as written: RawDescriptionHelpFormatter), each wrapped as argparse
    wraps help: to the terminal's width, continuation lines indented."""
    width = max(shutil.get_terminal_size().columns - 4, 40)
    return "\n".join(textwrap.fill(line, width, subsequent_indent="    ") for line in lines)


def add_model_options(p, plugins) -> None:
    """--model, --model-option and --name."""
    p.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"model plugin (default: the dataset's, {dataset_defaults(plugins)})",
    )
    p.add_argument(
        "--model-option",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="a setting of the model, e.g. width=32 (repeatable; which: ganstudio train --help --model NAME)",
    )
    p.add_argument(
        "--name", help="run name (default <data>-<model>); outputs go to checkpoints/<name>/ and samples/<name>/"
    )


def add_budget_options(p) -> None:
    """How long the run trains: --epochs, --steps, --minutes."""
    p.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help=f"total epochs of the run (default {DEFAULT_EPOCHS} when no --steps/--minutes)",
    )
    p.add_argument("--steps", type=positive_int, metavar="N", help="total training steps of the run")
    p.add_argument("--minutes", type=positive_float, metavar="M", help="wall-clock budget; stops cleanly and saves")


def add_run_options(p, plugins) -> None:
    """The options that define a run (RUN_OPTIONS, with no argparse default), and --device."""
    default = TrainConfig.default
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"images per batch (default: {model_batch_sizes(plugins)})",
    )
    p.add_argument(
        "--seed",
        type=seed_number,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"seed of the run's data order and weights (default {default('seed')})",
    )
    p.add_argument("--device", default=default("device"), help="auto (default: CUDA when present), cpu or cuda")
    p.add_argument(
        "--precision",
        default=argparse.SUPPRESS,
        choices=PRECISIONS,
        help="auto (default): bf16 where the hardware runs it natively, fp16 with loss scaling on older CUDA GPUs, "
        "else fp32",
    )
    p.add_argument(
        "--ema-decay",
        type=ema_decay,
        default=argparse.SUPPRESS,
        metavar="D",
        help=f"the generator's moving average, which samples, grids and scores use; 0: none (default: the model's, "
        f"{model_ema_decays(plugins)})",
    )
    p.add_argument(
        "--augment",
        default=argparse.SUPPRESS,
        metavar="POLICY",
        help="DiffAugment for D: off (default), on (translation, cutout; + color for RGB), a list, or ada (on's ops "
        "with ADA's adaptive p)",
    )
    p.add_argument(
        "--ada-target",
        type=ada_target,
        default=argparse.SUPPRESS,
        metavar="R",
        help=f"--augment ada: the share of real scores D puts above 0 (default {default('ada_target')})",
    )


def add_process_options(p) -> None:
    """Processes, compiling, resuming and how often to log: --nproc ... --grid-every."""
    default = TrainConfig.default
    p.add_argument(
        "--nproc",
        type=positive_int,
        metavar="N",
        help="train on N processes of this machine with torchrun (one per GPU); several machines: docs/distributed.md",
    )
    p.add_argument(
        "--sync-batchnorm",
        action="store_true",
        help="with several processes: batch-norm statistics over all their batches",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (pays off on long GPU runs)")
    add_resume_options(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: empties checkpoints/<name>/ and samples/<name>/ first (refused when they hold a link or "
        "anything a run never writes)",
    )
    p.add_argument(
        "--log-every",
        type=positive_int,
        default=default("log_every"),
        metavar="N",
        help=f"steps between metric syncs / log lines (default {default('log_every')})",
    )
    p.add_argument(
        "--grid-every",
        type=positive_int,
        metavar="N",
        help="also render the fixed-latent grid every N steps (besides epoch ends)",
    )


def add_callback_flags(p, plugins) -> None:
    """Which callbacks run: --callbacks, --with, --no-callback and a --no-NAME flag per callback."""
    p.add_argument("--callbacks", metavar="A,B", help="comma-separated callbacks to use instead of the defaults")
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
            help=f"disable callback '{name}'" if callback.default else argparse.SUPPRESS,  # an off one: nothing to say
        )
