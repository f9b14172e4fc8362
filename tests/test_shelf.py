"""`ganstudio runs` (every run in one table, without loading weights) and `ganstudio report` (self-contained HTML
pages for a run and for a comparison), on tiny runs; the page is rendered in headless Chromium by a slow test."""

import base64
import json
import re
import shutil
import subprocess

import pytest
import torch

from ganstudio.output.report import matching_steps
from ganstudio.store.checkpoint import load_checkpoint

TINY = (
    "--model",
    "dcgan",
    "--model-option",
    "width=8",
    "--model-option",
    "latent_dim=8",
    "--batch-size",
    "32",
    "--log-every",
    "2",
)


def train(cli, tiny_idx, *extra):
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)
    assert code == 0, err
    return out


@pytest.fixture
def three_runs(cli, tiny_idx, workdir, one_torch_thread):
    """dcgan (finished, scored by ganstudio eval), cdcgan (finished), an interrupted-looking one, a corrupt one."""
    train(
        cli,
        tiny_idx,
        "--steps",
        "6",
        "--name",
        "plain",
        "--grid-every",
        "2",
        "--callbacks",
        "log,grid,gif,curves",
        "--ema-decay",
        "0.999",
    )
    train(
        cli,
        tiny_idx,
        "--steps",
        "4",
        "--name",
        "cond",
        "--model",
        "cdcgan",
        "--grid-every",
        "2",
        "--augment",
        "on",
        "--callbacks",
        "log,grid,curves",
    )
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "classifier",
        "--model-option",
        "width=8",
        "--batch-size",
        "32",
        "--steps",
        "4",
        "--callbacks",
        "log",
    )
    assert code == 0, err
    code, out, err = cli("eval", "plain", "--n", "64", "--json", "--data-root", tiny_idx)
    assert code == 0, err
    train(cli, tiny_idx, "--steps", "2", "--name", "stopped", "--callbacks", "log")
    ckpt = load_checkpoint("checkpoints/stopped/last.pt")
    ckpt["progress"]["finished"] = False  # as a Ctrl-C leaves it
    torch.save(ckpt, "checkpoints/stopped/last.pt")
    (workdir / "checkpoints/broken").mkdir()
    (workdir / "checkpoints/broken/last.pt").write_bytes(b"not a checkpoint at all")
    return workdir


def test_runs_lists_every_run_with_scores_status_and_problems(cli, three_runs):
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    runs = {r["name"]: r for r in json.loads(out)}
    assert set(runs) == {"plain", "cond", "stopped", "broken", "fashion-classifier"}
    plain = runs["plain"]
    assert (
        plain["status"] == "finished"
        and plain["steps"] == 6
        and plain["model"] == "dcgan"
        and plain["data"] == "fashion"
    )
    assert plain["options"] == {
        "width": "8",
        "latent_dim": "8",
        "batch_size": 32,
        "ema_decay": 0.999,
    }  # not train's defaults
    assert plain["images_per_s"] > 0 and plain["elapsed_s"] > 0 and plain["epochs"] == pytest.approx(6 * 32 / 256)
    assert plain["device"] == "cpu" and plain["precision"] in ("fp32", "bf16") and plain["world_size"] == 1
    assert plain["latest_eval"]["fid"] > 0 and plain["floor_fid"] is not None and plain["best_eval"]["step"] == 6
    assert runs["cond"]["options"]["augment"] == "on" and runs["cond"]["condition"] == "class"
    assert runs["stopped"]["status"] == "interrupted"
    assert runs["broken"]["status"] == "unreadable" and "not a readable checkpoint" in runs["broken"]["problem"]

    code, out, err = cli("runs", "--sort", "fid", "--json")
    assert [r["name"] for r in json.loads(out)][0] == "plain"  # the only scored run first
    code, out, err = cli("runs")
    assert code == 0 and "plain" in out and "broken" in out and "unreadable" in out  # the problem itself: in --json
    assert "Traceback" not in out + err


def test_runs_shows_a_diverged_run_and_a_running_one(cli, tiny_idx, workdir, one_torch_thread):
    train(cli, tiny_idx, "--steps", "2", "--name", "boom", "--callbacks", "log")
    with open("checkpoints/boom/metrics.jsonl", "a") as f:  # what the log callback writes when training diverges
        f.write(
            json.dumps({"step": 3, "event": "error", "diverged": True, "error": "training diverged: loss_d=nan"}) + "\n"
        )
    from ganstudio.store.runs import RunLock

    train(cli, tiny_idx, "--steps", "2", "--name", "busy", "--callbacks", "log")
    lock = RunLock(workdir / "checkpoints/busy", "busy").acquire()
    try:
        code, out, err = cli("runs", "--json")
    finally:
        lock.release()
    runs = {r["name"]: r for r in json.loads(out)}
    assert runs["boom"]["status"] == "diverged" and runs["boom"]["error"] == "training diverged: loss_d=nan"
    assert runs["busy"]["status"] == "running"


