"""Every file a callback keeps survives a kill at any moment: written new, then switched, then the old deleted;
readers skip a torn last line."""

import json
import shutil

import numpy as np
import pytest
from conftest import FAST

from ganstudio.builtin.callbacks.gif import Timeline
from ganstudio.store.rundir import read_grid_index as read_index

TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8", *FAST)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def grid(value):
    return np.full((8, 8), value, dtype=np.uint8)


def test_a_timeline_killed_mid_thinning_opens_again(tmp_path):
    timeline = Timeline.open(tmp_path / "t", keep_up_to_step=0)
    for step in range(5):
        timeline.add(grid(step), step, step / 8, f"step {step}", max_frames=4)
    listed = [f["seq"] for f in timeline.frames]
    # The states a kill can leave: a listed frame without its file (older versions deleted before switching),
    # and a written frame that frames.json does not list yet.
    timeline.frame_path(listed[1]).unlink()
    np.save(tmp_path / "unused.npy", 0)
    shutil.copy(timeline.frame_path(listed[0]), timeline.frame_path(99))
    again = Timeline.open(tmp_path / "t", keep_up_to_step=10)
    assert [f["seq"] for f in again.frames] == [s for s in listed if s != listed[1]]
    assert not timeline.frame_path(99).exists()
    assert all(again.frame_path(f["seq"]).is_file() for f in again.frames)


def test_a_torn_last_line_of_grids_jsonl_blocks_nothing(cli, workdir, tiny_idx):
    assert (
        cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "4", "--grid-every", "2")[0] == 0
    )
    index = workdir / "samples/fashion-dcgan/grids.jsonl"
    index.write_text(index.read_text() + '{"file": "step_0000')  # killed mid-append
    assert [e["step"] for e in read_index(index.parent)] == [0, 2, 4]
    code, out, err = cli("gif", "fashion-dcgan")
    assert code == 0, err
    code, out, err = cli(
        "train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "6", "--grid-every", "2"
    )
    assert code == 0, err
    assert [e["step"] for e in read_index(index.parent)] == [0, 2, 4, 6]
    index.write_text('{"file": "x.png", "step": 1}\nnot json\n{"file": "y.png", "step": 2}\n')
    code, out, err = cli("gif", "fashion-dcgan")
    assert code == 2 and "grids.jsonl:2 is not a JSON object" in err


def test_kill_and_resume_with_thinning_gives_the_uninterrupted_timeline(cli, workdir, tiny_idx):
    args = ("--data", "fashion", "--data-root", tiny_idx, *TINY, "--grid-every", "1", "--gif-max-frames", "4")
    assert cli("train", *args, "--steps", "12", "--name", "straight")[0] == 0
    assert cli("train", *args, "--steps", "5", "--name", "killed")[0] == 0
    saved = (workdir / "checkpoints/killed/last.pt").read_bytes()
    assert cli("train", *args, "--steps", "11", "--name", "killed", "--resume")[0] == 0
    (workdir / "checkpoints/killed/last.pt").write_bytes(saved)  # as if killed at step 11 with last.pt from step 5
    assert cli("train", *args, "--steps", "12", "--name", "killed", "--resume")[0] == 0

    def steps(name):
        return [f["step"] for f in json.loads((workdir / f"samples/{name}/timeline/frames.json").read_text())["frames"]]

    assert steps("killed") == steps("straight")
    frames = sorted(p.name for p in (workdir / "samples/killed/timeline").glob("frame_*.png"))
    assert len(frames) == len(steps("killed")), "no orphaned frame files"


def test_stale_temp_files_of_dead_writers_are_removed(cli, workdir, tiny_idx):
    folder = workdir / "samples/fashion-dcgan"
    folder.mkdir(parents=True)
    stale = folder / ".timeline.tmp-999999.gif"  # a writer killed mid-write (pid 999999 is not running)
    stale.write_bytes(b"GIF8")
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2", "--overwrite")
    assert code == 0, err
    assert not stale.exists()
