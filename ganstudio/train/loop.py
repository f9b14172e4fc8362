"""The training loop, top to bottom. The model owns one training step; the loop owns the rest:

    code = fit(run, plugins, view)    # run: ganstudio/train/run.py; 0, or 130 / 143 after Ctrl-C / SIGTERM (saved)

train() (ganstudio/train/entry.py) opens the run and calls fit(); the hooks get RunViews (ganstudio/train/view.py).

Every step: the model's step (drawing the batches it needs), the step hook, the metric window. Every
--log-every steps: one host sync, the view and the metrics hook. Epoch ends: a checkpoint. Grids at the start,
every --grid-every steps, at epoch ends and at the end, for the callbacks that show them.

Under torchrun (distributed.py) every rank runs this loop: the networks are DDP-wrapped during the model's step,
the metrics are averaged over the ranks at every log step, where the ranks also agree on stopping (a signal, the
--minutes budget) and on a timed save; rank 0 alone writes checkpoints and runs the callbacks and the view.
"""

from __future__ import annotations

import os
import time

import torch

from ganstudio.errors import DivergenceError, GanstudioError, OtherRankFailed
from ganstudio.output.images import make_grid
from ganstudio.store.checkpoint import save_checkpoint
from ganstudio.train.accel import LossScale
from ganstudio.train.budget import Budget
from ganstudio.train.callbacks import AttachedCallbacks
from ganstudio.train.metric_window import MetricWindow
from ganstudio.train.stopping import GracefulStop
from ganstudio.train.view import Hooks


def explained(dist, error: Exception) -> Exception:
    """Under torchrun: tell the other ranks why this one stops, or, when a collective failed because another rank
    had already stopped, say which one and why (rank 0 prints it; the others stay quiet)."""
    if isinstance(error, DivergenceError) and not dist.is_main:
        return OtherRankFailed(str(error))  # every rank sees the same averaged metrics and weights: rank 0 says it
    elsewhere = dist.failure_elsewhere() if isinstance(error, RuntimeError) else None
    if elsewhere is None:
        dist.record_failure(f"{type(error).__name__}: {error}")
        return error
    if dist.is_main:
        return GanstudioError(f"stopped because {elsewhere}")
    return OtherRankFailed(elsewhere)


def fit(run, plugins, view=None, save_on=None) -> int:
    """Train ``run`` to its target, deadline or a signal; returns the exit code (0, or 128 + the signal).
    ``save_on``: a warning signal (--save-on-signal) that stops the run as Ctrl-C does."""
    dist = run.dist
    if not dist.is_main:
        log = lambda message: None  # noqa: E731  (other ranks are quiet; rank 0 speaks for the run)
    else:
        log = view.log if view is not None else (lambda message: print(message, flush=True))
    budget = Budget(run.config, run.batches.epoch_images, run.batches.per_epoch)
    if budget.reached(run.step, run.images_seen):
        log(
            f"nothing to do: the run is at step {run.step:,} ({run.images_seen:,} images), the target is "
            f"{budget.describe_target()} (raise --epochs/--steps)"
        )
        return 0
    if dist.is_main:
        check_writable(run)
    # Under torchrun a Ctrl-C reaches a worker twice (from the terminal and from torchrun): the repeat is not an abort.
    with (
        GracefulStop(log, repeat_grace_s=5.0 if dist.enabled else 0.0, save_on=save_on) as stop,
        AttachedCallbacks(plugins, run.config, run.callback_state, enabled=dist.is_main) as callbacks,
    ):
        window = MetricWindow(run.step, run.images_seen, dist_sum(dist) if dist.enabled else None, dist.world_size)
        hooks = Hooks(run, plugins, log, callbacks, budget, window)
        saver = Saver(run, hooks, callbacks, log)
        grids = GridRenderer(run, hooks, view if dist.is_main else None)
        try:
            hooks.call("before_training_run")
            budget.start(run.step, run.images_seen)
            run.started = time.monotonic()
            grids.maybe(start=run.step == 0)
            reason, signum = train_steps(run, hooks, stop, saver, grids, view)
            # Recorded in the checkpoint: a run stopped by Ctrl-C / SIGTERM is unfinished (an unfinished classifier is
            # never used as eval's feature space); reaching a target or the --minutes budget finishes it.
            run.finished = reason != "interrupted"
            flush(run, hooks, view)
            if dist.is_main:
                run.results = run.model.evaluate(hooks.view()) or {}
            grids.maybe(end=True)
            path = saver.save()
            log(f"saved {path} at step {run.step:,} ({reason})")
            hooks.call("after_training_run", step=run.step, reason=reason)
        except BaseException as error:
            # Under torchrun: say which rank failed first (a collective here fails because another rank stopped).
            replacement = explained(dist, error) if dist.enabled and isinstance(error, Exception) else error
            saver.on_error(replacement)
            if replacement is error:
                raise
            raise replacement from None
    return 128 + signum if signum else 0


