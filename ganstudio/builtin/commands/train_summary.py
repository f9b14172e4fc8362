"""What ``ganstudio train`` says when a run ends: where it is, its mean speed, and whether it stopped too early for
its model to make recognisable images. A helper of train.py only (it registers nothing)."""

from __future__ import annotations

from typing import Optional

from ganstudio.output.live import format_duration
from ganstudio.train.budget import Budget


def print_summary(run, code: int, requeue: bool) -> None:
    """The end-of-run lines (rank 0): the run, its mean img/s over the run, its outputs, how to continue."""
    name = run.config.run_name
    outputs = sorted(p.name for p in run.samples_dir.iterdir()) if run.samples_dir.is_dir() else []
    shown = (
        f"{run.samples_dir}/ ({', '.join(outputs[:4])}{', ...' if len(outputs) > 4 else ''})"
        if outputs
        else "no sample files"
    )
    print(
        f"run '{name}': step {run.step:,}, epoch {run.epoch:.2f}{mean_speed(run)}; checkpoint "
        f"{run.checkpoint_path}; outputs in {shown}"
    )
    if requeue:
        print(f"saved at step {run.step:,}; run the same command with --resume auto (requeue the job) to continue")
    elif code:
        print(f"stopped by a signal; continue with: ganstudio train --name {name} --resume")
    note = too_early(run, code)
    if note:
        print(note)


def mean_speed(run) -> str:
    """ ", mean 1,234 img/s over the run (...)": images seen over the training seconds of the whole run (every
    session of a resumed run; grids and saves included), not the live view's recent window."""
    seconds = run.elapsed
    if run.images_seen <= 0 or seconds <= 0:
        return ""
    took = f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)
    return (
        f", mean {run.images_seen / seconds:,.0f} img/s over the run ({run.images_seen:,} images in {took} of training)"
    )


def too_early(run, code: int) -> Optional[str]:
    """One line when the run stopped before the target it was given (its --minutes budget, Ctrl-C, a signal) below
    the steps at which its model usually makes recognisable images (ModelPlugin.recognisable_steps)."""
    needed = run.model_plugin.recognisable_steps
    if not needed or run.step >= needed:
        return None
    budget = Budget(run.config, run.batches.epoch_images, run.batches.per_epoch)
    if not code and budget.reached(run.step, run.images_seen):
        return None  # it trained as long as it was asked to
    where = " (docs/models.md)" if run.model_plugin.plugin.startswith("ganstudio.") else ""
    return (
        f"note: {run.step:,} step{'s' if run.step != 1 else ''}; {run.config.model} usually needs about {needed:,} "
        f"steps for recognisable images{where} — train longer, or continue with: ganstudio train --name "
        f"{run.config.run_name} --resume --steps {needed}"
    )
