"""What the ``mlflow`` and ``wandb`` callbacks share: the hooks, a worker thread that keeps trackers off the training
path, the run's config as flat parameters, and the tracker's run id kept in the checkpoint for --resume."""

from __future__ import annotations

import dataclasses
import math
import queue
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

from ganstudio import hookimpl, limits
from ganstudio.errors import GanstudioError

CONNECT_S = 5.0  # a tracking server that has not answered within this at start is down
CLOSE_S = 30.0  # at the end, how long the command waits for a tracker to take what is still queued
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # MLflow's are 32 hex digits, W&B's 8 letters and digits (or chosen)
FILES = (
    "curves.png",
    "timeline.gif",
)  # samples/<name>/: logged at the end, once the curves and gif callbacks wrote them


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return limits.clean_text(f"{type(error).__name__}: {text}", limits.LINE_CHARS)


def flat_params(config) -> dict[str, str]:
    """The run's config as flat ``{"data.image_size": "28", ...}`` strings, each at most limits.TEXT_CHARS."""
    params: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            params[limits.clean_text(prefix)] = limits.clean_text(value)

    walk("", config)
    return params


def numbers(metrics: dict) -> dict[str, float]:
    """The finite numbers of a metrics record, under their metrics.jsonl names (``step`` is the x axis, not a metric;
    metrics.jsonl writes NaN/Inf as null, a tracker leaves them out)."""
    return {
        key: float(value)
        for key, value in metrics.items()
        if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }


def check_reachable(url: str, what: str) -> None:
    """One line unless something answers HTTP at ``url`` within CONNECT_S (any status: an answer means it is up)."""
    try:
        urllib.request.urlopen(url, timeout=CONNECT_S).close()
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise GanstudioError(
            f"{what} does not answer at {limits.clean_text(url)} ({reason}): start it, fix the address, "
            "or leave the callback out"
        ) from None


class Worker:
    """Runs a tracker's calls in order on a thread of its own, so that a slow or failing server never holds up
    training. The first failure stops it (``problem`` says why); later calls are dropped."""

    def __init__(self, name: str):
        self.calls: queue.Queue = queue.Queue(limits.TRACKER_QUEUE)
        self.problem = None
        self.thread = threading.Thread(target=self._work, name=f"ganstudio-{name}", daemon=True)
        self.thread.start()

    def submit(self, fn, *args) -> None:
        if self.problem is None:
            try:
                self.calls.put_nowait((fn, args))
            except queue.Full:
                self.problem = f"{limits.TRACKER_QUEUE:,} calls are waiting: it is far slower than training"

    def _work(self) -> None:
        while True:
            fn, args = self.calls.get()
            if fn is None:
                return
            if self.problem is None:
                try:
                    fn(*args)
                except Exception as e:  # whatever the tracker raises, training goes on
                    self.problem = one_line(e)

    def close(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queued calls; True when they all ran."""
        try:
            self.calls.put((None, ()), timeout=timeout)
        except queue.Full:
            return False
        self.thread.join(timeout)
        return not self.thread.is_alive()


class TrackerCallback:
    """The hooks of a tracker callback. A subclass sets ``name`` and implements ``start(run, params) -> run id``
    (synchronous: a failure is one line before training) and ``log_metrics``, ``log_grid``, ``log_file``, ``finish``
    (run on the worker thread)."""

    name = ""

    def __init__(self):
        self.run_id = None  # the tracker's run: restored from the checkpoint on --resume, so it goes on
        self.note = None
        self.worker = None
        self.status = "FAILED"  # until the run says how it ended
        self.checkpoint = None
        self.samples_dir = None
        self.step = 0
        self.reported = False
        self.say = print

    @hookimpl
    def before_training_run(self, run):
        self.say, self.samples_dir, self.step = run.log, run.samples_dir, run.step
        if self.note:
            run.log(self.note)
        self.run_id = self.start(run, flat_params(run.config))
        self.worker = Worker(self.name)

    @hookimpl
    def after_metrics_logged(self, run, step, metrics):
        values = numbers(metrics)
        values["elapsed_s"] = round(run.elapsed, 3)  # as metrics.jsonl has it
        self._submit(step, self.log_metrics, step, values)

    @hookimpl
    def after_grid_rendered(self, grid, step):
        self._submit(step, self.log_grid, step, grid.copy())

    @hookimpl
    def after_checkpoint_saved(self, path):
        self.checkpoint = str(path)

    @hookimpl
    def after_training_run(self, step, reason):
        self.status = "KILLED" if reason == "interrupted" else "FINISHED"

    @hookimpl
    def on_training_error(self, error):
        self.status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"

    def _submit(self, step, fn, *args) -> None:
        self.step = max(self.step, step)
        if self.worker is not None:
            self._say_problem()
            self.worker.submit(fn, *args)

    def _say_problem(self) -> None:
        if self.worker.problem and not self.reported:
            self.reported = True
            self.say(f"warning: callback '{self.name}' stopped logging ({self.worker.problem}); training goes on")

    def close(self):  # called by the core when the run ends, however it ends
        if self.worker is None:
            return
        for name in FILES:
            path = Path(self.samples_dir) / name
            if path.is_file():
                self.worker.submit(self.log_file, path, self.step)
        self.worker.submit(self.finish, self.status, self.checkpoint)
        done = self.worker.close(CLOSE_S)
        self._say_problem()
        if not done and not self.reported:
            self.say(f"warning: callback '{self.name}' did not finish within {CLOSE_S:.0f} s; its run may lack the end")
        self.worker = None

    def state_dict(self):  # kept in the checkpoint: --resume continues the same tracker run
        return {"run_id": self.run_id} if self.run_id else {}

    def load_state_dict(self, state):
        run_id = state.get("run_id") if isinstance(state, dict) else state
        if isinstance(state, dict) and (run_id is None or (isinstance(run_id, str) and RUN_ID.fullmatch(run_id))):
            self.run_id = run_id
        else:  # a damaged or hostile checkpoint: never handed to the tracker
            self.note = f"note: the checkpoint's {self.name} run id is not an id; this invocation starts a new one"

    # What a tracker implements.
    def start(self, run, params: dict) -> str:
        raise NotImplementedError

    def log_metrics(self, step: int, values: dict) -> None:
        raise NotImplementedError

    def log_grid(self, step: int, grid) -> None:
        raise NotImplementedError

    def log_file(self, path: Path, step: int) -> None:
        raise NotImplementedError

    def finish(self, status: str, checkpoint) -> None:
        raise NotImplementedError