def dist_sum(dist):
    def reduce(tensor):
        tensor = tensor.to(dist.collective_device())
        dist.sum_(tensor)
        return tensor

    return reduce


def train_steps(run, hooks, stop, saver, grids, view) -> tuple[str, int]:
    """Steps until a target, the deadline or a signal; returns why it stopped, and the signal that stopped it."""
    config, dist, budget = run.config, run.dist, hooks.budget
    # fp16: which steps (and which phases of them, by the model's metric_phases) the GradScaler skipped
    phases = getattr(run.model, "metric_phases", None)
    loss_scale = LossScale(run.model.grad_scaler, run.device, run.optimizers, phases)
    next_save = time.monotonic() + config.save_every_minutes * 60
    run.model.train()
    while not budget.reached(run.step, run.images_seen):
        epochs_before = run.batches.epochs_completed
        loss_scale.start_step()
        run.in_step = True  # until the step is whole, the weights may be half-updated: never saved as they are
        with dist.wrapped(run.model):  # under torchrun the networks are their DDP wrappers during the step
            metrics = run.model.training_step(run.batches, run.optimizers, run.context(budget))
        for scheduler in run.schedulers.values():
            scheduler.step()
        if run.ema is not None:
            run.ema.update(run.model.generator)
        run.step += 1
        if run.ada is not None:  # --augment ada: p follows D's overfitting every few steps (ada.py)
            metrics = {**(metrics or {}), **run.ada.after_step(run.step)}
        run.in_step = False
        hooks.window.add(metrics or {}, loss_scale.skipped(list(metrics or {})))
        hooks.call("after_training_step", step=run.step)

        epoch_done = run.batches.epochs_completed > epochs_before
        # The steps where every rank looks up together: the log steps and epoch ends (the same on every rank).
        sync_point = run.step % config.log_every == 0 or epoch_done
        if not dist.enabled:
            signum, out_of_time, save_due = stop.signum or 0, budget.out_of_time(), time.monotonic() >= next_save
        elif sync_point:  # a signal, the clock and the timed save, as one decision for all ranks
            signum, out_of_time, save_due = dist.agree(
                stop.signum or 0, budget.out_of_time(), time.monotonic() >= next_save
            )
        else:
            signum, out_of_time, save_due = 0, False, False
        grids.maybe(epoch_done=run.batches.epochs_completed if epoch_done else None)
        # An eval score reported at another step is logged at once in one process, at the next log step under torchrun.
        if sync_point or (hooks.window.urgent and not dist.enabled):
            flush(run, hooks, view, force_view=epoch_done)
        if epoch_done:
            saver.save()
            hooks.call("after_epoch_run", epoch=run.batches.epochs_completed, step=run.step)
        elif save_due:
            if not dist.enabled:
                flush(run, hooks, view)
            saver.save()
            next_save = time.monotonic() + config.save_every_minutes * 60
        if signum:
            return "interrupted", signum
        if out_of_time:
            return "time budget", 0
    return "done", 0


def flush(run, hooks, view, force_view: bool = False) -> None:
    """One host sync: the window's record joins the history, the view and the after_metrics_logged hook."""
    budget = hooks.budget
    try:
        record = hooks.window.flush(run.step, run.images_seen, run.epoch)
    except DivergenceError as e:
        raise DivergenceError(f"{e}; stopped without saving: {last_good(run)}") from None
    if record is None:
        return
    run.history.append(record)
    if record.get("fp16_skipped_steps"):
        hooks.log(
            f"fp16: {record['fp16_skipped_steps']} step(s) up to {run.step:,} skipped (gradient overflow); "
            f"the loss scale adapts"
        )
    if view is not None:
        # The speed and the ETA over the last minute (budget.Pace), not this window alone; the record keeps its own.
        budget.pace.mark(run.step, run.images_seen)
        rates = budget.pace.rates()
        steps_per_s, images_per_s = rates or (record["steps_per_s"], record["images_per_s"])
        fraction = budget.fraction(run.step, run.images_seen) or 0.0
        eta = budget.eta(run.step, run.images_seen, steps_per_s, images_per_s)
        speed = (images_per_s, budget.pace.describe() if rates else "last window")
        view.update(
            fraction, run.step, run.epoch, record, eta, force=force_view, metric_specs=hooks.metric_specs, speed=speed
        )
    hooks.call("after_metrics_logged", step=run.step, metrics=record)


