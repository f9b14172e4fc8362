"""What ``ganstudio train`` makes of its arguments: the TrainConfig, the options the user gave, the defaults
its --help names, and how it resumes and stops as a cluster job (--resume auto, --save-on-signal). A helper of
train.py only (so that file stays short), not a plugin: it registers nothing, and no other command needs it, so it
stays next to its command rather than in a core package.
"""

from __future__ import annotations

import argparse
import os
import sys

from ganstudio.api import DatasetPlugin
from ganstudio.config import DataSpec, TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.train.stopping import REQUEUE, warning_signal

# Options that define a run: no argparse default, so that --resume can tell which ones the user gave (and ignored).
# Their defaults are TrainConfig's (ganstudio/config.py), as are those of the other options below.
RUN_OPTIONS = ("model", "batch_size", "seed", "precision", "ema_decay", "augment", "ada_target")
RUN_DEFAULTS = {name: TrainConfig.default(name) for name in RUN_OPTIONS}


def given_options(args) -> set[str]:
    given = {name for name in RUN_DEFAULTS if hasattr(args, name)}
    given |= {"model_options"} if args.model_option else set()
    given |= {
        f"data.{name}"
        for name, value in (("image_size", args.image_size), ("channels", args.channels), ("options", args.data_option))
        if value
    }
    return given


def config_from_args(args) -> TrainConfig:
    run = {name: getattr(args, name, default) for name, default in RUN_DEFAULTS.items()}
    data = DataSpec.from_args(args)
    if not hasattr(args, "model"):  # no --model: the dataset's own choice (cdcgan for Fashion-MNIST, docs/models.md)
        dataset = args.plugins.dataset(data.name)
        if dataset.default_model not in args.plugins.models:
            raise GanstudioError(
                f"dataset '{data.name}' (plugin '{dataset.plugin}') trains model '{dataset.default_model}' by "
                f"default, which is not installed: name one with --model (see: ganstudio plugins)"
            )
        run["model"] = dataset.default_model
    model_options = {
        **dataset_model_options(args, data.name, run["model"]),
        **dict(args.model_option or []),
    }  # the user's win
    model = args.plugins.models.get(run["model"])  # unknown: open_run says so
    if not hasattr(args, "batch_size") and model is not None and model.batch_size:
        run["batch_size"] = model.batch_size  # the model's own (cdcgan: 64, docs/models.md)
    if not hasattr(args, "ema_decay") and model is not None and model.ema_decay is not None:
        run["ema_decay"] = model.ema_decay  # the model's own (cdcgan: 0.999, docs/models.md)
    return TrainConfig(
        data=data,
        model_options=model_options,
        name=args.name,
        **run,
        epochs=args.epochs,
        steps=args.steps,
        minutes=args.minutes,
        device=args.device,
        compile=args.compile,
        sync_batchnorm=args.sync_batchnorm,
        log_every=args.log_every,
        grid_every=args.grid_every,
        checkpoints_dir=args.checkpoints_dir,
        samples_dir=args.samples_dir,
        callbacks=chosen_callbacks(args),
        disabled_callbacks=args.no_callback or [],
        callback_options=getattr(args, "plugin_options", None) or {},
    )


def dataset_model_options(args, data_name: str, model: str) -> dict:
    """The dataset's own --model-option values for its default model (fashion-mini: hinge=false), less the keys the
    user gave; none for another model."""
    dataset = args.plugins.datasets.get(data_name)  # unknown: open_run says so
    if dataset is None or model != dataset.default_model:
        return {}
    given = dict(args.model_option or [])
    return {key: value for key, value in dataset.default_model_options.items() if key not in given}


def chosen_callbacks(args):
    """--callbacks a,b (exactly these) and --with NAME (the defaults plus NAME); None means the defaults."""
    listed = [n.strip() for n in args.callbacks.split(",") if n.strip()] if args.callbacks is not None else None
    if args.with_callback:
        if listed is None:
            listed = [name for name, cb in args.plugins.callbacks.items() if cb.default]
        listed += [n for n in args.with_callback if n not in listed]
    return listed


