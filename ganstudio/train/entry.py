"""The one entry point that trains a run: ``ganstudio train``, the on-demand classifier and the contract kit call
``train()``. Imported by the CLI's commands, ganstudio.testing and ganstudio/train/classifier.py.

    run, code = train(config, plugins, resume=False)    # code: 0, or 130 / 143 after Ctrl-C / SIGTERM (saved)
    run, code = train(config, plugins, resume="auto", save_on_signal=signal.SIGUSR1)   # a cluster job's

It prepares the process once (device, process group under torchrun), opens the run (its options checked first, then
its folder locked by rank 0, the checks, the checkpoint to resume; --overwrite empties the old run's folders), fits it
(ganstudio/train/loop.py) and releases the lock and the group; a command that fails before writing anything leaves
no folder behind.
Which config fields define the run (kept on --resume) is declared on the fields themselves (ganstudio/config.py).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from ganstudio.api.options import parse_options
from ganstudio.config import TrainConfig, ignored_on_resume, resumed_config
from ganstudio.errors import GanstudioError, OtherRankFailed
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.store.runs import LOCK, RunLock, check_overwritable, check_run_name, empty_run_folder
from ganstudio.train.augment import parse_policy
from ganstudio.train.distributed import Distributed, rank_prefix
from ganstudio.train.loop import fit
from ganstudio.train.process import prepare_process
from ganstudio.train.run import Run
from ganstudio.train.stopping import held

Resume = Union[bool, str]  # False: a new run; True: continue it; "auto": continue it if it exists, else start it


def train(
    config: TrainConfig,
    plugins,
    *,
    resume: Resume = False,
    overwrite: bool = False,
    given=(),
    view=None,
    dist: Optional[Distributed] = None,
    announce: Optional[Callable[[Run], None]] = None,
    save_on_signal: Optional[int] = None,
) -> tuple[Run, int]:
    """Train the run ``config`` names; returns it and the exit code. ``given``: the option names the user gave
    (a resumed run says which ones it ignores); ``view``: a live view (entered while the run trains);
    ``announce(run)``: called once the run is open, before training (rank 0: say what trains);
    ``save_on_signal``: a warning signal that saves and stops like Ctrl-C (exit code 128 + it)."""
    dist = dist or Distributed()
    finished = False  # a clean finish waits for every rank before leaving the process group
    try:
        # Held from before the process group starts its threads until training takes it (stopping.py).
        with held({save_on_signal} if save_on_signal else ()):
            device = prepare_process(config, dist)
            with open_run(config, plugins, resume, overwrite, given, dist, device) as run:
                if announce is not None:
                    announce(run)
                with view if view is not None else contextlib.nullcontext():
                    code = fit(run, plugins, view, save_on=save_on_signal)
        finished = True
        return run, code
    except GanstudioError as error:
        if dist.enabled and not error.quiet:
            # Said before leaving the group: torchrun stops this process (SIGTERM) soon after the failed rank exits,
            # and leaving the group takes long enough that the CLI's own print, after it, often came too late.
            print(f"{rank_prefix()}error: {error}", file=sys.stderr, flush=True)
            error.quiet = True
        raise
    finally:
        dist.close(finished)


@contextlib.contextmanager
def open_run(
    config: TrainConfig,
    plugins,
    resume: Resume = False,
    overwrite: bool = False,
    given=(),
    dist: Optional[Distributed] = None,
    device=None,
) -> Iterator[Run]:
    """A new run, or with ``resume`` checkpoints/<name>/last.pt continued with the run's own settings (``"auto"``:
    when there is one, else a new run); its folder
    stays locked (one writer per run) until the block ends. Under torchrun rank 0 takes the lock, checks the
    folders and reads the checkpoint, and hands it to the other ranks."""
    dist = dist or Distributed()
    check_run_name(config.run_name)
    path = Path(config.checkpoints_dir) / config.run_name / "last.pt"
    check_options(config, plugins, path.exists() if resume == "auto" else resume)
    samples = Path(config.samples_dir) / config.run_name
    made = [p for p in (samples, samples.parent, path.parent, path.parent.parent) if not p.exists()]  # deepest first
    lock = RunLock(path.parent, config.run_name).acquire() if dist.is_main else None
    try:
        problem, ckpt = None, None
        if dist.is_main:
            try:
                ckpt = _check(config, path, resume, overwrite)
            except GanstudioError as e:
                problem = e
        # One broadcast: every rank learns whether rank 0 can go on, and gets the checkpoint to resume from.
        shared = dist.broadcast((str(problem) if problem else None, ckpt))
        if problem is not None:
            raise problem
        if shared[0] is not None:
            raise OtherRankFailed(f"rank 0 could not open the run: {shared[0]}")
        run = _open(config, plugins, path, shared[1], given, dist, device)
        if overwrite and shared[1] is None and dist.is_main:  # replacing the run: its old outputs go, now
            for folder in (path.parent, samples):
                empty_run_folder(folder)
        yield run
    except BaseException:
        if lock is not None and _wrote_nothing(path.parent, samples):
            lock.release(remove=True)  # a command that failed before writing anything leaves no folder behind
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty, and only the folders this command made
        raise
    finally:
        if lock is not None:
            lock.release()


def _wrote_nothing(run_dir: Path, samples: Path) -> bool:
    try:
        return [p.name for p in run_dir.iterdir()] == [LOCK] and not (samples.is_dir() and any(samples.iterdir()))
    except OSError:
        return False


def check_options(config: TrainConfig, plugins, resume: bool) -> None:
    """Every option that can be checked without the data, before the run's folders are looked at (a typo is said as
    such, not as "the run exists"). A resumed run keeps its own data, model and options: only its callbacks."""
    callbacks = plugins.callbacks
    names = config.callbacks if config.callbacks is not None else [n for n, cb in callbacks.items() if cb.default]
    for name in list(names) + list(config.disabled_callbacks) + list(config.callback_options):
        plugins.callback(name)  # unknown names fail here, with suggestions
    for name in dict.fromkeys(names):
        if name not in config.disabled_callbacks:
            parse_options(callbacks[name].options, dict(config.callback_options.get(name, {})), f"callback '{name}'")
    if resume:
        return
    dataset = plugins.dataset(config.data.name)
    parse_options(dataset.options, config.data.options, f"dataset '{config.data.name}'")
    model = plugins.model(config.model)
    if model.options is not None:  # else the model's own class checks them when it is built (a lazy build)
        parse_options(model.options, dict(config.model_options), f"model '{config.model}'")
    parse_policy(config.augment, config.data.channels or 3)


def _check(config: TrainConfig, path: Path, resume: Resume, overwrite: bool) -> Optional[dict]:
    """The checkpoint to resume (None for a new run), or a one-line error for a run that cannot start."""
    if resume == "auto":
        resume = path.exists()
    if resume:
        if not path.exists():
            # e.g. a fashion-dcgan run from before fashion's default model became cdcgan: say which runs there are
            runs = sorted(p.parent.name for p in Path(config.checkpoints_dir).glob("*/last.pt"))
            there = f"; runs there: {', '.join(runs[:10])}" + (", ..." if len(runs) > 10 else "") if runs else ""
            raise GanstudioError(
                f"--resume: no checkpoint at {path} (train without --resume first, or check --name{there})"
            )
        return load_checkpoint(path)
    if path.exists() and not overwrite:
        raise GanstudioError(
            f"{path} already exists: pass --resume to continue that run, --name NEW for a new one, "
            f"or --overwrite to replace it"
        )
    samples = Path(config.samples_dir) / config.run_name
    if not overwrite and samples.is_dir() and any(samples.iterdir()):
        raise GanstudioError(
            f"{samples}/ already holds the outputs of another run (grids, timeline, curves): pass "
            f"--name NEW, --samples-dir DIR, or --overwrite to replace them"
        )
    if overwrite:  # emptied once the run is built (open_run): refused here, before anything is read or removed
        check_overwritable(path.parent)
        check_overwritable(samples)
    return None


def _open(config: TrainConfig, plugins, path: Path, ckpt: Optional[dict], given, dist: Distributed, device) -> Run:
    if ckpt is None:
        return Run(config, plugins, dist=dist, device=device)
    try:
        if ckpt["model"]["name"] not in plugins.models:
            raise GanstudioError(
                f"{path}: model '{ckpt['model']['name']}' comes from plugin "
                f"'{ckpt['model']['plugin']}', which is not installed"
            )
        stored = TrainConfig.from_dict(ckpt["config"])
        merged = resumed_config(stored, config)
        merged.name = config.run_name
        ignored = ignored_on_resume(stored, config, given)
        if ignored and dist.is_main:
            print(
                f"note: --resume continues the run as it was defined; ignored: {', '.join(ignored)} "
                f"(train under a new --name to change them)",
                file=sys.stderr,
            )
        run = Run(merged, plugins, checkpoint=ckpt, dist=dist, device=device)
    except (KeyError, TypeError, ValueError) as e:
        raise GanstudioError(
            f"{path}: checkpoint is missing or has a malformed entry ({type(e).__name__}: {e}); it cannot be resumed"
        ) from None
    size = ckpt.get("data", {}).get("size")
    saved_world = ckpt["progress"].get("world_size", 1)
    if saved_world != dist.world_size and dist.is_main:
        print(
            f"note: the run was saved by {saved_world} process(es) and resumes on {dist.world_size}: it continues "
            f"at the same image of its epoch, but the batches differ from an uninterrupted run",
            file=sys.stderr,
        )
    if size is not None and size != len(run.data) and dist.is_main:
        print(
            f"note: the data has {len(run.data):,} images now, {size:,} when the run was saved: the epoch order "
            f"differs from an uninterrupted run ({run.data.source})",
            file=sys.stderr,
        )
    return run