def test_the_log_records_how_a_run_failed(cli, tiny_idx, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/fail.py").write_text(
        "from ganstudio import hookimpl\n\n@hookimpl\ndef after_training_step(run, step):\n"
        "    if step == 3:\n        raise RuntimeError('disk on fire')\n"
    )
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "6", "--callbacks", "log"
    )
    assert code != 0
    code, out, err = cli("runs", "--json")
    run = json.loads(out)[0]
    assert run["status"] == "failed" and "disk on fire" in run["error"]


def test_runs_without_a_folder_is_one_line(cli, workdir):
    code, out, err = cli("runs", "--checkpoints-dir", "nowhere")
    assert code == 2 and "no folder nowhere/" in err and err.count("\n") == 1


def embedded_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/(?:png|gif);base64,([^"]+)"', page)]


def test_report_of_one_run_is_self_contained(cli, three_runs):
    code, out, err = cli("report", "plain")
    assert code == 0, err
    page = (three_runs / "samples/plain/report.html").read_text()
    assert "http://" not in page and "https://" not in page and 'src="data:' in page  # nothing to fetch
    images = embedded_images(page)
    assert len(images) == 3  # the final 12x12 grid, the timeline GIF, the curves
    assert images[0][:8] == b"\x89PNG\r\n\x1a\n" and images[1][:6] == b"GIF89a"
    for expected in (
        "plain",
        "finished",
        "dcgan",
        "6 steps",
        "FD",
        "floor",
        "ganstudio train --data fashion --model dcgan",
        "--ema-decay 0.999 --steps 6 --name plain",
        "&quot;ema_decay&quot;: 0.999",
        "seeds 0-143, averaged (EMA) generator",
    ):
        assert expected in page, expected


def test_report_of_a_conditional_run_has_a_row_per_class(cli, three_runs):
    code, out, err = cli("report", "cond", "--out", "cond.html")
    assert code == 0, err
    page = (three_runs / "cond.html").read_text()
    assert "10 classes x 10" in page and "No evaluation yet" in page and "--augment on" in page


def test_comparison_page_puts_runs_side_by_side(cli, three_runs):
    code, out, err = cli("report", "plain", "cond", "stopped")
    assert code == 0, err
    page = (three_runs / "samples/compare-plain-cond-stopped.html").read_text()
    images = embedded_images(page)
    # 3 fresh grids + the grids at the steps all three share (2: "stopped" has grids at steps 0 and 2 only...)
    assert "3 runs compared" in page and page.count("<tr>") == 4 and "interrupted" in page
    assert "<h3>step 2</h3>" in page or "no grid at a common step" in page
    assert len(images) >= 4  # the grids and the overlaid curves


def test_matching_steps_skips_the_untrained_grid_and_spreads():
    files = [{0: 1, 100: 1, 200: 1, 300: 1, 400: 1, 500: 1}, {0: 1, 100: 1, 200: 1, 300: 1, 400: 1, 500: 1, 600: 1}]
    assert matching_steps(files, most=3) == [100, 300, 500]
    assert matching_steps([{0: 1}, {0: 1}]) == [0]
    assert matching_steps([{0: 1, 5: 1}, {0: 1, 7: 1}]) == [0]


def test_report_errors_are_one_line(cli, three_runs):
    code, out, err = cli("report", "nope")
    assert code == 2 and "no run 'nope'" in err and err.count("\n") == 1
    code, out, err = cli("report", "broken")
    assert code == 2 and "not a readable checkpoint" in err and err.count("\n") == 1
    code, out, err = cli("report", "plain", "--out", "page.txt")
    assert code == 2 and "an .html file" in err


@pytest.mark.slow
def test_comparison_page_renders_in_headless_chromium(cli, three_runs, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("needs Debian's chromium package: apt-get install chromium")
    assert cli("report", "plain", "cond", "stopped", "--out", "compare.html")[0] == 0
    url = (three_runs / "compare.html").resolve().as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    images, broken = (
        int(re.search(r'data-images="(\d+)"', body).group(1)),
        int(re.search(r'data-broken="(\d+)"', body).group(1)),
    )
    assert images >= 4 and broken == 0
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,1600", f"--screenshot={shot}", url], capture_output=True, timeout=120
    )
    import imageio.v3 as iio

    pixels = iio.imread(shot)
    assert pixels.shape[:2] == (1600, 1280) and pixels.std() > 20  # not blank: text, tables and grids on the page


def test_a_tampered_grid_index_cannot_pull_other_files_into_a_page(tmp_path):
    from ganstudio.output.report import grid_files

    (tmp_path / "secret.png").write_bytes(b"not yours")
    run = tmp_path / "run"
    run.mkdir()
    (run / "step_000002.png").write_bytes(b"png")
    (run / "link.png").symlink_to(tmp_path / "secret.png")
    lines = [
        {"file": "step_000002.png", "step": 2},
        {"file": "../secret.png", "step": 4},
        {"file": "/etc/passwd", "step": 6},
        {"file": "link.png", "step": 8},
        {"file": "notes.txt", "step": 10},
    ]
    (run / "grids.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert grid_files(run) == {2: run / "step_000002.png"}
