"""The live view worth watching: half-block samples, loss sparklines, the latest scores with their floor, and an
img/s / ETA averaged over a window of wall time (a fake clock here), on a terminal; plain lines elsewhere."""

import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console

from ganstudio.output.live import LiveView
from ganstudio.output.termdraw import HalfBlocks, sample_strip, sparkline
from ganstudio.train.budget import Budget, Pace


def cells(image):
    """(character, foreground rgb, background rgb or None) of each cell, row by row."""
    return [
        [(s.text, s.style.color.triplet, s.style.bgcolor and s.style.bgcolor.triplet) for s in line]
        for line in HalfBlocks(np.array(image, dtype=np.uint8)).lines
    ]


def test_half_blocks_draw_two_pixels_a_cell_top_as_foreground_bottom_as_background():
    grey = [[0, 255], [128, 64], [10, 20], [30, 40]]  # 4 rows, 2 columns: 2 lines of 2 cells
    assert cells(grey) == [
        [("▀", (0, 0, 0), (128, 128, 128)), ("▀", (255, 255, 255), (64, 64, 64))],
        [("▀", (10, 10, 10), (30, 30, 30)), ("▀", (20, 20, 20), (40, 40, 40))],
    ]
    odd = [[5], [6], [7]]  # the last line has a top pixel only: no background
    assert cells(odd) == [[("▀", (5, 5, 5), (6, 6, 6))], [("▀", (7, 7, 7), None)]]
    rgb = [[[255, 0, 0]], [[0, 0, 255]]]  # (H, W, 3)
    assert cells(rgb) == [[("▀", (255, 0, 0), (0, 0, 255))]]
    console = Console(force_terminal=True, color_system="truecolor", file=io.StringIO(), width=20)
    console.print(HalfBlocks(np.array(grey[:2], dtype=np.uint8)))
    assert console.file.getvalue() == (
        "\x1b[38;2;0;0;0;48;2;128;128;128m▀\x1b[0m\x1b[38;2;255;255;255;48;2;64;64;64m▀\x1b[0m\n"
    )


def test_the_strip_takes_one_sample_per_grid_row_first_and_fits_the_width():
    # A class-conditional grid: row r is class r (value 10 * r + column), 3 columns, 28 px samples.
    images = torch.tensor([10 * (i // 3) + i % 3 for i in range(12)], dtype=torch.uint8).view(12, 1, 1, 1)
    images = images.expand(12, 1, 28, 28).clone()
    strip = sample_strip(images, cols=3, width=80)  # halved to 14 px: 5 samples of 14 + 1 px gaps fit 80 columns
    assert strip.shape == (14, 5 * 15 - 1)
    assert [int(strip[0, i * 15]) for i in range(5)] == [0, 10, 20, 30, 1]  # the first of each row, then the next
    assert (strip[:, 14] == 0).all()  # a dark gap between samples
    assert sample_strip(images, cols=3, width=40).shape == (14, 2 * 15 - 1)
    assert sample_strip(torch.zeros(2, 3, 64, 64, dtype=torch.uint8), cols=2, width=80).shape == (16, 33, 3)


def test_sparkline_of_a_known_series():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3.0, 1.0, 8.0, 1.0]) == "▃▁█▁"
    assert sparkline([2.0, 2.0]) == "▄▄"  # flat: mid-height
    assert sparkline([1.0, math.nan, 2.0]) == "▁ █"
    assert sparkline([]) == ""


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_rate_is_averaged_over_a_minute_so_one_fast_and_one_slow_window_do_not_swing_it():
    clock = FakeClock()
    pace = Pace(seconds=60, clock=clock)
    pace.mark(0, 0)
    step = 0
    for _ in range(12):  # a steady minute: 10 steps (320 images) a second, a log line every 5 s
        clock.now += 5
        step += 50
        pace.mark(step, step * 32)
    assert pace.rates() == pytest.approx((10.0, 320.0)) and pace.describe() == "1 min avg"
    budget = Budget(SimpleNamespace(steps=10_000, epochs=None, minutes=None), epoch_images=60_000)
    etas = []
    for seconds in (0.5, 20.0):  # a burst: 50 steps in 0.5 s (100 steps/s), then 50 in 20 s (2.5 steps/s)
        clock.now += seconds
        step += 50
        pace.mark(step, step * 32)
        steps_per_s, images_per_s = pace.rates()
        assert 8.0 < steps_per_s < 11.0 and images_per_s == pytest.approx(steps_per_s * 32)
        etas.append(budget.eta(step, step * 32, steps_per_s, images_per_s))
    assert etas[1] / etas[0] < 1.35  # instantaneous rates would have moved the ETA 40-fold


def test_the_rate_says_how_long_it_averages_and_keeps_few_points():
    clock = FakeClock()
    pace = Pace(seconds=60, clock=clock)
    pace.mark(0, 0)
    assert pace.rates() is None
    clock.now += 20
    pace.mark(100, 3200)
    assert pace.rates() == pytest.approx((5.0, 160.0)) and pace.describe() == "20 s avg"
    for _ in range(10_000):  # a log line every 10 ms on a fast GPU
        clock.now += 0.01
        pace.mark(100, 3200)
    assert len(pace.points) <= 62


METRICS = {"loss_d": 1.0, "loss_g": 2.0, "d_real": 0.6, "images_per_s": 100.0, "steps_per_s": 3.0}


def test_the_terminal_view_shows_loss_sparklines_the_latest_scores_with_their_floor_and_the_samples():
    from ganstudio.builtin.models.dcgan.nets import DCGAN

    console = Console(width=100, force_terminal=True, record=True, file=io.StringIO())
    with LiveView("train demo", console=console) as view:
        for i in range(8):
            scores = {"fid": 61.5, "floor_fid": 3.21, "kid": 0.0184} if i == 6 else {}
            metrics = {**METRICS, "loss_d": 1.0 + i, "loss_g": 2.0 - 0.1 * i, **scores}
            view.update(0.1 * i, 10 * i, 0.1, metrics, 30.0, metric_specs=DCGAN.metrics, speed=(412.0, "1 min avg"))
        view.show_samples(torch.full((4, 1, 28, 28), 200, dtype=torch.uint8), cols=2, step=80)
    text = console.export_text()
    assert "412 img/s (1 min avg)" in text
    assert "D loss 8.000 ▁▂▃▄▅▆▇█" in text  # the value, then its recent records
    assert "FD (classifier) 61.50 (floor 3.21)  KID×10³ 18.40" in text and "at step 60" in text  # kept after its record
    assert "▀" * 14 in text and "samples at step 80" in text


def test_a_non_terminal_view_ignores_samples_and_prints_plain_lines(capsys):
    with LiveView("train x", console=Console(file=io.StringIO()), plain_interval=0) as view:
        assert not view.shows_samples
        view.show_samples(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), cols=2, step=0)
        view.update(0.5, 100, 0.21, METRICS, 61, speed=(412.0, "1 min avg"))
    assert capsys.readouterr().out == (
        "[train x]  50.0%  step 100  epoch 0.21  412 img/s (1 min avg)  ETA 01:01  loss_d 1  loss_g 2  d_real 0.6\n"
    )


