"""The grid/gif callbacks and ``ganstudio gif``: frames, sizes, captions, thinning, resume, rebuild."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import FAST
from PIL import Image

from ganstudio.builtin.callbacks.gif import Timeline, thin_evenly
from ganstudio.output.timeline import add_caption
from ganstudio.store.rundir import read_grid_index

TINY = (
    "--model",
    "dcgan",
    "--model-option",
    "width=8",
    *FAST,
)  # 256 images / batch 32 = 8 steps per epoch; log every 2 steps
GRID = 8 * 30 + 2  # 64 fixed-noise samples of 28 px: an 8x8 grid with 2 px padding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(cli, tiny_idx, *extra):
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)
    assert code == 0, err
    return out


def gif_frames(path):
    """(frames as arrays, per-frame durations in ms, loop) of a GIF."""
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        loop = im.info.get("loop")
    return iio.imread(path, index=None), durations, loop


def caption_band(frame):
    """The caption band above the grid, as grayscale."""
    band = frame[: frame.shape[0] - GRID]
    return band if band.ndim == 2 else band[..., 0]


def test_short_run_timeline_has_one_captioned_frame_per_grid(cli, tiny_idx, workdir):
    train(cli, tiny_idx, "--steps", "12", "--grid-every", "4", "--gif-fps", "5")
    samples = workdir / "samples/fashion-dcgan"
    # start, steps 4 and 12 (--grid-every), step 8 (epoch 1); 12 is also the end, so no extra final grid
    assert [e["step"] for e in read_grid_index(samples)] == [0, 4, 8, 12]
    assert sorted(p.name for p in samples.glob("*_*.png")) == [
        "epoch_0001.png",
        "step_000000.png",
        "step_000004.png",
        "step_000012.png",
    ]

    frames, durations, loop = gif_frames(samples / "timeline.gif")
    assert len(frames) == 4
    assert frames.shape[1:3] == (GRID + add_caption(np.zeros((GRID, GRID), np.uint8), "x").shape[0] - GRID, GRID)
    assert durations[:-1] == [200] * 3 and durations[-1] == 2000, "5 fps, the last frame held for 2 s"
    assert loop == 0
    # The grid part of each frame is the grid PNG of that step, pixel for pixel.
    for frame, name in zip(frames, ["step_000000.png", "step_000004.png", "epoch_0001.png", "step_000012.png"]):
        grid = frame[-GRID:] if frame.ndim == 2 else frame[-GRID:, :, 0]
        assert np.array_equal(grid, iio.imread(samples / name)), name
    # Captions: stored per frame, drawn as white text on the black band, different for each step.
    store = json.loads((samples / "timeline/frames.json").read_text())
    assert [f["caption"] for f in store["frames"]] == [
        "step 0  epoch 0.00",
        "step 4  epoch 0.50",
        "step 8  epoch 1.00",
        "step 12  epoch 1.50",
    ]
    bands = [caption_band(f) for f in frames]
    assert all(b.max() > 200 and (b > 128).mean() < 0.5 for b in bands), "white text on black"
    assert len({b.tobytes() for b in bands}) == 4, "each frame shows its own step"


def test_resumed_run_continues_the_same_timeline(cli, tiny_idx, workdir):
    train(cli, tiny_idx, "--steps", "8", "--grid-every", "4")
    before, _, _ = gif_frames(workdir / "samples/fashion-dcgan/timeline.gif")
    assert len(before) == 3  # steps 0, 4, 8
    code, out, err = cli(
        "train",
        "--name",
        "fashion-dcgan",
        "--data-root",
        tiny_idx,
        "--resume",
        "--steps",
        "16",
        "--grid-every",
        "4",
        "--log-every",
        "2",
    )
    assert code == 0, err
    after, _, _ = gif_frames(workdir / "samples/fashion-dcgan/timeline.gif")
    store = json.loads((workdir / "samples/fashion-dcgan/timeline/frames.json").read_text())
    assert [f["step"] for f in store["frames"]] == [0, 4, 8, 12, 16]
    assert len(after) == 5 and np.array_equal(after[:3], before), "the resumed run appends to the old frames"


def test_frame_cap_thins_evenly_and_keeps_first_and_newest(cli, tiny_idx, workdir):
    train(cli, tiny_idx, "--steps", "20", "--grid-every", "2", "--gif-max-frames", "5", "--callbacks", "grid,gif")
    frames, _, _ = gif_frames(workdir / "samples/fashion-dcgan/timeline.gif")
    store = json.loads((workdir / "samples/fashion-dcgan/timeline/frames.json").read_text())
    steps = [f["step"] for f in store["frames"]]
    assert len(frames) == len(steps) <= 5
    assert steps[0] == 0 and steps[-1] == 20
    assert len(read_grid_index(workdir / "samples/fashion-dcgan")) == 11, "the grid PNGs themselves are all kept"
    assert len(list((workdir / "samples/fashion-dcgan/timeline").glob("frame_*.png"))) == len(steps), (
        "thinned frames are deleted"
    )


def test_thin_evenly_doubles_the_stride():
    assert thin_evenly(list(range(5)), 1, 5) == ([0, 1, 2, 3, 4], 1)
    assert thin_evenly(list(range(6)), 1, 5) == ([0, 2, 4, 5], 2)
    assert thin_evenly(list(range(100)), 1, 10) == ([0, 16, 32, 48, 64, 80, 96, 99], 16)
    kept, stride = thin_evenly(list(range(1000)), 1, 60)
    assert len(kept) <= 60 and kept[0] == 0 and kept[-1] == 999
    assert len({b - a for a, b in zip(kept[:-2], kept[1:-1])}) == 1, "evenly spaced (except the newest)"
    with pytest.raises(ValueError):
        thin_evenly([0, 1, 2], 1, 1)


def test_timeline_store_drops_frames_after_the_resume_step(tmp_path):
    timeline = Timeline.open(tmp_path / "timeline", keep_up_to_step=0)
    for step in (0, 10, 20, 30):
        timeline.add(np.full((8, 8), step, np.uint8), step, step / 10, f"step {step}", max_frames=10)
    reopened = Timeline.open(tmp_path / "timeline", keep_up_to_step=20)  # the checkpoint was at step 20
    assert [f["step"] for f in reopened.frames] == [0, 10, 20]
    assert not reopened.frame_path(3).exists() and reopened.next_seq == 3
    assert reopened.load_frame(2).max() == 20


def test_gif_command_rebuilds_the_timeline_from_saved_grids(cli, tiny_idx, workdir):
    train(cli, tiny_idx, "--steps", "12", "--grid-every", "2", "--no-gif")
    assert not (workdir / "samples/fashion-dcgan/timeline.gif").exists(), "--no-gif: no timeline"
    code, out, err = cli("gif", "checkpoints/fashion-dcgan", "--fps", "10")
    assert code == 0, err
    frames, durations, _ = gif_frames(workdir / "samples/fashion-dcgan/timeline.gif")
    assert len(frames) == 7 and durations[0] == 100  # steps 0, 2, ..., 12
    code, out, err = cli("gif", "fashion-dcgan", "--max-frames", "3", "--out", "short.gif")
    assert code == 0, err
    assert "3 frames from 7 grids (thinned evenly)" in out
    short, _, _ = gif_frames(workdir / "short.gif")
    assert np.array_equal(short[0], frames[0]) and np.array_equal(short[-1], frames[-1])

    for args, message in [
        (("nope",), "no such run"),
        (("fashion-dcgan", "--out", "x.png"), "expected a .gif"),
        (("fashion-dcgan", "--max-frames", "1"), "at least 2"),
        (("fashion-dcgan", "--fps", "0"), "expected frames per second (GIF delays are in 1/100 s) from 0.1 to 50"),
    ]:
        code, out, err = cli("gif", *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)


def test_gif_works_without_the_grid_callback(cli, tiny_idx, workdir):
    train(cli, tiny_idx, "--steps", "9", "--grid-every", "4", "--no-grid")
    samples = workdir / "samples/fashion-dcgan"
    assert not list(samples.glob("*_*.png")) and not (samples / "grids.jsonl").exists(), "--no-grid: no grid files"
    frames, _, _ = gif_frames(samples / "timeline.gif")
    store = json.loads((samples / "timeline/frames.json").read_text())
    assert [f["step"] for f in store["frames"]] == [0, 4, 8, 9], "the timeline ends where training stopped"
    assert len(frames) == 4


PROBE_PLUGIN = """
from PIL import Image
from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin

class Probe:
    def __init__(self, options):
        self.seen = []

    @hookimpl(trylast=True)  # after every other callback of the same step
    def after_metrics_logged(self, run, step):
        with Image.open(run.samples_dir / "timeline.gif") as im:
            self.seen.append(f"{step}:{im.n_frames}")
        (run.samples_dir / "probe.txt").write_text(" ".join(self.seen))

@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("probe", Probe, "counts timeline frames while training runs", default=False))
"""


def test_the_gif_grows_while_training_runs(cli, tiny_idx, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/probe.py").write_text(PROBE_PLUGIN)
    train(cli, tiny_idx, "--steps", "12", "--grid-every", "4", "--callbacks", "gif,probe")
    seen = (workdir / "samples/fashion-dcgan/probe.txt").read_text().split()
    assert seen == [
        "2:1",
        "4:2",
        "6:2",
        "8:3",
        "10:3",
        "12:4",
    ]  # a step's grid is rendered before its metrics are logged
