"""The ``mlflow`` callback (off by default): the run in MLflow, as parameters, metrics, grids and files.

    pip install 'ganstudio[mlflow]'
    ganstudio train --data fashion --minutes 10 --with mlflow --mlflow-uri http://127.0.0.1:5000

The run's config becomes parameters, every record of metrics.jsonl metrics at its step (same names), each grid an
image under grids/, curves.png and timeline.gif files; the final checkpoint's path is the tag ganstudio.checkpoint
and the run ends FINISHED, FAILED or KILLED (Ctrl-C). --resume continues the same MLflow run (its id is kept in the
checkpoint). The store is --mlflow-uri, else $MLFLOW_TRACKING_URI, else MLflow's default; the experiment
--mlflow-experiment, else $MLFLOW_EXPERIMENT_NAME, else "ganstudio". Without mlflow, or with a server that does not
answer, the command stops before training with one line; a failure later is one warning, and training goes on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Optional

from ganstudio import hookimpl, limits
from ganstudio.api import CallbackPlugin, option
from ganstudio.builtin.callbacks.tracking import TrackerCallback, check_reachable, one_line
from ganstudio.errors import GanstudioError

BATCH = 100  # parameters per log_batch call: MLflow's own maximum


@dataclass
class MlflowOptions:
    uri: Optional[str] = option(
        None, "tracking server or store, e.g. http://127.0.0.1:5000 or sqlite:///mlflow.db (else $MLFLOW_TRACKING_URI)"
    )
    experiment: Optional[str] = option(None, "experiment of the run (else $MLFLOW_EXPERIMENT_NAME, else ganstudio)")


def client_class():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise GanstudioError(
            "callback 'mlflow' needs the mlflow package: pip install 'ganstudio[mlflow]' "
            "(or leave it out of --callbacks)"
        ) from None
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its "creating database tables" notes in our output
    return MlflowClient


class MlflowCallback(TrackerCallback):
    name = "mlflow"

    def __init__(self, options: MlflowOptions):
        super().__init__()
        client = client_class()  # fails before training starts, not at the first record
        self.uri = options.uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        if self.uri and self.uri.startswith(("http://", "https://")):
            check_reachable(self.uri.rstrip("/") + "/health", "callback 'mlflow': the MLflow tracking server")
        self.experiment = options.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ganstudio"
        self.client = client(tracking_uri=self.uri)

    def start(self, run, params: dict) -> str:
        try:
            return self._resume(params) or self._create(run, params)
        except GanstudioError:
            raise
        except Exception as e:
            where = limits.clean_text(self.uri or "MLflow's default store")
            raise GanstudioError(f"callback 'mlflow' cannot start its run in {where}: {one_line(e)}") from None

    def _resume(self, params: dict) -> Optional[str]:
        """The run an earlier invocation started, running again; None when there is none in this store."""
        from mlflow.exceptions import MlflowException

        if self.run_id is None:
            return None
        try:
            known = self.client.get_run(self.run_id).data.params
        except MlflowException:
            self.say(f"note: MLflow run {self.run_id} of this run is not in this store; a new MLflow run starts")
            return None
        self.client.update_run(self.run_id, status="RUNNING")
        # A parameter cannot change in MLflow: those of the first invocation stay (a new --steps target, say).
        self._log_params(self.run_id, {k: v for k, v in params.items() if k not in known})
        return self.run_id

    def _create(self, run, params: dict) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.experiment)
        tags = {"ganstudio.run": run.name, "ganstudio.run_dir": str(run.run_dir.resolve())}
        run_id = self.client.create_run(experiment_id, run_name=run.name, tags=tags).info.run_id
        self._log_params(run_id, params)
        return run_id

    def _log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(run_id, params=items[i : i + BATCH])

    # On the worker thread: one call per record, grid or file.
    def log_metrics(self, step: int, values: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def log_grid(self, step: int, grid) -> None:
        self.client.log_image(self.run_id, grid, artifact_file=f"grids/step_{step:07d}.png")

    def log_file(self, path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def finish(self, status: str, checkpoint) -> None:
        if checkpoint is not None:
            self.client.set_tag(self.run_id, "ganstudio.checkpoint", limits.clean_text(checkpoint, limits.PATH_CHARS))
        self.client.set_terminated(self.run_id, status=status)


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "mlflow",
            MlflowCallback,
            "the run in MLflow: parameters, metrics, grids, curves and GIF (needs: pip install 'ganstudio[mlflow]')",
            default=False,
            options=MlflowOptions,
        )
    )
