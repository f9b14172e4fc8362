"""A fresh run is fresh: --overwrite empties the old run's folders (only ganstudio's, never through a link), a command
that fails before its first step leaves no folder, option errors come before the run-exists check, and the train
summary gives the run's mean img/s and says when a run stopped below the steps its model needs for recognisable
images."""

import os
import re

from ganstudio.store.runs import RunLock

PLUGIN = """
from ganstudio import hookimpl
from ganstudio.api import ModelPlugin
from tiny_models import TinyGAN

@hookimpl
def register_models(register):
    register(ModelPlugin("tiny", TinyGAN, description="a linear test model"))
"""

SLOW = """
from ganstudio import hookimpl
from ganstudio.api import ModelPlugin
from tiny_models import TinyGAN

@hookimpl
def register_models(register):
    register(ModelPlugin("slowpoke", TinyGAN, description="needs 1,000 steps", recognisable_steps=1000))
"""

CTRL_C_AT_STEP_2 = """
import os, signal
from ganstudio import hookimpl

@hookimpl
def after_training_step(run, step):
    if step == 2:
        os.kill(os.getpid(), signal.SIGINT)
"""

TINY = ("--batch-size", "32", "--log-every", "1")


def train(cli, workdir, tiny_idx, *extra, model="tiny"):
    plugins = workdir / "plugins"
    if not (plugins / "fresh_models.py").exists():
        plugins.mkdir(exist_ok=True)
        (plugins / "fresh_models.py").write_text(PLUGIN)
    if model == "slowpoke":
        (plugins / "slow_models.py").write_text(SLOW)
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", model, *TINY, *extra)


def one_line(result, *expected):
    code, out, err = result
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (code, err)
    for text in expected:
        assert text in err, err
    return err


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- 1. --overwrite empties the old run's folders ---------------------------------------------------------------


def test_overwrite_removes_the_old_runs_outputs(cli, workdir, tiny_idx):
    assert train(cli, workdir, tiny_idx, "--steps", "3", "--name", "demo")[0] == 0
    samples, run_dir = workdir / "samples/demo", workdir / "checkpoints/demo"
    (samples / "generator.onnx").write_bytes(b"an export of the old generator")
    (samples / "step_009999.png").write_bytes(b"\x89PNG\r\n\x1a\n old")
    (run_dir / "best.pt").write_bytes(b"old best")
    code, out, err = train(cli, workdir, tiny_idx, "--steps", "1", "--name", "demo", "--overwrite")
    assert code == 0, err
    assert not (samples / "generator.onnx").exists() and not (samples / "step_009999.png").exists()
    assert not (run_dir / "best.pt").exists()
    assert not (samples / "step_000003.png").exists(), "the old run's last grid is gone"
    assert (samples / "step_000001.png").exists() and (run_dir / "last.pt").exists()
    summary = [line for line in out.splitlines() if line.startswith("run 'demo'")]
    assert len(summary) == 1 and "generator.onnx" not in summary[0] and "step 1," in summary[0]


def test_overwrite_refuses_a_folder_holding_files_ganstudio_never_writes(cli, workdir, tiny_idx):
    assert train(cli, workdir, tiny_idx, "--steps", "2", "--name", "demo")[0] == 0
    notes = workdir / "samples/demo/notes.md"
    notes.write_text("my notes")
    before = listing(workdir / "samples/demo") + listing(workdir / "checkpoints/demo")
    one_line(
        train(cli, workdir, tiny_idx, "--steps", "1", "--name", "demo", "--overwrite"),
        "samples/demo",
        "notes.md",
        "--overwrite",
    )
    assert notes.read_text() == "my notes"
    assert listing(workdir / "samples/demo") + listing(workdir / "checkpoints/demo") == before


def test_overwrite_never_follows_a_link_out_of_the_samples_folder(cli, workdir, tiny_idx):
    assert train(cli, workdir, tiny_idx, "--steps", "2", "--name", "demo")[0] == 0
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n mine")
    samples = workdir / "samples/demo"
    for p in samples.rglob("*"):
        if p.is_file():
            p.unlink()
    for p in sorted(samples.rglob("*"), reverse=True):
        p.rmdir()
    samples.rmdir()
    samples.symlink_to(elsewhere)
    one_line(train(cli, workdir, tiny_idx, "--steps", "1", "--name", "demo", "--overwrite"), "samples/demo", "link")
    assert (elsewhere / "photo.png").read_bytes() == b"\x89PNG\r\n\x1a\n mine"
    assert listing(elsewhere) == ["photo.png"]
    # a link inside the run's folder is refused the same way (ganstudio never writes one)
    samples.unlink()
    samples.mkdir()
    (samples / "photos").symlink_to(elsewhere)
    one_line(train(cli, workdir, tiny_idx, "--steps", "1", "--name", "demo", "--overwrite"), "photos", "link")
    assert listing(elsewhere) == ["photo.png"]


def test_overwrite_removes_nothing_before_the_options_are_checked_and_the_lock_is_taken(cli, workdir, tiny_idx):
    assert train(cli, workdir, tiny_idx, "--steps", "2", "--name", "demo")[0] == 0
    before = listing(workdir / "samples/demo") + listing(workdir / "checkpoints/demo")
    one_line(train(cli, workdir, tiny_idx, "--name", "demo", "--overwrite", "--model-option", "widht=32"), "widht")
    held = RunLock(workdir / "checkpoints/demo", "demo").acquire()
    try:
        one_line(train(cli, workdir, tiny_idx, "--steps", "1", "--name", "demo", "--overwrite"), "being trained")
    finally:
        held.release()
    assert listing(workdir / "samples/demo") + listing(workdir / "checkpoints/demo") == before