def dataset_defaults(plugins) -> str:
    """ "cdcgan for fashion and fashion-mini, dcgan for the others", from the registered datasets' default_model."""
    by_model = {}
    for dataset in plugins.datasets.values():
        by_model.setdefault(dataset.default_model, []).append(dataset.name)
    fallback = DatasetPlugin.__dataclass_fields__["default_model"].default
    named = [f"{model} for {' and '.join(names)}" for model, names in by_model.items() if model != fallback]
    return ", ".join(named + [f"{fallback} for the others" if named else fallback])


def model_ema_decays(plugins) -> str:
    """ "0.999 for cdcgan, 0 (off) for the others", from the registered models' own ema_decay."""
    own = [f"{model.ema_decay:g} for {name}" for name, model in plugins.models.items() if model.ema_decay]
    return ", ".join(own + ["0 (off) for the others" if own else "0 (off)"])


def model_batch_sizes(plugins) -> str:
    """ "64 for cdcgan, 128 for the others", from the registered models' own batch_size."""
    own = [f"{model.batch_size} for {name}" for name, model in plugins.models.items() if model.batch_size]
    return ", ".join(own + [f"{RUN_DEFAULTS['batch_size']} for the others" if own else str(RUN_DEFAULTS["batch_size"])])


# --- resuming and stopping as a cluster job (docs/distributed.md) ---------------------------------------------


def resume_choice(args, dist) -> tuple:
    """(resume, overwrite) for train(): as given, but "auto" on a torchrun restart (said once, by rank 0)."""
    restart = elastic_restart() if dist.enabled else 0
    if dist.is_main and restart == 0 and shared_store_with_restarts():
        print(
            "note: torchrun --max-restarts shares its rendezvous store with the ranks, and relaunched ranks can then "
            "fail to connect (PyTorch issue 135712): set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 for torchrun "
            "(docs/distributed.md)",
            file=sys.stderr,
        )
    if not restart or args.resume is True:
        return args.resume, args.overwrite
    if dist.is_main:
        print(f"torchrun restart {restart}: continuing the run as with --resume auto", flush=True)
    # torchrun relaunched the ranks after one failed: continue what the first attempt saved. Its folders passed the
    # checks then, so what an attempt that died before its first save left in them is its own, replaced (overwrite).
    return "auto", True


def shared_store_with_restarts() -> bool:
    """torchrun relaunches the ranks (--max-restarts) and hands them its own store (its default), whose keys from the
    failed attempt make the relaunched ranks connect to addresses that are gone."""
    restarts = os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")
    return restarts.isdigit() and int(restarts) > 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"


def elastic_restart() -> int:
    """How many times torchrun has relaunched this job's ranks (TORCHELASTIC_RESTART_COUNT; 0 for the first)."""
    try:
        return max(0, int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")))
    except ValueError:
        return 0


def resume_mode(text: str) -> str:
    if text != "auto":
        raise argparse.ArgumentTypeError(
            f"'{text}': --resume takes no value (continue the run) or 'auto' (continue it if it exists, else start it)"
        )
    return text


def signal_option(text: str) -> int:
    try:
        return int(warning_signal(text))
    except GanstudioError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--save-on-signal ")) from None


def add_resume_options(p: argparse.ArgumentParser) -> None:
    """--resume [auto] and --save-on-signal SIGNAL."""
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        type=resume_mode,
        metavar="auto",
        help="continue checkpoints/<name>/last.pt with its settings; --resume auto: continue it if it exists, else "
        "start the run (a job that may be relaunched; taken by itself on a torchrun restart)",
    )
    p.add_argument(
        "--save-on-signal",
        type=signal_option,
        metavar="SIGNAL",
        help="on this signal (e.g. SIGUSR1, which SLURM sends before a time limit) finish the step, save and exit "
        f"{REQUEUE} (EX_TEMPFAIL: saved, run it again with --resume auto to continue; under torchrun every rank exits "
        "0, since a failing rank makes torchrun restart the ranks); docs/distributed.md",
    )
