"""``ganstudio train``: train any model plugin on any dataset plugin.

    ganstudio train --data fashion --model dcgan --minutes 10
    ganstudio train --data fashion --model dcgan --model-option width=32 --gif-fps 8 --eval-every 500

The command names no plugin's option: models and datasets declare theirs (``--model-option KEY=VALUE``,
``--data-option KEY=VALUE``, listed by ``ganstudio train --help --model NAME`` and ``ganstudio plugins NAME``), and
each callback's options become ``--<callback>-<option>`` flags. The options themselves: train_args.py.
"""

from __future__ import annotations

import os
import sys

from ganstudio import hookimpl
from ganstudio.builtin.commands.train_args import add_train_arguments
from ganstudio.builtin.commands.train_config import (
    config_from_args,
    dataset_model_options,
    given_options,
    resume_choice,
)
from ganstudio.errors import GanstudioError
from ganstudio.train.stopping import REQUEUE


def run_train(args) -> int:
    from ganstudio.builtin.commands.train_summary import print_summary
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
        print_summary(run, code, requeue)
    if requeue:  # a rank's non-zero status would make torchrun restart the ranks rather than end (--help)
        return 0 if dist.enabled else REQUEUE
    if code and os.environ.get(LAUNCHED):
        return 0  # `train --nproc` reports the signal itself; a clean exit keeps torchrun quiet
    return code


def announce_run(args, run, dist) -> None:
    """What trains: the data, the model and its size, the device, and the defaults that chose them."""
    from ganstudio.train.accel import busy_machine_note

    c, new = run.config, not run.resumed
    if note := busy_machine_note(run.device):
        print(note)
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


@hookimpl
def register_commands(cli):
    p = cli.command(
        "train", help="train a model on a dataset, with a live view, checkpoints and sample grids", run=run_train
    )
    add_train_arguments(p, cli)  # train_args.py: the options in groups, and --help --model NAME
