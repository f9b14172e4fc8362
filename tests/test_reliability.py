"""Nothing lost: kill -9 at random moments (and mid-write), SIGINT/SIGTERM, NaNs, bad checkpoints, full disks."""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ganstudio.errors import GanstudioError
from ganstudio.store import atomic as atomic_module
from ganstudio.store import checkpoint as checkpoint_module
from ganstudio.store.checkpoint import load_checkpoint, save_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "32", "--log-every", "2")


def write_plugin(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


# --- subprocess helpers -----------------------------------------------------------------------------


def start_training(workdir, tiny_idx, *extra, resume=False):
    args = [
        sys.executable,
        "-m",
        "ganstudio",
        "train",
        "--data",
        "fashion",
        "--data-root",
        str(tiny_idx),
        *TINY,
        "--steps",
        "1000000",
        *extra,
    ]
    if resume:
        args.append("--resume")
    env = {**os.environ, "GANSTUDIO_NO_ENTRY_POINTS": "1", "GANSTUDIO_CACHE": str(workdir / "cache")}
    return subprocess.Popen(args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=60.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def last_step(path):
    return load_checkpoint(path)["progress"]["step"]


def test_kill_9_at_random_moments_never_loses_the_run(workdir, tiny_idx):
    """Four kills at random points in a run that saves every epoch (8 steps); each time last.pt loads and resumes."""
    last = workdir / "checkpoints/fashion-dcgan/last.pt"
    rng = random.Random(1234)
    steps_seen = []
    for attempt in range(4):
        proc = start_training(workdir, tiny_idx, resume=attempt > 0)
        before = last_step(last) if last.exists() else 0
        wait_for(lambda before=before: last.exists() and last_step(last) > before, proc=proc)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        step = last_step(last)  # loads with weights_only=True, or this raises
        steps_seen.append(step)
        assert step >= before
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > steps_seen[0]
    # A killed writer may leave its temp file; the next successful save removes it, so at most the last kill's remains.
    assert len(list(last.parent.glob(".last.tmp-*.pt"))) <= 1


SLOW_WRITE = """
    import io, os, time
    import torch
    from ganstudio.store import checkpoint

    saves = []
    real_save = torch.save

    def half_then_hang(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) < 2:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        open(os.environ["MID_WRITE_MARKER"], "w").close()
        time.sleep(60)

    checkpoint.torch.save = half_then_hang
"""


def test_kill_9_during_a_checkpoint_write_keeps_the_previous_one(workdir, tiny_idx):
    write_plugin(workdir / "plugins", "slow_write", SLOW_WRITE)
    marker = workdir / "mid-write"
    os.environ["MID_WRITE_MARKER"] = str(marker)
    try:
        proc = start_training(workdir, tiny_idx)
        wait_for(marker.exists, proc=proc)
    finally:
        del os.environ["MID_WRITE_MARKER"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    last = workdir / "checkpoints/fashion-dcgan/last.pt"
    assert last_step(last) == 8, "the first epoch's checkpoint must survive a kill during the second write"
    (workdir / "plugins/slow_write.py").unlink()
    proc = start_training(workdir, tiny_idx, "--steps", "12", resume=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "resuming at step 8" in out and last_step(last) == 12


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_save_and_exit(workdir, tiny_idx, signum, code):
    last = workdir / "checkpoints/fashion-dcgan/last.pt"
    proc = start_training(workdir, tiny_idx)
    wait_for(last.exists, proc=proc)
    time.sleep(0.3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    step = last_step(last)
    assert f"saved {Path('checkpoints/fashion-dcgan/last.pt')} at step {step:,} (interrupted)" in out
    assert "--resume" in out and "Traceback" not in err


# --- NaN / Inf ---------------------------------------------------------------------------------------

POISON = """
    import torch
    from ganstudio import hookimpl
    from ganstudio.api import CallbackPlugin

    class Poison:
        def __init__(self, options):
            pass

        @hookimpl
        def after_metrics_logged(self, run, step):
            if step == 10:
                with torch.no_grad():
                    for p in run.model.parameters():
                        p.fill_(float("nan"))

    @hookimpl
    def register_callbacks(register):
        register(CallbackPlugin("poison", Poison, "fills the weights with NaN at step 10"))
"""


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(cli, workdir, tiny_idx):
    write_plugin(workdir / "plugins", "poison", POISON)
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "40")
    assert code == 2
    assert "training diverged" in err and "steps 11-12" in err and "holds step 8, the last good state" in err
    assert err.count("\n") == 1
    assert last_step(workdir / "checkpoints/fashion-dcgan/last.pt") == 8


def test_non_finite_weights_are_never_saved(cli, workdir, tiny_idx):
    from ganstudio.config import DataSpec, TrainConfig
    from ganstudio.errors import DivergenceError
    from ganstudio.plugins import load_plugins
    from ganstudio.train.loop import Saver
    from ganstudio.train.run import Run

    plugins = load_plugins()
    run = Run(TrainConfig(data=DataSpec(root=str(tiny_idx)), batch_size=32, model_options={"width": 8}), plugins)
    with torch.no_grad():
        first = next(run.model.parameters())
        first[(0,) * first.dim()] = float("inf")  # (channels_last weights cannot be viewed flat)
    with pytest.raises(DivergenceError, match="non-finite weights"):
        Saver(run, None, type("NoCallbacks", (), {"state": lambda self: {}})(), print).save()
    assert not run.checkpoint_path.exists()


# --- checkpoints -------------------------------------------------------------------------------------


@pytest.fixture
def good_checkpoint(cli, workdir, tiny_idx):
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "3")[0] == 0
    return workdir / "checkpoints/fashion-dcgan/last.pt"


def sample_error(cli, path):
    code, out, err = cli("sample", "--checkpoint", path, "--n", "4")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_truncated_checkpoint(cli, workdir, good_checkpoint):
    bad = workdir / "truncated.pt"
    bad.write_bytes(good_checkpoint.read_bytes()[:5000])
    assert f"{bad}: not a readable checkpoint (truncated or corrupt" in sample_error(cli, bad)


def test_corrupt_checkpoint(cli, workdir, good_checkpoint):
    data = bytearray(good_checkpoint.read_bytes())
    data[100:4000] = os.urandom(3900)
    bad = workdir / "corrupt.pt"
    bad.write_bytes(bytes(data))
    assert f"{bad}:" in sample_error(cli, bad)
    text = workdir / "text.pt"
    text.write_text("hello")
    assert "not a readable checkpoint" in sample_error(cli, text)


def test_foreign_and_wrong_version_checkpoints(cli, workdir, good_checkpoint):
    foreign = workdir / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    assert "not a ganstudio checkpoint" in sample_error(cli, foreign)
    payload = torch.load(good_checkpoint, weights_only=True)
    payload["version"] = 99
    future = workdir / "future.pt"
    torch.save(payload, future)
    assert "checkpoint version 99 is not supported" in sample_error(cli, future)


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_checkpoint_carrying_pickled_code_is_refused(cli, workdir, good_checkpoint):
    payload = torch.load(good_checkpoint, weights_only=True)
    payload["extra"] = Payload()
    evil = workdir / "evil.pt"
    torch.save(payload, evil)
    assert "refused" in sample_error(cli, evil)
    assert not (workdir / "pwned.txt").exists()


MODEL_PLUGIN = """
    from ganstudio import hookimpl
    from ganstudio.api import ModelPlugin
    from ganstudio.builtin.models.dcgan.nets import DCGAN

    @hookimpl
    def register_models(register):
        register(ModelPlugin("tinygan", DCGAN, kind="gan", description="a DCGAN under another name"))
"""


def test_checkpoint_whose_plugin_is_missing_names_it(cli, workdir, tiny_idx):
    write_plugin(workdir / "plugins", "tinygan", MODEL_PLUGIN)
    assert (
        cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--model", "tinygan", "--steps", "2")[0] == 0
    )
    (workdir / "plugins/tinygan.py").unlink()
    err = sample_error(cli, workdir / "checkpoints/fashion-tinygan/last.pt")
    assert "model 'tinygan' comes from plugin 'plugins/tinygan.py', which is not installed" in err
    code, out, err = cli("train", "--name", "fashion-tinygan", "--data-root", tiny_idx, "--resume", "--steps", "4")
    assert code == 2 and "plugins/tinygan.py" in err


def test_loading_always_uses_weights_only(monkeypatch, good_checkpoint):
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "load", spy)
    load_checkpoint(good_checkpoint)
    assert seen["weights_only"] is True


# --- disk full ---------------------------------------------------------------------------------------


def test_disk_full_while_saving_keeps_the_previous_checkpoint(cli, workdir, tiny_idx, monkeypatch, good_checkpoint):
    before = good_checkpoint.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "fsync", no_space)
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--model",
        "dcgan",
        "--data-root",
        tiny_idx,
        "--resume",
        "--steps",
        "20",
        "--log-every",
        "2",
    )
    assert code == 2
    assert (
        "could not write checkpoint" in err
        and "No space left on device" in err
        and "previous checkpoint is intact" in err
    )
    assert good_checkpoint.read_bytes() == before
    assert last_step(good_checkpoint) == 3
    assert not list(good_checkpoint.parent.glob(".last.tmp-*.pt")), "the partial temp file is removed"


