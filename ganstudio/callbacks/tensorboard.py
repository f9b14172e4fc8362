"""The ``tensorboard`` callback (off by default): scalars and sample grids for TensorBoard.

    pip install tensorboard
    ganstudio train --data fashion --minutes 10 --callbacks grid,gif,curves,log,tensorboard
    tensorboard --logdir checkpoints/fashion-dcgan/tensorboard

Every logged metric becomes a scalar (losses, D(x), D(G(z)), images/s, eval scores); the fixed-noise grid
is added as an image on the ``grid`` schedule (start, epoch ends, every --grid-every steps, end), rendered once
and shared with the grid and gif callbacks. A resumed run purges events after its checkpoint's step.
Without the tensorboard package, asking for this callback is a one-line error saying how to install it.
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.callbacks.grid import GridSchedule, fixed_noise_grid
from ganstudio.errors import GanstudioError

SKIP = {"step", "epoch"}


def summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises ImportError naming tensorboard when the package is missing
        raise GanstudioError("callback 'tensorboard' needs the tensorboard package: pip install tensorboard "
                             "(or leave it out of --callbacks)") from None
    return SummaryWriter


class TensorBoardCallback:
    def __init__(self, options: dict):
        self.writer_class = summary_writer_class()  # fails before training starts, not at the first log line
        self.schedule = GridSchedule(options.get("grid_every"))
        self.writer = None

    @hookimpl
    def before_training_run(self, run):
        # On resume, hide events logged after the checkpoint's step (by a run that was killed): they are trained again.
        self.writer = self.writer_class(log_dir=str(run.run_dir / "tensorboard"), purge_step=run.step + 1 if run.step else None)
        if self.schedule.start(run):
            self.add_grid(run)

    def add_grid(self, run) -> None:
        grid = fixed_noise_grid(run)
        if grid is not None:
            self.writer.add_image("samples/fixed_noise", grid, run.step, dataformats="HW" if grid.ndim == 2 else "HWC")

    @hookimpl
    def after_batch_run(self, run, step, metrics):
        for key, value in metrics.items():
            if key not in SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        if self.schedule.batch_due(run, step):
            self.add_grid(run)

    @hookimpl
    def after_epoch_run(self, run, step):
        self.schedule.epoch_done(step)
        self.add_grid(run)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    @hookimpl
    def after_training_run(self, run):
        if self.schedule.end_due(run):
            self.add_grid(run)
        self.close()

    @hookimpl
    def on_training_error(self):
        self.close()


@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("tensorboard", TensorBoardCallback, "TensorBoard scalars and grids in checkpoints/<name>/tensorboard (needs: pip install tensorboard)", default=False))