# --- 2. a command that fails before its first step leaves no folder ---------------------------------------------


def test_commands_that_fail_before_the_first_step_leave_no_folder(cli, workdir, tiny_idx):
    one_line(train(cli, workdir, tiny_idx, model="dcgna"), "dcgna")
    one_line(train(cli, workdir, tiny_idx, "--resume"), "--resume")
    one_line(train(cli, workdir, tiny_idx, "--model-option", "widht=32"), "widht")
    # fails after the lock is taken (the data is missing): the folders this command made are removed too
    code, out, err = cli("train", "--data", "fashion", "--data-root", workdir / "nowhere", "--model", "tiny", *TINY)
    assert code == 2, err
    assert not (workdir / "checkpoints").exists() and not (workdir / "samples").exists()


def test_a_failed_command_never_removes_a_folder_that_was_there(cli, workdir, tiny_idx):
    (workdir / "checkpoints/keep").mkdir(parents=True)
    (workdir / "samples/keep").mkdir(parents=True)
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", workdir / "nowhere", "--model", "tiny", "--name", "keep"
    )
    assert code == 2, err
    assert (workdir / "checkpoints/keep").is_dir() and (workdir / "samples/keep").is_dir()
    assert listing(workdir / "checkpoints/keep") == [], "its stale .lock is not left behind either"


def test_a_folder_holding_only_a_stale_lock_is_no_run(workdir):
    from ganstudio.store.runs import is_run_folder

    folder = workdir / "checkpoints/ghost"
    folder.mkdir(parents=True)
    (folder / ".lock").write_text("12345")
    assert not is_run_folder(folder)
    held = RunLock(folder, "ghost").acquire()
    try:
        assert is_run_folder(folder), "a run being trained (its lock held) is a run before its first save"
    finally:
        held.release()
    (folder / "metrics.jsonl").write_text("")
    assert is_run_folder(folder)


# --- 3. option errors come before the run-exists check -----------------------------------------------------------


def test_option_errors_come_before_the_run_exists_check(cli, workdir, tiny_idx):
    assert train(cli, workdir, tiny_idx, "--steps", "1")[0] == 0  # checkpoints/fashion-tiny/last.pt exists
    for extra, expected in (
        (("--model-option", "widht=32"), "widht"),
        (("--data-option", "nope=1"), "nope"),
        (("--callbacks", "log,grdi"), "grdi"),
        (("--augment", "tranlsation"), "tranlsation"),
    ):
        err = one_line(train(cli, workdir, tiny_idx, *extra), expected)
        assert "already exists" not in err, err
    err = one_line(train(cli, workdir, tiny_idx, "--name", "fashion-tiny", model="dcgna"), "dcgna")
    assert "already exists" not in err


# --- 4. the summary: mean img/s, and a note when a run stops below its model's recognisable steps ---------------


def summary_line(out, name):
    lines = [line for line in out.splitlines() if line.startswith(f"run '{name}'")]
    assert len(lines) == 1, out
    return lines[0]


def test_the_summary_gives_the_mean_images_per_second_over_the_run(cli, workdir, tiny_idx):
    from ganstudio.store.checkpoint import load_checkpoint

    code, out, err = train(cli, workdir, tiny_idx, "--steps", "3", "--name", "speed")
    assert code == 0, err
    line = summary_line(out, "speed")
    progress = load_checkpoint(workdir / "checkpoints/speed/last.pt")["progress"]
    images = progress["images_seen"]
    assert images == 3 * 2 * 32  # tiny draws two batches a step
    found = re.search(r"mean ([\d,]+) img/s over the run \(([\d,]+) images in ([\d.]+) s", line)
    assert found, line
    mean, shown_images = int(found[1].replace(",", "")), int(found[2].replace(",", ""))
    assert shown_images == images
    assert 0 < mean <= images / progress["elapsed_s"] + 1  # the summary's seconds include the final save


def test_a_run_stopped_by_its_time_budget_below_the_recognisable_steps_says_so(cli, workdir, tiny_idx):
    code, out, err = train(cli, workdir, tiny_idx, "--minutes", "0.0001", "--name", "short", model="slowpoke")
    assert code == 0, err
    notes = [line for line in out.splitlines() + err.splitlines() if "recognisable" in line]
    assert len(notes) == 1, out + err
    assert re.search(r"note: \d+ steps?; slowpoke usually needs about 1,000 steps for recognisable images", notes[0])
    assert "--resume" in notes[0] and "--name short" in notes[0]


def test_a_run_stopped_by_ctrl_c_below_the_recognisable_steps_says_so(cli, workdir, tiny_idx):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/interrupt.py").write_text(CTRL_C_AT_STEP_2)
    code, out, err = train(cli, workdir, tiny_idx, "--steps", "50", "--name", "stopped", model="slowpoke")
    assert code == 130, err
    notes = [line for line in out.splitlines() + err.splitlines() if "recognisable" in line]
    assert len(notes) == 1 and "note: 2 steps; slowpoke usually needs about 1,000 steps" in notes[0], out + err


def test_no_note_when_the_run_reached_the_target_it_was_given_or_the_model_names_no_steps(cli, workdir, tiny_idx):
    code, out, err = train(cli, workdir, tiny_idx, "--steps", "2", "--name", "asked", model="slowpoke")
    assert code == 0 and "recognisable" not in out + err, out + err
    code, out, err = train(cli, workdir, tiny_idx, "--minutes", "0.0001", "--name", "unknown")
    assert code == 0 and "recognisable" not in out + err, out + err
    assert os.path.isdir(workdir / "checkpoints/unknown")