def test_save_checkpoint_is_atomic_on_failure(tmp_path, monkeypatch):
    path = save_checkpoint({"a": torch.ones(3)}, tmp_path / "c.pt")
    monkeypatch.setattr(atomic_module.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(GanstudioError, match="I/O error"):
        save_checkpoint({"a": torch.zeros(3)}, path)
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(3))


# --- bad CLI input -----------------------------------------------------------------------------------

ODD_SIZE = """
    import torch
    from ganstudio import hookimpl
    from ganstudio.api import DatasetPlugin, ImageData

    @hookimpl
    def register_datasets(register):
        register(DatasetPlugin("odd", lambda r: ImageData(torch.zeros(256, 1, 30, 30, dtype=torch.uint8)), "30x30"))
"""


@pytest.mark.parametrize(
    "args, message",
    [
        (("sample", "--n", "0"), "argument --n: expected a number greater than 0, got 0"),
        (("sample", "--n", "-3"), "argument --n: expected a number greater than 0, got -3"),
        (("train", "--batch-size", "0"), "argument --batch-size: expected a number greater than 0, got 0"),
        (("train", "--minutes", "abc"), "argument --minutes: expected a number, got 'abc'"),
        (("train", "--epochs", "1.5"), "argument --epochs: expected a whole number, got '1.5'"),
        (("train", "--data", "fashion", "--image-size", "64"), "Fashion-MNIST images are 28x28; --image-size 64"),
        (
            ("train", "--data", "odd"),
            "model 'dcgan' cannot train on 'odd' (1, 30, 30): dcgan cannot build 30x30 images",
        ),
        (("train", "--device", "tpu"), "--device tpu: expected auto, cpu or cuda"),
        (("train", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("sample",), "no gan checkpoint found under checkpoints/"),
        (("sample", "--checkpoint", "missing.pt"), "checkpoint missing.pt does not exist"),
        (("train", "--resume"), "--resume: no checkpoint at checkpoints/fashion-cdcgan/last.pt"),
        (("nosuchcommand",), "invalid choice: 'nosuchcommand'"),
    ],
)
def test_bad_input_is_one_line(cli, workdir, args, message):
    write_plugin(workdir / "plugins", "odd", ODD_SIZE)
    code, out, err = cli(*args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


def test_cuda_requested_without_cuda(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = cli("train", "--device", "cuda")
    assert code == 2 and "no CUDA device is available" in err


def test_unwritable_output_folder(cli, workdir, tiny_idx):
    (workdir / "a-file").write_text("not a folder")
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        *TINY,
        "--steps",
        "2",
        "--checkpoints-dir",
        workdir / "a-file" / "ckpts",
    )
    assert code == 2 and err.count("\n") == 1 and "cannot write to" in err and "--checkpoints-dir" in err
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2")[0] == 0
    code, out, err = cli("sample", "--n", "4", "--out", workdir / "a-file" / "x.png")
    assert code == 2 and "could not write" in err


def test_debug_shows_the_traceback(cli):
    code, out, err = cli("--debug", "sample", "--checkpoint", "missing.pt")
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("error: checkpoint missing.pt does not exist")