def tiny_run(tmp_path, view):
    from ganstudio.config import DataSpec, TrainConfig
    from ganstudio.testing import plugins_with, synthetic_data
    from ganstudio.train.entry import train

    config = TrainConfig(
        data=DataSpec("contract-data"),
        model="dcgan",
        model_options={"width": 8},
        batch_size=16,
        steps=6,
        device="cpu",
        precision="fp32",
        log_every=1,
        grid_every=3,
        grid_samples=20,
        callbacks=["grid"],
        checkpoints_dir=str(tmp_path / "c"),
        samples_dir=str(tmp_path / "s"),
    )
    run, code = train(config, plugins_with(data=synthetic_data(64)), view=view)
    assert code == 0 and run.step == 6


@pytest.mark.usefixtures("one_torch_thread")
def test_a_tiny_run_on_a_terminal_draws_its_samples_and_sparklines(tmp_path):
    console = Console(width=100, force_terminal=True, record=True, file=io.StringIO())
    tiny_run(tmp_path, LiveView("train tiny", console=console))
    text = console.export_text()
    assert "img/s (" in text and " s avg)" in text
    assert "▀" * 14 in text and "samples at step 6" in text  # the end's grid, from the EMA generator
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")


@pytest.mark.usefixtures("one_torch_thread")
def test_a_tiny_run_into_a_pipe_prints_plain_lines(tmp_path, capsys):
    tiny_run(tmp_path, LiveView("train tiny", console=Console(file=io.StringIO()), plain_interval=0))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[train tiny]")]
    assert len(lines) >= 6 and all(" s avg)  ETA " in line for line in lines[1:])
    assert not any(ch in "".join(lines) for ch in "▀▁▂▃▄▅▆▇█")


def test_scores_of_each_feature_space_are_labelled_and_never_mixed():
    from ganstudio.output.live import format_scores

    text = format_scores({"fid": 61.5, "floor_fid": 3.21, "fid_inception": 120.25, "kid_inception": 0.0184})
    assert text == "FD (classifier) 61.50 (floor 3.21)  FID (Inception) 120.25  KID×10³ 18.40"
