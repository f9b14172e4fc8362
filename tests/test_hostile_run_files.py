"""A hostile run folder (a shared disk, a mailed checkpoint) cannot leak a file into a report page, break a listing,
or drive the terminal: every embedded file is checked, every value validated, every string printed inertly."""

import base64
import io
import json
import math
import os
import shutil

import pytest
import torch
from conftest import make_idx_dataset

from ganstudio.store.checkpoint import load_checkpoint

SECRET = b"root:x:0:0:top secret line from /etc/passwd"
TRAIN = [
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
    "--steps",
    "4",
    "--grid-every",
    "2",
    "--callbacks",
    "log,grid,gif,curves",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run 'R' with its curves, timeline and grids, trained once for the module."""
    from ganstudio.cli import main

    root = tmp_path_factory.mktemp("hostile")
    data = make_idx_dataset(root / "tiny", n_train=128, n_test=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        assert main(["train", "--data", "fashion", "--data-root", str(data), *TRAIN, "--name", "R"]) == 0
    torch.set_num_threads(threads)
    return root


@pytest.fixture
def run(trained, workdir):
    shutil.copytree(trained / "checkpoints", workdir / "checkpoints")
    shutil.copytree(trained / "samples", workdir / "samples")
    return workdir


def copy_run(workdir, name, source="R"):
    shutil.copytree(workdir / "checkpoints" / source, workdir / "checkpoints" / name)
    shutil.copytree(workdir / "samples" / source, workdir / "samples" / name)


def edit_checkpoint(path, edit):
    ckpt = load_checkpoint(path)
    edit(ckpt)
    torch.save(ckpt, path)


def leaked(page: str, secret: bytes = SECRET) -> bool:
    """Whether the secret is in the page, base64-encoded at any alignment."""
    for shift in range(3):  # the secret follows a signature of any length: try each alignment
        if base64.b64encode(b"\0" * shift + secret).decode()[4:-4] in page:
            return True
    return secret.decode() in page


def secret_file(workdir, signature: bytes):
    path = workdir / "elsewhere" / "secret"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(signature + SECRET)
    return path


# Item 2: no file leaks into a page.


@pytest.mark.parametrize("name, signature", [("curves.png", b"\x89PNG\r\n\x1a\n"), ("timeline.gif", b"GIF89a")])
def test_a_symlinked_image_is_not_embedded(cli, run, name, signature):
    target = run / "samples/R" / name
    target.unlink()
    target.symlink_to(secret_file(run, signature))
    code, out, err = cli("report", "R")
    assert code == 0, err
    page = (run / "samples/R/report.html").read_text()
    assert not leaked(page)
    assert f"{name} not embedded" in page and "a link" in page
    assert f"{name} not embedded" in err and err.count("\n") == 1


def test_a_file_that_is_not_a_png_is_not_embedded(cli, run):
    (run / "samples/R/curves.png").write_bytes(SECRET)
    code, out, err = cli("report", "R")
    assert code == 0, err
    page = (run / "samples/R/report.html").read_text()
    assert not leaked(page) and "curves.png not embedded" in page and "not a PNG" in page


def test_an_oversized_image_is_refused_before_it_is_read(cli, run, monkeypatch):
    from ganstudio import limits

    with open(run / "samples/R/curves.png", "r+b") as handle:
        handle.truncate(limits.EMBED_BYTES + 1)  # sparse: the size is checked, the bytes are never read
    monkeypatch.setattr(limits, "EMBED_BYTES", 40_000)  # the GIF (some KB) still fits
    (run / "samples/R/timeline.gif").write_bytes(b"GIF89a" + SECRET + b"\0" * 50_000)
    code, out, err = cli("report", "R")
    assert code == 0, err
    page = (run / "samples/R/report.html").read_text()
    assert len(page) < 200_000 and not leaked(page)
    assert "curves.png not embedded" in page and "timeline.gif not embedded" in page and "the most is 40,000" in page


def test_a_symlinked_run_folder_is_not_embedded(cli, run):
    copy_run(run, "S")
    outside = run / "elsewhere/S"
    shutil.move(run / "samples/S", outside)
    (outside / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET)
    (run / "samples/S").symlink_to(outside)
    code, out, err = cli("report", "S", "--out", "s.html")
    assert code == 0, err
    page = (run / "s.html").read_text()
    assert not leaked(page) and "curves.png not embedded" in page


@pytest.mark.parametrize("how", ["text", "folder-link"])
def test_a_grid_that_is_not_a_png_or_lies_outside_is_not_embedded_in_a_comparison(cli, run, how):
    copy_run(run, "S")
    if how == "text":
        (run / "samples/S/step_000002.png").write_bytes(SECRET)
    else:
        outside = run / "elsewhere/S"
        shutil.move(run / "samples/S", outside)
        (outside / "step_000002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET)
        (run / "samples/S").symlink_to(outside)
    code, out, err = cli("report", "R", "S", "--out", "c.html")
    assert code == 0, err
    page = (run / "c.html").read_text()
    assert not leaked(page) and "step_000002.png not embedded" in page
    assert "not embedded" in err and err.count("\n") == 1


def test_the_reader_refuses_links_fifos_traversal_and_wrong_types(tmp_path):
    from ganstudio.errors import GanstudioError
    from ganstudio.store.rundir import read_embedded_image

    folder = tmp_path / "run"
    folder.mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"pixels"
    (folder / "ok.png").write_bytes(png)
    (tmp_path / "outside.png").write_bytes(png)
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    os.mkfifo(folder / "pipe.png")
    assert read_embedded_image(folder, "ok.png", "png") == png
    assert read_embedded_image(folder, "missing.png", "png") is None
    for name, kind, why in [
        ("link.png", "png", "a link"),
        ("pipe.png", "png", "not a regular file"),
        ("../outside.png", "png", "not a plain file name"),
        ("/etc/passwd", "png", "not a plain file name"),
        ("ok.png", "gif", "not a GIF"),
    ]:
        with pytest.raises(GanstudioError, match=why):
            read_embedded_image(folder, name, kind)


# Item 5 and item 9: one bad run never breaks a listing.


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_elapsed_time_is_a_problem_on_its_row(cli, run, bad):
    copy_run(run, "bad")
    edit_checkpoint(run / "checkpoints/bad/last.pt", lambda c: c["progress"].update(elapsed_s=bad))
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"R", "bad"} and rows["R"]["problem"] is None
    assert "elapsed_s" in rows["bad"]["problem"] and rows["bad"]["status"] == "finished"
    code, out, err = cli("runs")
    assert code == 0, err
    assert "elapsed_s" in out and " R " in out
    code, out, err = cli("report", "bad")
    assert code == 0, err
    assert "elapsed_s" in (run / "samples/bad/report.html").read_text()


def test_a_metrics_record_with_a_bad_step_is_skipped_and_counted(cli, run):
    with open(run / "checkpoints/R/metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"step": "x", "fid": 12.5}) + "\n" + json.dumps({"step": 4, "fid": 20.0}) + "\n")
    code, out, err = cli("report", "R")
    assert code == 0, err
    page = (run / "samples/R/report.html").read_text()
    assert "1 record" in page and "latest (step 4)" in page
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    assert "1 record" in json.loads(out)[0]["problem"]


def test_sort_by_fid_puts_nan_and_missing_last(cli, run):
    for name, fid in (("a", "5.0"), ("b", "NaN"), ("c", "3.0"), ("d", "Infinity")):
        copy_run(run, name)
        with open(run / f"checkpoints/{name}/metrics.jsonl", "a") as handle:
            handle.write('{"step": 4, "fid": %s}\n' % fid)  # Python's json reads NaN and Infinity
    code, out, err = cli("runs", "--sort", "fid", "--json")
    assert code == 0, err
    names = [r["name"] for r in json.loads(out)]
    assert names[:2] == ["c", "a"] and set(names[2:]) == {"b", "d", "R"}
    assert "NaN" not in out and "Infinity" not in out  # what is printed is JSON
    for key in ("time", "speed", "steps"):
        assert cli("runs", "--sort", key)[0] == 0


# Item 6: terminal output from run files is inert.

LINK = "[link=https://e.x]y[/link]"
NAME = "[link=https:e.x]y"  # a folder name cannot hold a slash; Rich links the rest of the line
ESCAPES = "\x1b]0;pwned\x07\x1b[2J"


@pytest.fixture
def marked(run):
    """A run folder named with markup; a model option, data name and error line with markup and escape codes."""
    copy_run(run, NAME)
    ckpt_path = run / "checkpoints" / NAME / "last.pt"
    edit_checkpoint(
        ckpt_path,
        lambda c: (
            c["config"]["model_options"].update(colour=LINK + "[red]hot[/red]" + ESCAPES),
            c["progress"].update(machine="[bold]box[/bold]" + ESCAPES),
        ),
    )
    with open(ckpt_path.parent / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"step": 4, "event": "error", "error": "[blink]boom[/blink]" + ESCAPES}) + "\n")
    return run


@pytest.mark.parametrize("terminal", [False, True])
def test_runs_prints_markup_literally_and_no_escape_codes(cli, marked, monkeypatch, terminal):
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell wraps
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # a Rich console that believes it is a terminal
    code, out, err = cli("runs")
    assert code == 0, err
    assert "\x1b]8" not in out and "\x1b]0;" not in out and "\x1b[2J" not in out and "\x07" not in out
    for literal in (NAME, LINK, "[red]hot[/red]", "[blink]boom[/blink]"):
        assert literal in out, literal


def test_a_report_error_listing_run_folders_has_no_escape_codes(cli, run):
    copy_run(run, "x" + ESCAPES)
    code, out, err = cli("report", "nope")
    assert code == 2 and "no run 'nope'" in err and err.count("\n") == 1
    assert "\x1b" not in err and "\x07" not in err and "x]0;pwned[2J" in err


def test_the_live_view_shows_names_and_log_lines_inertly():
    from rich.console import Console

    from ganstudio.output.live import LiveView

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with LiveView(f"train {LINK}", console=console) as view:
        view.log(f"resumed from {LINK} {ESCAPES}")
        view.update(0.5, 2, 0.5, {"loss": 1.0}, 3.0, force=True)
    shown = buffer.getvalue()
    assert "\x1b]8" not in shown and "\x1b]0;" not in shown and "\x1b[2J" not in shown
    assert LINK in shown


def test_the_plain_live_view_strips_escape_codes(capsys):
    from ganstudio.output.live import LiveView

    with LiveView(f"train x{ESCAPES}", plain=True) as view:
        view.log(f"resumed {ESCAPES}")
        view.update(0.5, 2, 0.5, {"loss": 1.0}, 3.0, force=True)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "resumed" in out


def test_an_error_quoting_a_name_passes_no_escape_codes(cli, workdir):
    """A one-line error quotes what it was given (here a run name holding a terminal title and a clear-screen
    sequence): the line arrives without control characters."""
    code, out, err = cli("sample", "evil\x1b]0;owned\x07\x1b[2J")
    assert code == 2 and err.startswith("error: ") and "evil]0;owned[2J" in err
    assert not any(ord(c) < 32 and c != "\n" for c in err)


def test_gif_reads_a_runs_grids_through_the_one_reader(cli, workdir):
    """`ganstudio gif` of a shared run folder: a grid that is a link to another file, or a small PNG that claims
    to be 100,000 x 100,000 pixels (a decompression bomb), is one line; nothing is decoded or written."""
    import imageio.v3 as iio
    import numpy as np

    folder = workdir / "samples/shared"
    folder.mkdir(parents=True)
    for step in range(3):
        iio.imwrite(folder / f"step_{step:06d}.png", np.full((30, 30), 40 * step, dtype=np.uint8))
    assert cli("gif", folder)[0] == 0 and (folder / "timeline.gif").is_file()
    (folder / "timeline.gif").unlink()

    secret = workdir / "secret.png"
    secret.write_bytes((folder / "step_000001.png").read_bytes())
    (folder / "step_000001.png").unlink()
    (folder / "step_000001.png").symlink_to(secret)
    code, out, err = cli("gif", folder)
    assert code == 2 and "is a link" in err and err.count("\n") == 1 and not (folder / "timeline.gif").exists()

    (folder / "step_000001.png").unlink()
    bomb = bytearray((folder / "step_000000.png").read_bytes())
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width and height
    (folder / "step_000001.png").write_bytes(bytes(bomb))
    code, out, err = cli("gif", folder)
    assert code == 2 and "step_000001.png (pixels)" in err and not (folder / "timeline.gif").exists()
