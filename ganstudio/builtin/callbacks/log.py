"""The ``log`` callback: checkpoints/<name>/metrics.jsonl, one JSON object per logged step.

    ganstudio train --data fashion --steps 500
    python -c "import json; print([json.loads(l) for l in open('checkpoints/fashion-dcgan/metrics.jsonl')][-1])"

Each line: step, epoch, elapsed_s and every metric the run logged (the model's, images_per_s, steps_per_s and
what callbacks report, such as eval scores), e.g. (one line in the file, wrapped here)
{"step": 10, "epoch": 0.0213, "elapsed_s": 3.1, "loss_d": 0.61, "loss_g": 2.3, "d_real": 0.8, "d_fake": 0.2,
 "images_per_s": 410.5}

A resumed run keeps the lines up to its checkpoint's step and drops later ones (they are trained again), so the
file always describes one unbroken run. ``ganstudio.store.rundir.read_metrics(path)`` reads it back (the ``curves``
callback does).
"""

from __future__ import annotations

import json
import math

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin
from ganstudio.errors import DivergenceError
from ganstudio.store.atomic import atomic_write_text
from ganstudio.store.rundir import METRICS_FILE, read_metrics


def _plain(value):
    """JSON has no NaN/Infinity: non-finite floats are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class LogCallback:
    def __init__(self, options):
        self.file = None

    @hookimpl
    def before_training_run(self, run):
        path = run.run_dir / METRICS_FILE
        kept = read_metrics(path, up_to_step=run.step) if run.step > 0 else []
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = open(path, "a", buffering=1)  # line-buffered: each record is on disk as soon as it is logged

    @hookimpl
    def after_metrics_logged(self, run, metrics):
        record = {"step": metrics["step"], "epoch": metrics["epoch"], "elapsed_s": round(run.elapsed, 3)}
        record.update({k: _plain(v) for k, v in metrics.items() if k not in record})
        self.file.write(json.dumps(record) + "\n")

    @hookimpl
    def on_training_error(self, run, step, error):
        """The run's last line says how it ended badly (`ganstudio runs` shows it as diverged or failed)."""
        if self.file is not None and not isinstance(error, KeyboardInterrupt):
            message = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            self.file.write(
                json.dumps(
                    {"step": step, "event": "error", "diverged": isinstance(error, DivergenceError), "error": message}
                )
                + "\n"
            )

    def close(self):  # called by the core when the run ends, however it ends
        if self.file is not None:
            self.file.close()
            self.file = None


@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("log", LogCallback, "checkpoints/<name>/metrics.jsonl: one JSON line per logged step"))
