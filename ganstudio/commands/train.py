"""``ganstudio train``: train any model plugin on any dataset plugin.

    ganstudio train --data fashion --model dcgan --minutes 10
"""

from __future__ import annotations

import argparse

from ganstudio import hookimpl
from ganstudio.accel import PRECISIONS
from ganstudio.live import LiveView
from ganstudio.train import TrainConfig, load_run


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {value}")
    return value


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as int, float, true/false, or else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(raw.lower(), raw)


def add_data_options(parser, default_data: str | None = "fashion") -> None:
    """The options that say which data to use; shared by train and any command that reads real data."""
    parser.add_argument("--data", default=default_data, help="dataset plugin name (see: ganstudio plugins)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the dataset files")
    parser.add_argument("--download", action="store_true", help="download the dataset if it is not found (never done otherwise)")
    parser.add_argument("--image-size", type=positive_int, help="resize to this side, for datasets that can")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="1 (grayscale) or 3 (RGB), for datasets that can")


def run_train(args) -> int:
    config = TrainConfig(
        data=args.data, model=args.model, name=args.name, epochs=args.epochs, steps=args.steps, minutes=args.minutes,
        batch_size=args.batch_size, seed=args.seed, device=args.device, precision=args.precision, compile=args.compile,
        data_root=args.data_root, download=args.download,
        image_size=args.image_size, channels=args.channels, log_every=args.log_every,
        checkpoints_dir=args.checkpoints_dir, samples_dir=args.samples_dir,
        callbacks=args.callbacks.split(",") if args.callbacks else None,
        disabled_callbacks=args.no_callback or [],
        callback_options={"grid_every": args.grid_every, "gif_fps": args.gif_fps, "gif_max_frames": args.gif_max_frames},
        model_options=dict(args.model_option or []),
    )
    config.callback_options["eval_every"] = args.eval_every
    view = LiveView(f"train {config.run_name}")
    run = load_run(config, args.plugins, resume=args.resume, overwrite=args.overwrite, view=view)
    c = run.config
    print(f"data: {run.data.source} — {len(run.data):,} images {run.data.image_shape}")
    print(
        f"model: {c.model} ({run.model_plugin.plugin}), {sum(p.numel() for p in run.model.parameters()):,} parameters, "
        f"device {run.device} ({run.precision.name}), batch {c.batch_size}, {run.steps_per_epoch:,} steps/epoch"
        + (f", resuming at step {run.step:,}" if args.resume else "")
    )
    with view:
        run.fit()
    print(f"run '{c.run_name}': step {run.step:,}, epoch {run.epoch:.2f}; checkpoint {run.checkpoint_path}; samples in {run.samples_dir}/")
    if run.exit_code:
        print(f"stopped by a signal; continue with: ganstudio train --name {c.run_name} --resume")
    return run.exit_code


@hookimpl
def register_commands(cli):
    p = cli.command("train", help="train a model on a dataset, with a live view, checkpoints and sample grids", run=run_train)
    add_data_options(p)
    p.add_argument("--model", default="dcgan", help="model plugin name (see: ganstudio plugins)")
    p.add_argument("--model-option", type=key_value, action="append", metavar="KEY=VALUE",
                   help="model-specific setting, e.g. --model-option width=32 (repeatable)")
    p.add_argument("--name", help="run name (default <data>-<model>); outputs go to checkpoints/<name>/ and samples/<name>/")
    p.add_argument("--epochs", type=positive_int, help="total epochs of the run (default 5 when no --steps/--minutes)")
    p.add_argument("--steps", type=positive_int, help="total optimisation steps of the run")
    p.add_argument("--minutes", type=positive_float, help="wall-clock budget; stops cleanly and saves")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto (default): bf16 autocast where the hardware runs it natively (CUDA, AVX512-BF16 CPUs), else fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (minutes of compiling; pays off on long GPU runs)")
    p.add_argument("--resume", action="store_true", help="continue checkpoints/<name>/last.pt with its settings")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if checkpoints/<name>/last.pt exists")
    p.add_argument("--log-every", type=positive_int, default=10, help="steps between metric syncs / log lines")
    p.add_argument("--grid-every", type=positive_int, help="also write a sample grid every N steps")
    p.add_argument("--gif-fps", type=positive_float, default=4.0, help="frames per second of samples/<name>/timeline.gif (default 4)")
    p.add_argument("--gif-max-frames", type=positive_int, default=60, help="most frames kept in the timeline GIF; older ones are thinned evenly (default 60)")
    p.add_argument("--eval-every", type=positive_int, metavar="N", help="score 2,000 samples every N steps (FID, KID, ...); keeps best.pt")
    p.add_argument("--callbacks", help="comma-separated callbacks to use instead of the defaults")
    p.add_argument("--no-callback", action="append", metavar="NAME", help="disable a callback (repeatable)")
    for name, callback in cli.plugins.callbacks.items():
        p.add_argument(f"--no-{name}", dest="no_callback", action="append_const", const=name, help=f"disable callback '{name}': {callback.description}")
    p.add_argument("--checkpoints-dir", default="checkpoints", metavar="DIR")
    p.add_argument("--samples-dir", default="samples", metavar="DIR")
