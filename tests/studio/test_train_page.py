"""The Train page as a person uses it: a tiny run started from the form, stopped with Stop (Ctrl-C's clean save) and
continued with ``ganstudio train --resume``; a bad option is the CLI's one line; a POST without the token header
starts nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import make_idx_dataset

from studio.conftest import GANSTUDIO, studio_env

TINY = {"width": "8", "latent_dim": "16"}
SCREENSHOTS = "GANSTUDIO_SCREENSHOTS"  # a folder: the test of the page saves train.png there


@pytest.fixture
def train_root(tmp_path) -> Path:
    """A studio folder whose data ($GANSTUDIO_DATA, studio_env) holds a tiny Fashion-MNIST: fashion finds it there."""
    (tmp_path / "config").mkdir()
    make_idx_dataset(tmp_path / "data" / "fashion")
    return tmp_path


def post(studio, path: str, body: dict, token: bool = True) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Ganstudio-Token"] = studio.token
    request = urllib.request.Request(studio.base + path, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text.startswith("{") else {"text": text}


def cli_error(root: Path, *args: str) -> str:
    """The one line ``ganstudio train ARGS`` prints for a bad option (without its "error: ")."""
    done = subprocess.run(
        [*GANSTUDIO, "train", *args], cwd=root, env=studio_env(root), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    return done.stderr.strip().splitlines()[-1].removeprefix("error: ")


def wait_for(browser, condition, timeout: float = 90):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the list of trainings is redrawn every second: an element found just before may be gone, so look again
    wait = WebDriverWait(browser, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(lambda b: condition(b))


def click(browser, selector: str) -> None:
    from selenium.webdriver.common.by import By

    wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, selector).click() or True)


def fill_form(browser, model: str, options: dict, name: str, steps: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "train-data")).select_by_value("fashion")
    Select(browser.find_element(By.ID, "train-model")).select_by_value(model)
    # changing the model re-renders its declared options (JSON from /train/options)
    wait_for(browser, lambda b: b.find_element(By.ID, "train-options-model").text == model)
    for key, value in options.items():
        field = wait_for(browser, lambda b, key=key: b.find_element(By.CSS_SELECTOR, f'[data-option="{key}"]'))
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "train-name").send_keys(name)
    browser.find_element(By.ID, "train-steps").send_keys(steps)


def row_state(browser, name: str) -> str:
    from selenium.webdriver.common.by import By

    for row in browser.find_elements(By.CSS_SELECTOR, "tr.train-process"):
        if row.get_attribute("data-name") == name:
            return row.find_element(By.CSS_SELECTOR, ".train-state").text
    return ""


@pytest.mark.slow  # about 11 s: a real training started and stopped from the page (make test-all)
def test_start_and_stop_from_the_page(train_root, start_studio, browser):
    from selenium.webdriver.common.by import By

    studio = start_studio(train_root)
    browser.get(studio.url.replace("/?token=", "/train?token="))
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-option="embed_dim"]'))  # fashion's: cdcgan
    fill_form(browser, "dcgan", TINY, "page-run", "100000")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-option="embed_dim"]')  # dcgan has none
    command = browser.find_element(By.ID, "train-command").text
    assert "--name page-run --model-option latent_dim=16 --model-option width=8 --steps 100000" in command
    browser.find_element(By.ID, "train-start").click()
    wait_for(browser, lambda b: row_state(b, "page-run") == "running")
    link = 'tr.train-process a[href="/runs/page-run"]'
    assert wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, link).text) == "page-run"
    wait_for(browser, lambda b: "step" in b.find_element(By.CSS_SELECTOR, "tr.train-process .train-latest").text)
    if os.environ.get(SCREENSHOTS):  # docs/studio/train.png: GANSTUDIO_SCREENSHOTS=docs/studio
        browser.save_screenshot(str(Path(os.environ[SCREENSHOTS]) / "train.png"))
    click(browser, "button.train-stop")
    wait_for(browser, lambda b: row_state(b, "page-run") == "stopped", timeout=60)
    latest = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "tr.train-process .train-latest").text)
    assert re.fullmatch(r"saved .*last\.pt at step \d+ \(interrupted\)", latest), latest
    assert (train_root / "checkpoints" / "page-run" / "last.pt").is_file()
    wait_for(browser, lambda b: "page-run" in b.find_element(By.ID, "resume-name").text)  # it can be continued


@pytest.mark.slow
def test_a_run_stopped_from_the_page_resumes_where_it_stopped(train_root, start_studio):
    studio = start_studio(train_root)
    body = {"data": "fashion", "model": "dcgan", "options": TINY, "name": "page-run", "steps": "100000"}
    status, started = post(studio, "/train/start", body)
    assert status == 200 and started["state"] == "running" and started["url"] == "/runs/page-run", started
    time.sleep(1)  # a few steps
    assert post(studio, "/train/stop", {"name": "page-run"})[1]["state"] == "stopping"
    deadline = time.monotonic() + 60
    while (listed := json.loads(studio.get("/train/processes")[1])["trainings"][0])["state"] == "stopping":
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)
    assert listed["state"] == "stopped" and listed["exit_code"] == 130, listed
    step = int(re.fullmatch(r"saved .*last\.pt at step (\d+) \(interrupted\)", listed["latest"]).group(1))
    done = subprocess.run(
        [*GANSTUDIO, "train", "--name", "page-run", "--resume", "--steps", str(step + 2), "--checkpoints-dir",
         str(train_root / "checkpoints"), "--samples-dir", str(train_root / "samples")],
        cwd=train_root, env=studio_env(train_root), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming at step {step:,}" in done.stdout
    assert f"run 'page-run': step {step + 2:,}" in done.stdout


@pytest.mark.slow
def test_a_bad_option_is_the_cli_line(train_root, start_studio, browser):
    from selenium.webdriver.common.by import By

    studio = start_studio(train_root)
    browser.get(studio.url.replace("/?token=", "/train?token="))
    fill_form(browser, "dcgan", {"width": "abc"}, "bad-run", "5")
    browser.find_element(By.ID, "train-start").click()
    problem = wait_for(browser, lambda b: b.find_element(By.ID, "train-problem").text)
    expected = cli_error(train_root, "--data", "fashion", "--model", "dcgan", "--model-option", "width=abc")
    assert problem == expected == "model 'dcgan' option width (integer): expected a whole number, got 'abc'"
    # a budget train's own argparse refuses: the line of the process that exited at once
    status, answer = post(studio, "/train/start", {"data": "fashion", "model": "dcgan", "steps": "0"})
    assert status == 400
    assert answer["error"] == cli_error(train_root, "--data", "fashion", "--steps", "0")
    assert not (train_root / "checkpoints").exists()  # nothing started, nothing written
    assert json.loads(studio.get("/train/processes")[1])["trainings"] == []


def test_a_post_without_the_token_header_starts_nothing(train_root, start_studio):
    studio = start_studio(train_root)
    body = {"data": "fashion", "model": "dcgan", "options": TINY, "steps": "5", "name": "sneaky"}
    status, answer = post(studio, "/train/start", body, token=False)
    assert status == 403 and "X-Ganstudio-Token" in answer["text"]
    assert post(studio, f"/train/start?token={studio.token}", body, token=False)[0] == 403  # the URL's token: no
    assert post(studio, "/train/resume", {"name": "sneaky"}, token=False)[0] == 403
    assert post(studio, "/train/stop", {"name": "sneaky"}, token=False)[0] == 403
    time.sleep(0.5)
    assert not (train_root / "checkpoints").exists()
    assert json.loads(studio.get("/train/processes")[1])["trainings"] == []
    assert post(studio, "/train/stop", {"name": "sneaky"}) == (
        409, {"error": "run 'sneaky' is not training from this page: nothing to stop"}
    )  # fmt: skip
    assert post(studio, "/train/start", {**body, "name": "../x"})[1]["error"].startswith("run name '../x' is not")


def test_options_follow_the_model_and_the_data(train_root, start_studio):
    studio = start_studio(train_root)
    status, text = studio.get("/train/options?data=fashion-mini&model=cdcgan")
    fields = {f["name"]: f for f in json.loads(text)["options"]}
    assert status == 200 and fields["hinge"]["default"] == "false" and fields["hinge"]["dataset_default"]
    assert fields["width"]["default"] == "32" and fields["width"]["help"].startswith("width (integer, default 32)")
    fields = {f["name"]: f for f in json.loads(studio.get("/train/options?data=fashion&model=cdcgan")[1])["options"]}
    assert fields["hinge"]["default"] == "true" and not fields["hinge"]["dataset_default"]
    status, text = studio.get("/train/options?data=fashion&model=nope")
    assert status == 400 and json.loads(text)["error"].startswith("unknown model 'nope'.")


def test_hostile_run_folders_leave_the_page_whole(train_root, start_studio):
    runs = train_root / "checkpoints"
    for name in ("truncated", "<script>alert(1)</script>"):
        (runs / name).mkdir(parents=True)
        (runs / name / "last.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
        (runs / name / "metrics.jsonl").write_text('{"step": 1, "loss_d": \n garbage\n')
    studio = start_studio(train_root)
    status, page = studio.get("/train")
    assert status == 200 and '<option value="truncated">truncated</option>' in page
    assert "<script>alert" not in page and "&lt;script&gt;" not in page  # not a run name: not listed at all
    assert json.loads(studio.get("/train/processes")[1])["resumable"] == ["truncated"]


def test_at_most_two_trainings_at_once(train_root, monkeypatch):
    from starlette.testclient import TestClient

    from ganstudio.plugins import load_plugins
    from ganstudio.studio import launch
    from ganstudio.studio.app import Studio, create_app
    from ganstudio.studio.launch_procs import Training

    monkeypatch.setenv("GANSTUDIO_CACHE", str(train_root / "cache"))
    studio = Studio(train_root / "checkpoints", train_root / "samples", load_plugins(entry_points=False), "tok")
    client = TestClient(create_app(studio), base_url="http://127.0.0.1")
    for name in ("a", "b"):  # real processes standing in for two long trainings
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        launch.trainings(studio).append(Training(name, ["sleep"], process, train_root / f"{name}.log", False, {}))
    try:
        body = {"data": "fashion", "model": "dcgan", "steps": "5"}
        answer = client.post("/train/start", json=body, headers={"X-Ganstudio-Token": "tok"})
        assert answer.status_code == 409
        assert answer.json()["error"].startswith("2 trainings started here are running (a, b); at most 2 at once")
        assert (
            client.post("/train/stop", json={"name": "a"}, headers={"X-Ganstudio-Token": "tok"}).json()["state"]
            == "stopping"
        )
    finally:
        for training in launch.trainings(studio):
            training.process.kill()
            training.process.wait()
    assert len(launch.trainings(studio)) == 2 and not (train_root / "checkpoints").exists()
