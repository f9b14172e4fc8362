"""The mlflow and wandb callbacks against the real libraries: what a tiny run leaves in an MLflow store (read back with
MlflowClient) and in a W&B offline run (its .wandb file), --resume continuing the same tracker run, one line at start
when a tracker is missing or its server is down, and a tracker failing mid-run reported once while training finishes."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import FAST
from wandb_files import wandb_runs

from ganstudio.store.rundir import read_metrics

mlflow = pytest.importorskip("mlflow")
wandb = pytest.importorskip("wandb")
from mlflow.tracking import MlflowClient  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)
RUN = "checkpoints/fashion-dcgan"

FAIL_AT_STEP_4 = """
from ganstudio import hookimpl

@hookimpl
def after_training_step(run, step):
    if step == 4:
        raise RuntimeError("out of ink")
"""

CTRL_C_AT_STEP_4 = """
import os, signal
from ganstudio import hookimpl

@hookimpl
def after_training_step(run, step):
    if step == 4:
        os.kill(os.getpid(), signal.SIGINT)
"""

# The MLflow run disappears under the callback (deleted from the store): every later call to it fails.
DELETE_MLFLOW_RUN_AT_STEP_4 = """
import os
from mlflow.tracking import MlflowClient
from ganstudio import hookimpl

@hookimpl
def after_training_step(run, step):
    if step == 4:
        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
        for found in client.search_runs(client.get_experiment_by_name("ganstudio").experiment_id):
            client.delete_run(found.info.run_id)
