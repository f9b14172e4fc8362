"""The runs pages as a person uses them, in headless Chromium: the table of runs (sorted by a click, updating by
itself), a run's live page (its step advancing while it trains, the timeline of grids), runs compared, a hostile run
folder shown as its one-line problem, and a run name that is not one answered with one line."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch
from conftest import make_idx_dataset
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.store.runs import RunLock
from studio.conftest import GANSTUDIO, TINY_DCGAN, RunningStudio, read_url, studio_env

MARKER = "window.__notReloaded = 'still here'"


@pytest.fixture(scope="module")
def studio(studio_runs):
    """One ``ganstudio studio`` over the two finished runs for the tests that only read them."""
    command = [*GANSTUDIO, "studio", "--checkpoints-dir", str(studio_runs / "checkpoints")]
    command += ["--samples-dir", str(studio_runs / "samples")]
    process = subprocess.Popen(
        command, cwd=studio_runs, env=studio_env(studio_runs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = read_url(process)
    yield RunningStudio(process, url, *url.split("/?token="))
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def page(browser, start_studio):
    """The browser, sent to a blank page after the test: its event streams close, so the studio stops at once."""
    yield browser
    browser.get("about:blank")


def wait_for(browser, condition, timeout: float = 20):
    return WebDriverWait(browser, timeout).until(lambda driver: condition(driver))


def rows(browser) -> list[str]:
    """The run names of the table, in its order (read at once: the table is redrawn when a run changes)."""
    return js(browser, "return Array.from(document.querySelectorAll('#runs tbody tr')).map(tr => tr.dataset.name)")


def row_texts(browser) -> dict:
    script = "return Array.from(document.querySelectorAll('#runs tbody tr')).map(tr => [tr.dataset.name, tr.innerText])"
    return dict(js(browser, script))


def live_table(browser, count: int):
    """Wait for the runs table to list ``count`` runs after its first update from the stream."""
    wait_for(
        browser, lambda b: js(b, "return document.getElementById('runs').dataset.updates") and len(rows(b)) == count
    )


def js(browser, script: str):
    return browser.execute_script(script)


def test_runs_page_lists_sorts_and_compares_the_runs(studio, page):
    page.get(studio.url)  # the printed URL: / redirects to /runs and the token becomes a cookie
    live_table(page, 2)
    assert set(rows(page)) == {"tiny-dcgan", "tiny-cdcgan"}
    link = page.find_element(By.LINK_TEXT, "tiny-dcgan")
    assert link.get_attribute("href") == f"{studio.base}/runs/tiny-dcgan"
    assert "finished" in page.find_element(By.CSS_SELECTOR, "#runs tbody").text
    head = page.find_element(By.CSS_SELECTOR, 'th[data-key="name"]')
    head.click()
    assert rows(page) == ["tiny-cdcgan", "tiny-dcgan"]
    head.click()
    assert rows(page) == ["tiny-dcgan", "tiny-cdcgan"]
    for box in page.find_elements(By.CSS_SELECTOR, "#runs tbody input[type=checkbox]"):
        box.click()
    page.find_element(By.ID, "compare").click()
    wait_for(page, lambda b: "/compare?" in b.current_url)
    assert b_query(page.current_url) == ["tiny-dcgan", "tiny-cdcgan"]
    assert len(page.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")) == 2
    loaded = "return Array.from(document.querySelectorAll('img.compare-grid')).map(i => i.naturalWidth)"
    wait_for(page, lambda b: all(js(b, loaded)) and len(js(b, loaded)) == 2)
    shared = json.loads(page.find_element(By.ID, "compare-data").get_attribute("textContent"))["shared"]
    assert shared == [0, 2, 4, 6]  # --grid-every 2 over 6 steps, both runs
    js(page, "const s = document.getElementById('shared-step'); s.value = 0; s.dispatchEvent(new Event('input'))")
    sources = js(page, "return Array.from(document.querySelectorAll('img.compare-grid')).map(i => i.src)")
    assert [s.rsplit("/", 3)[1:] for s in sources] == [
        ["tiny-dcgan", "grid", "0.png"],
        ["tiny-cdcgan", "grid", "0.png"],
    ]
    wait_for(page, lambda b: b.find_elements(By.CSS_SELECTOR, "#charts .chart canvas"))


def b_query(url: str) -> list[str]:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(url).query)["run"]


def test_a_run_page_scrubs_the_timeline_of_grids(studio, page):
    page.get(studio.url)
    page.get(f"{studio.base}/runs/tiny-dcgan")
    grid = page.find_element(By.ID, "grid")
    wait_for(page, lambda b: grid.get_attribute("src").endswith("/runs/tiny-dcgan/grid/6.png"))
    assert page.find_element(By.ID, "step").text == "6" and "6 / 6" in page.find_element(By.CSS_SELECTOR, ".big").text
    newest = wait_for(page, lambda b: js(b, "return document.getElementById('grid').naturalWidth"))
    js(page, "const s = document.getElementById('timeline'); s.value = 0; s.dispatchEvent(new Event('input'))")
    assert grid.get_attribute("src").endswith("/grid/0.png")
    assert page.find_element(By.ID, "grid-step").text == "0"
    wait_for(page, lambda b: js(b, "const g = document.getElementById('grid'); return g.complete && g.naturalWidth"))
    assert js(page, "return document.getElementById('grid').naturalWidth") == newest
    titles = wait_for(
        page, lambda b: [c.get_attribute("data-chart") for c in b.find_elements(By.CSS_SELECTOR, ".chart")]
    )
    assert "losses" in titles and "images/s" in titles
    assert studio.get("/runs/tiny-dcgan/grid/5.png")[0] == 404  # no grid at that step: one line
    status, body = studio.get("/runs/tiny-dcgan/grid/2.png")
    assert status == 200 and body.startswith("\ufffdPNG")


NOT_RUNS = (
    "/runs/bad%20name",
    "/runs/.hidden",
    "/runs/-x",
    "/runs/nope",
    "/runs/%3Cscript%3E",
    "/runs/bad%20name/events",
    "/runs/bad%20name/grid/0.png",
    "/runs/nope/metrics",
    "/compare?run=tiny-dcgan&run=..",
    "/compare",
)


def test_a_name_that_is_not_a_run_is_one_line_not_a_traceback(studio):
    for path in NOT_RUNS:
        status, body = studio.get(path)
        assert status in (400, 404), (path, body)
        assert len(body.strip().splitlines()) == 1 and "Traceback" not in body, (path, body)
        assert json.loads(body)["error"], path
    assert "not a plain name" in json.loads(studio.get("/runs/bad%20name")[1])["error"]
    assert studio.process.poll() is None


def hostile_runs(studio_runs, root):
    """Copies of tiny-dcgan made hostile: garbage in metrics.jsonl, a truncated last.pt, markup in its config, a
    grid index naming a file outside the run, and a folder whose name is markup (not a run name)."""
    make_idx_dataset(root / "data" / "tiny-idx", n_train=32, n_test=16)
    for name in ("garbage-metrics", "truncated", "markup", "bad-grids", "<b>bold"):
        shutil.copytree(studio_runs / "checkpoints" / "tiny-dcgan", root / "checkpoints" / name)
        shutil.copytree(studio_runs / "samples" / "tiny-dcgan", root / "samples" / name)
    metrics = root / "checkpoints/garbage-metrics/metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "}{ not json", *lines[1:]]) + "\n")
    last = root / "checkpoints/truncated/last.pt"
    last.write_bytes(last.read_bytes()[:300])
    ckpt = load_checkpoint(root / "checkpoints/markup/last.pt")
    ckpt["config"]["data"]["name"] = "<script>window.pwned = 1</script>"
    torch.save(ckpt, root / "checkpoints/markup/last.pt")
    (root / "samples/bad-grids/grids.jsonl").write_text('{"file": "../tiny-dcgan/step_000002.png", "step": 3}\n')


def test_a_hostile_run_folder_is_a_row_with_its_problem(studio_runs, start_studio, page, tmp_path):
    hostile_runs(studio_runs, tmp_path)
    studio = start_studio(tmp_path)
    status, body = studio.get("/runs")
    assert status == 200 and "<script>window.pwned" not in body and "&lt;b&gt;bold" in body
    page.get(studio.url)
    live_table(page, 5)
    row = row_texts(page)
    assert "unreadable" in row["truncated"] and "last.pt" in row["truncated"]
    assert "metrics.jsonl:2 is not a JSON object" in row["garbage-metrics"]
    assert "<script>window.pwned = 1</script>" in row["markup"]  # shown as text, not run
    assert "<b>bold" in row["<b>bold"] and not page.find_elements(By.LINK_TEXT, "<b>bold")
    assert js(page, "return window.pwned") is None
    for name, problem in (("truncated", "last.pt"), ("garbage-metrics", "metrics.jsonl:2"), ("bad-grids", "")):
        assert studio.get(f"/runs/{name}")[0] == 200
        page.get(f"{studio.base}/runs/{name}")
        assert problem in page.find_element(By.ID, "problem" if problem else "run-name").text
    status, body = studio.get("/runs/bad-grids/grid/3.png")
    assert status == 404 and "not a plain file name" in json.loads(body)["error"]
    page.get(f"{studio.base}/runs/markup")
    assert "<script>" in page.find_element(By.ID, "what").text and js(page, "return window.pwned") is None


def start_training(root, name: str, steps: int) -> subprocess.Popen:
    """A tiny `ganstudio train` in the background, logging every step (stopped by the caller)."""
    command = [
        *GANSTUDIO,
        "train",
        "--data",
        "fashion",
        "--data-root",
        str(root / "data" / "tiny-idx"),
        "--name",
        name,
        *TINY_DCGAN,
        "--batch-size",
        "16",
        "--log-every",
        "1",
        "--grid-every",
        "25",
        "--steps",
        str(steps),
        "--callbacks",
        "log,grid",
    ]
    return subprocess.Popen(command, cwd=root, env=studio_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def record(step: int) -> str:
    values = {"loss_d": 1.0 / step, "loss_g": 2.0 + step / 100, "images_per_s": 320.0, "steps_per_s": 10.0}
    return json.dumps({"step": step, "epoch": step / 8, "elapsed_s": step / 10, **values}) + "\n"


def test_the_pages_follow_a_run_without_a_reload(studio_runs, start_studio, page, tmp_path):
    """A run that trains (its lock held, records appended) and then fails: both pages follow it by themselves."""
    for folder in ("checkpoints", "samples"):
        shutil.copytree(studio_runs / folder / "tiny-dcgan", tmp_path / folder / "busy")
    run_dir = tmp_path / "checkpoints" / "busy"
    studio = start_studio(tmp_path)
    lock = RunLock(run_dir, "busy").acquire()
    try:
        page.get(studio.url)
        live_table(page, 1)
        assert "running" in row_texts(page)["busy"]
        page.get(f"{studio.base}/runs/busy")
        js(page, MARKER)
        wait_for(page, lambda b: b.find_element(By.ID, "status").text == "running")
        points = (
            "return document.querySelector('.chart[data-chart=\"losses\"]') && "
            "document.querySelectorAll('.chart[data-chart=\"losses\"] .u-legend').length"
        )
        wait_for(page, lambda b: js(b, points))
        for step in (7, 8, 9):
            with open(run_dir / "metrics.jsonl", "a") as metrics:
                metrics.write(record(step))
            wait_for(page, lambda b, shown=str(step): b.find_element(By.ID, "step").text == shown, timeout=10)
        assert page.find_element(By.ID, "speed").text == "320"
    finally:
        lock.release()
    with open(run_dir / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps({"step": 9, "event": "error", "diverged": False, "error": "boom"}) + "\n")
    wait_for(page, lambda b: b.find_element(By.ID, "status").text == "failed: boom", timeout=10)
    assert js(page, "return window.__notReloaded") == "still here"


@pytest.mark.slow
def test_a_run_in_training_advances_without_a_reload(start_studio, page, tmp_path):
    make_idx_dataset(tmp_path / "data" / "tiny-idx", n_train=64, n_test=16)
    (tmp_path / "checkpoints").mkdir()
    studio = start_studio(tmp_path)
    page.get(studio.url)
    wait_for(page, lambda b: b.find_element(By.ID, "no-runs").is_displayed())
    js(page, MARKER)
    training = start_training(tmp_path, "live", steps=100_000)
    try:
        wait_for(page, lambda b: rows(b) == ["live"], timeout=60)  # the table took the new run in by itself
        assert js(page, "return window.__notReloaded") == "still here"
        page.find_element(By.LINK_TEXT, "live").click()
        wait_for(page, lambda b: b.find_element(By.ID, "status").text == "running")
        js(page, MARKER)
        step = lambda b: int(b.find_element(By.ID, "step").text.replace(",", ""))  # noqa: E731
        first = step(page)
        wait_for(page, lambda b: step(b) > first, timeout=30)
        assert js(page, "return window.__notReloaded") == "still here"
        wait_for(page, lambda b: b.find_element(By.ID, "of-target").text == "/ 100,000")  # once last.pt is saved
        wait_for(page, lambda b: b.find_element(By.ID, "eta").text != "-")
        wait_for(page, lambda b: b.find_elements(By.CSS_SELECTOR, '.chart[data-chart="losses"] canvas'))
    finally:
        training.terminate()
        training.wait(timeout=60)