class GridRenderer:
    """The fixed-latent grid, rendered once when due and handed to every ``after_grid_rendered`` hook and to the
    view (a terminal draws a strip of it)."""

    def __init__(self, run, hooks, view=None):
        self.run, self.hooks = run, hooks
        self.view = view if view is not None and getattr(view, "shows_samples", False) else None
        self.every = run.config.grid_every
        self.last_step = run.step if run.step else None

    def maybe(self, start: bool = False, epoch_done=None, end: bool = False) -> None:
        run = self.run
        if not run.dist.is_main:
            return
        due = start or epoch_done is not None or (self.every and run.step % self.every == 0) or end
        if not due or run.step == self.last_step or run.model.kind != "gan" or len(run.fixed_latents) == 0:
            return
        hooked = bool(self.hooks.plugins.pm.hook.after_grid_rendered.get_hookimpls())
        if not hooked and self.view is None:
            return
        self.last_step = run.step
        images = self.hooks.generate(run.fixed_latents, run.fixed_labels)
        if self.view is not None:
            self.view.show_samples(images, cols=run.grid_cols, step=run.step)
        if not hooked:
            return
        self.hooks.call(
            "after_grid_rendered", grid=make_grid(images, cols=run.grid_cols), step=run.step, epoch_done=epoch_done
        )


class Saver:
    """last.pt, written atomically; never with non-finite weights; on an error, only a step-aligned state."""

    def __init__(self, run, hooks, callbacks, log):
        self.run, self.hooks, self.callbacks, self.log = run, hooks, callbacks, log

    def save(self, notify: bool = True):
        run = self.run
        bad = [
            name for name, p in run.model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()
        ]
        if bad:
            raise DivergenceError(
                f"training diverged: non-finite weights in {bad[0]}"
                + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else "")
                + f" at step {run.step}; not saved: {last_good(run)}"
            )
        if not run.dist.is_main:  # every rank holds the same weights: rank 0 writes them
            run.saved_step = run.step
            return run.checkpoint_path
        path = save_checkpoint(run.state_dict(self.callbacks.state()), run.checkpoint_path)
        run.saved_step = run.step
        if notify:
            self.hooks.call("after_checkpoint_saved", path=path, step=run.step)
        return path

    def on_error(self, error: BaseException) -> None:
        """Save what can be saved, then tell the plugins. A diverged run, an aborting second Ctrl-C or any error in the
        middle of a training step (say, out of memory after D's update) is not saved: last.pt keeps the last good,
        step-aligned state."""
        aligned = not self.run.in_step
        if not self.run.dist.is_main:
            pass  # rank 0 decides what is saved
        elif (
            aligned
            and not isinstance(error, (DivergenceError, KeyboardInterrupt))
            and self.run.step > self.run.saved_step
        ):
            try:
                path = self.save(notify=False)
                self.log(f"saved {path} at step {self.run.step:,} before stopping on the error")
            except Exception as save_error:
                self.log(f"could not save the state after the error: {save_error}")
        elif not aligned and self.run.step > self.run.saved_step:
            self.log(f"not saved: the error came in the middle of step {self.run.step + 1:,}; {last_good(self.run)}")
        try:
            self.hooks.call("on_training_error", step=self.run.step, error=error)
        except Exception as hook_error:  # the original error matters more; mention the second one
            self.log(f"while handling the error: {hook_error}")


def last_good(run) -> str:
    if not run.checkpoint_path.exists():
        return "no checkpoint had been written yet (try a lower learning rate, e.g. --model-option lr=1e-4)"
    return f"{run.checkpoint_path} holds step {run.saved_step:,}, the last good state"


def check_writable(run) -> None:
    """Fail before training, not after an hour, when an output folder cannot be written."""
    for folder in (run.run_dir, run.samples_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise GanstudioError(
                f"cannot write to {folder}: {e.strerror or e} (choose another folder with "
                f"--checkpoints-dir / --samples-dir)"
            ) from None
