"""Choosing callbacks (--callbacks, --no-<name>, --no-callback), tensorboard, and failing callbacks named end to end."""

import sys
import types

import pytest
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(cli, tiny_idx, *extra):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "8", *extra)


def outputs(workdir):
    samples, run = workdir / "samples/fashion-dcgan", workdir / "checkpoints/fashion-dcgan"
    return {
        "grid": (samples / "epoch_0001.png").exists(),
        "gif": (samples / "timeline.gif").exists(),
        "curves": (samples / "curves.png").exists(),
        "log": (run / "metrics.jsonl").exists(),
        "tensorboard": (run / "tensorboard").exists(),
    }


def test_defaults_then_each_way_of_disabling(cli, tiny_idx, workdir):
    assert train(cli, tiny_idx)[0] == 0
    assert outputs(workdir) == {"grid": True, "gif": True, "curves": True, "log": True, "tensorboard": False}

    code, out, err = train(cli, tiny_idx, "--name", "a", "--no-gif", "--no-callback", "log")
    assert code == 0, err
    assert not (workdir / "samples/a/timeline.gif").exists() and not (workdir / "samples/a/timeline").exists()
    assert not (workdir / "checkpoints/a/metrics.jsonl").exists()
    assert (workdir / "samples/a/epoch_0001.png").exists() and (workdir / "samples/a/curves.png").exists()

    code, out, err = train(cli, tiny_idx, "--name", "b", "--callbacks", "curves")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "samples/b").iterdir()) == ["curves.png"]
    assert sorted(p.name for p in (workdir / "checkpoints/b").iterdir() if p.name != ".lock") == ["last.pt"]


def test_tensorboard_is_off_by_default_and_explains_a_missing_package(cli, tiny_idx, workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    code, out, err = train(cli, tiny_idx, "--callbacks", "grid,tensorboard")
    assert code == 2 and "callback 'tensorboard' needs the tensorboard package: pip install tensorboard" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_tensorboard_writes_scalars_and_grids(cli, tiny_idx, workdir, monkeypatch):
    calls = []

    class FakeWriter:  # records what the callback asks of torch.utils.tensorboard.SummaryWriter
        def __init__(self, log_dir, purge_step=None):
            calls.append(("init", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append(("scalar", tag, step))

        def add_image(self, tag, image, step, dataformats):
            calls.append(("image", tag, step, image.shape, dataformats))

        def flush(self):
            pass

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    code, out, err = train(cli, tiny_idx, "--callbacks", "tensorboard", "--grid-every", "4")
    assert code == 0, err
    assert calls[0] == ("init", "checkpoints/fashion-dcgan/tensorboard", None)
    assert [c[2] for c in calls if c[0] == "image"] == [0, 4, 8]
    assert {c[3] for c in calls if c[0] == "image"} == {(242, 242)}
    scalars = {(c[1], c[2]) for c in calls if c[0] == "scalar"}
    assert {("loss_d", 2), ("loss_g", 8), ("d_real", 4), ("images_per_s", 6)} <= scalars
    assert calls[-1] == ("close",)

    calls.clear()
    code, out, err = cli(
        "train",
        "--name",
        "fashion-dcgan",
        "--data-root",
        tiny_idx,
        "--resume",
        "--steps",
        "10",
        "--callbacks",
        "tensorboard",
    )
    assert code == 0, err
    assert calls[0] == ("init", "checkpoints/fashion-dcgan/tensorboard", 9), (
        "events after the checkpoint's step 8 are purged"
    )
    assert [c[2] for c in calls if c[0] == "image"] == [10], "no step-0 grid on resume; a final grid at the end"


FAILING_PLUGIN = """
from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin

class Boom:
    def __init__(self, options):
        pass

    @hookimpl
    def after_epoch_run(self, run, epoch):
        raise RuntimeError("out of ink")

@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("boom", Boom, "fails at the first epoch end"))
"""


def test_a_failing_callback_is_reported_by_name(cli, tiny_idx, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/boom.py").write_text(FAILING_PLUGIN)
    code, out, err = train(cli, tiny_idx, "--steps", "16")
    assert code == 2 and err.count("\n") == 1, err
    assert "plugin 'callback:boom' failed in hook after_epoch_run: RuntimeError: out of ink" in err
    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 8, (
        "saved before failing"
    )

    code, out, err = train(cli, tiny_idx, "--name", "quiet", "--no-boom")
    assert code == 0, "--no-<name> exists for third-party callbacks too: " + err


def test_a_damaged_timeline_names_the_gif_callback(cli, tiny_idx, workdir):
    assert train(cli, tiny_idx, "--steps", "4")[0] == 0
    (workdir / "samples/fashion-dcgan/timeline/frames.json").write_text("{not json")
    code, out, err = cli("train", "--name", "fashion-dcgan", "--data-root", tiny_idx, "--resume", "--steps", "8")
    assert code == 2 and err.count("\n") == 1
    assert "plugin 'callback:gif' failed in hook before_training_run" in err and "frames.json is damaged" in err