"""


def train(cli, tiny_idx, *extra, steps=8):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", steps, *extra)


def plugin(workdir, name, text):
    (workdir / "plugins").mkdir(exist_ok=True)
    (workdir / "plugins" / f"{name}.py").write_text(text)


def one_line(result, *expected):
    code, out, err = result
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (code, out, err)
    for text in expected:
        assert text in err, err
    return err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- MLflow --------------------------------------------------------------------------------------------------------


@pytest.fixture
def store(workdir, monkeypatch):
    """An MLflow sqlite store in the test's folder (artifacts under ./mlruns), named by MLflow's own variable."""
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return MlflowClient(uri)


def only_run(client):
    runs = client.search_runs(client.get_experiment_by_name("ganstudio").experiment_id)
    assert len(runs) == 1, runs
    return runs[0]


def check_mlflow_run(client, run, workdir, steps):
    """What the run logged is what metrics.jsonl holds: every metric under its name, at its steps, same values."""
    records = read_metrics(workdir / RUN / "metrics.jsonl")
    for name in ("loss_d", "loss_g", "d_real", "images_per_s", "epoch", "elapsed_s"):
        logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}
        expected = {r["step"]: r[name] for r in records if r.get(name) is not None}
        assert logged.keys() == expected.keys() and max(logged) == steps, (name, logged, expected)
        assert all(logged[s] == pytest.approx(v, rel=1e-6) for s, v in expected.items()), name
    named = {k for r in records for k, v in r.items() if isinstance(v, (int, float))} - {"step"}
    assert named <= set(run.data.metrics), named - set(run.data.metrics)


def test_mlflow_logs_params_metrics_grids_files_checkpoint_and_status(cli, tiny_idx, workdir, store):
    code, out, err = train(cli, tiny_idx, "--callbacks", "grid,gif,curves,log,mlflow", "--grid-every", "4")
    assert code == 0, err
    run = only_run(store)
    assert run.info.status == "FINISHED" and run.info.run_name == "fashion-dcgan"
    params = run.data.params
    assert params["model"] == "dcgan" and params["data.name"] == "fashion" and params["steps"] == "8", params
    assert params["model_options.width"] == "8" and all(len(v) <= 200 for v in params.values())
    check_mlflow_run(store, run, workdir, steps=8)
    grids = [a.path for a in store.list_artifacts(run.info.run_id, "grids")]
    assert grids == ["grids/step_0000000.png", "grids/step_0000004.png", "grids/step_0000008.png"]
    files = {a.path for a in store.list_artifacts(run.info.run_id)}
    assert {"curves.png", "timeline.gif", "grids"} <= files, files
    assert run.data.tags["ganstudio.checkpoint"] == f"{RUN}/last.pt"
    # The artifacts are the run's own pictures.
    local = store.download_artifacts(run.info.run_id, "timeline.gif", str(workdir / "down"))
    assert open(local, "rb").read() == (workdir / "samples/fashion-dcgan/timeline.gif").read_bytes()


def test_mlflow_resume_continues_the_same_run(cli, tiny_idx, workdir, store):
    assert train(cli, tiny_idx, "--with", "mlflow", "--mlflow-experiment", "ganstudio")[0] == 0
    first = only_run(store).info.run_id
    code, out, err = train(cli, tiny_idx, "--with", "mlflow", "--resume", steps=12)
    assert code == 0, err
    run = only_run(store)  # still one run: the same one, running on and finished again
    assert run.info.run_id == first and run.info.status == "FINISHED"
    check_mlflow_run(store, run, workdir, steps=12)
    assert run.data.params["steps"] == "8"  # MLflow parameters cannot change: the first invocation's stay


@pytest.mark.parametrize("how, code, status", [("fail", 2, "FAILED"), ("ctrl-c", 130, "KILLED")])
def test_mlflow_run_status_says_how_training_ended(cli, tiny_idx, workdir, store, how, code, status):
    plugin(workdir, "ending", FAIL_AT_STEP_4 if how == "fail" else CTRL_C_AT_STEP_4)
    result = train(cli, tiny_idx, "--callbacks", "log,mlflow")
    assert result[0] == code, result
    run = only_run(store)
    assert run.info.status == status and run.info.end_time is not None
    last = [r for r in read_metrics(workdir / RUN / "metrics.jsonl") if "loss_d" in r][-1]["step"]  # before it stopped
    assert max(m.step for m in store.get_metric_history(run.info.run_id, "loss_d")) == last


def test_mlflow_missing_or_down_is_one_line_before_training(cli, tiny_idx, workdir, monkeypatch):
    port = closed_port()
    started = time.monotonic()
    one_line(
        train(cli, tiny_idx, "--callbacks", "grid,log,mlflow", "--mlflow-uri", f"http://127.0.0.1:{port}"),
        "error: callback 'mlflow': the MLflow tracking server does not answer at",
        f"http://127.0.0.1:{port}/health",
    )
    assert time.monotonic() - started < 20 and not (workdir / RUN).exists()  # nothing trained, no run left

    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if mlflow were not installed
    one_line(
        train(cli, tiny_idx, "--with", "mlflow"),
        "callback 'mlflow' needs the mlflow package: pip install 'ganstudio[mlflow]'",
    )
    assert not (workdir / RUN).exists()


def test_mlflow_failing_mid_run_is_reported_once_and_training_finishes(cli, tiny_idx, workdir, store):
    plugin(workdir, "sabotage", DELETE_MLFLOW_RUN_AT_STEP_4)
    code, out, err = train(cli, tiny_idx, "--callbacks", "grid,log,mlflow", "--grid-every", "2", steps=12)
    assert code == 0, err
    said = (out + err).count("warning: callback 'mlflow' stopped logging (MlflowException:")
    assert said == 1, out + err
    assert read_metrics(workdir / RUN / "metrics.jsonl")[-1]["step"] == 12 and (workdir / RUN / "last.pt").exists()


def test_a_damaged_run_id_in_the_checkpoint_is_never_used():
    from ganstudio.builtin.callbacks.tracking import TrackerCallback

    callback = TrackerCallback()
    callback.load_state_dict({"run_id": "abc123"})
    assert callback.run_id == "abc123" and callback.state_dict() == {"run_id": "abc123"}
    for hostile in ({"run_id": "../../etc"}, {"run_id": "x" * 65}, {"run_id": 7}, ["run_id"]):
        callback = TrackerCallback()
        callback.load_state_dict(hostile)
        assert callback.run_id is None and "not an id" in callback.note


@pytest.mark.slow
def test_mlflow_against_a_real_server(cli, tiny_idx, workdir):
    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}", "--default-artifact-root", str(workdir / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        code, out, err = train(cli, tiny_idx, "--callbacks", "grid,gif,curves,log,mlflow", "--mlflow-uri", uri)
        assert code == 0, err
        client = MlflowClient(uri)
        run = only_run(client)
        assert run.info.status == "FINISHED" and run.data.params["model"] == "dcgan"
        check_mlflow_run(client, run, workdir, steps=8)
        assert {"curves.png", "timeline.gif", "grids"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


# --- Weights & Biases (offline) ------------------------------------------------------------------------------------


@pytest.fixture
def offline(workdir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(workdir / "wb"))
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    (workdir / "wb").mkdir()


def test_wandb_offline_logs_config_metrics_images_and_status_then_resumes_the_same_run(cli, tiny_idx, workdir, offline):
    code, out, err = train(cli, tiny_idx, "--callbacks", "grid,gif,curves,log,wandb", "--grid-every", "4")
    assert code == 0, err
    [run] = wandb_runs(workdir, 1)
    assert run["project"] == "from-env" and run["exit"] == 0  # the project from W&B's own WANDB_PROJECT
    config = run["config"]
    assert config["model"] == "dcgan" and config["data.name"] == "fashion" and config["steps"] == "8", config
    logged = {row["_step"]: row for row in run["history"]}
    for record in read_metrics(workdir / RUN / "metrics.jsonl"):
        for name in ("loss_d", "loss_g", "images_per_s", "epoch"):
            assert logged[record["step"]][name] == pytest.approx(record[name], rel=1e-6), (name, record)
    assert [s for s, row in sorted(logged.items()) if "samples/_type" in row] == [0, 4, 8]
    assert logged[8]["curves/format"] == "png" and logged[8]["timeline/format"] == "gif"
    assert run["summary"]["status"] == "FINISHED" and run["summary"]["checkpoint"] == f"{RUN}/last.pt"

    code, out, err = train(cli, tiny_idx, "--with", "wandb", "--wandb-project", "from-env", "--resume", steps=12)
    assert code == 0, err
    first, again = wandb_runs(workdir, 2)
    assert again["id"] == first["id"] == run["id"]  # the same W&B run goes on (`wandb sync` joins the two files)
    assert max(row["_step"] for row in again["history"] if "loss_d" in row) == 12
    assert again["summary"]["status"] == "FINISHED" and again["exit"] == 0


def test_wandb_online_without_a_login_is_one_line_before_training(cli, tiny_idx, workdir, monkeypatch):
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(workdir / "no-netrc"))
    one_line(train(cli, tiny_idx, "--with", "wandb"), "callback 'wandb': not logged in to W&B: run `wandb login`")
    assert not (workdir / RUN).exists()

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if wandb were not installed
    one_line(train(cli, tiny_idx, "--with", "wandb"), "callback 'wandb' needs the wandb package")


def test_help_does_not_import_a_tracker(workdir):
    probe = "import sys; from ganstudio.cli import main\n"
    probe += "for argv in (['train', '--help'], ['plugins', 'mlflow'], ['plugins', 'wandb']):\n"
    probe += "    try: main(argv)\n    except SystemExit: pass\n"
    probe += "print('LOADED:', sorted(m for m in ('mlflow', 'wandb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=workdir).stdout
    assert "LOADED: []" in out and "--mlflow-uri" in out and "--wandb-project" in out, out
