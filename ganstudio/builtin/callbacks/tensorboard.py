"""The ``tensorboard`` callback (off by default): scalars and sample grids for TensorBoard.

    pip install tensorboard
    ganstudio train --data fashion --minutes 10 --callbacks grid,gif,curves,log,tensorboard
    tensorboard --logdir checkpoints/fashion-dcgan/tensorboard

Every logged metric becomes a scalar (losses, D(x), D(G(z)), images/s, eval scores); the fixed-noise grid
is added as an image whenever the loop renders it (start, epoch ends, every --grid-every steps, end).
A resumed run purges events after its checkpoint's step.
Without the tensorboard package, asking for this callback is a one-line error saying how to install it.
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.errors import GanstudioError

SKIP = {"step", "epoch"}


def summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises ImportError naming tensorboard when the package is missing
        raise GanstudioError(
            "callback 'tensorboard' needs the tensorboard package: pip install tensorboard "
            "(or leave it out of --callbacks)"
        ) from None
    return SummaryWriter


class TensorBoardCallback:
    def __init__(self, options):
        self.writer_class = summary_writer_class()  # fails before training starts, not at the first log line
        self.writer = None

    @hookimpl
    def before_training_run(self, run):
        # On resume, hide events logged after the checkpoint's step (by a run that was killed): they are trained again.
        self.writer = self.writer_class(
            log_dir=str(run.run_dir / "tensorboard"), purge_step=run.step + 1 if run.step else None
        )

    @hookimpl
    def after_grid_rendered(self, grid, step):
        self.writer.add_image("samples/fixed_latents", grid, step, dataformats="HW" if grid.ndim == 2 else "HWC")

    @hookimpl
    def after_metrics_logged(self, step, metrics):
        for key, value in metrics.items():
            if key not in SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)

    @hookimpl
    def after_epoch_run(self):
        self.writer.flush()

    def close(self):  # called by the core when the run ends, however it ends
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "tensorboard",
            TensorBoardCallback,
            "TensorBoard scalars and grids in checkpoints/<name>/tensorboard (needs: pip install tensorboard)",
            default=False,
        )
    )
