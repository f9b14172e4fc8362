"""The log and curves callbacks: metrics.jsonl is valid and continuous across a resume; curves.png is a real plot."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import FAST

from ganstudio.builtin.callbacks.curves import plot_curves, smooth
from ganstudio.errors import GanstudioError
from ganstudio.store.rundir import read_metrics

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]  # every line must be JSON


def test_metrics_jsonl_has_one_valid_record_per_logged_step_and_survives_resume(cli, tiny_idx, workdir):
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "10")
    assert code == 0, err
    path = workdir / "checkpoints/fashion-dcgan/metrics.jsonl"
    records = read_jsonl(path)
    assert [r["step"] for r in records] == [2, 4, 6, 8, 10]
    for r in records:
        assert {"step", "epoch", "elapsed_s", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s"} <= set(r)
        assert all(isinstance(v, (int, float)) and np.isfinite(v) for v in r.values())
        assert r["epoch"] == pytest.approx(r["step"] / 8, abs=1e-4) and r["images_per_s"] > 0
    assert [r["elapsed_s"] for r in records] == sorted(r["elapsed_s"] for r in records)

    # Records after the checkpoint (as if the process had died after logging them) are dropped on resume.
    with open(path, "a") as f:
        f.write(json.dumps({"step": 12, "epoch": 1.5, "loss_d": 9.0}) + "\n")
    code, out, err = cli(
        "train", "--name", "fashion-dcgan", "--data-root", tiny_idx, "--resume", "--steps", "14", "--log-every", "2"
    )
    assert code == 0, err
    resumed = read_jsonl(path)
    assert [r["step"] for r in resumed] == [2, 4, 6, 8, 10, 12, 14]
    assert resumed[:5] == records and resumed[5]["loss_d"] != 9.0

    # curves.png covers both invocations: a real PNG with drawn lines, redrawn at the end of the resumed run.
    curves = iio.imread(workdir / "samples/fashion-dcgan/curves.png")
    assert curves.shape[0] >= 400 and curves.shape[1] >= 600 and curves.dtype == np.uint8
    assert len(np.unique(curves.reshape(-1, curves.shape[-1]), axis=0)) > 20, "more than a blank canvas"


def test_read_metrics_skips_a_torn_last_line_but_not_damage_elsewhere(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "loss')
    assert [r["step"] for r in read_metrics(path)] == [1, 2]
    assert [r["step"] for r in read_metrics(path, up_to_step=1)] == [1]
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(GanstudioError, match="metrics.jsonl:2"):
        read_metrics(path)
    assert read_metrics(tmp_path / "missing.jsonl") == []


def test_plot_curves_adds_panels_for_eval_scores(tmp_path):
    rng = np.random.default_rng(0)
    records = [
        {
            "step": s,
            "epoch": s / 100,
            "loss_d": 1 + rng.normal(0, 0.1),
            "loss_g": 2 + rng.normal(0, 0.3),
            "d_real": 0.7,
            "d_fake": 0.3,
            "images_per_s": 500.0,
        }
        for s in range(10, 1010, 10)
    ]
    plain = iio.imread(plot_curves(records, tmp_path / "plain.png", title="t"))
    for r in records:  # an eval every 250 steps, repeated in every record until the next one (as the loop logs it)
        r.update({"fid": 100.0 / (1 + r["step"] // 250), "precision": 0.1 * (r["step"] // 250)})
    scored = iio.imread(plot_curves(records, tmp_path / "scored.png", title="t"))
    assert scored.shape[1] == plain.shape[1] and scored.shape[0] > plain.shape[0], "FID gets a panel, precision another"
    assert plot_curves([], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_smooth_is_a_bias_corrected_moving_average():
    values = np.array([5.0, 5.0, 5.0, 1.0, 1.0, 1.0])
    out = smooth(values, span=3)
    assert out[0] == 5.0 and out[2] == 5.0, "no pull towards 0 at the start"
    assert 1.0 < out[-1] < out[3] < 5.0
    assert np.array_equal(smooth(values, span=1), values)
