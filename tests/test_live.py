"""The training view: on a terminal, a progress line that keeps its bar at 80 columns and the metrics under it;
elsewhere, plain log lines."""

import io

from rich.console import Console

from ganstudio.builtin.models.dcgan.nets import DCGAN
from ganstudio.output.live import LiveView, format_duration

METRICS = {
    "loss_d": 1.02,
    "loss_g": 1.31,
    "d_real": 0.64,
    "d_fake": 0.36,
    "fid": 61.5,
    "kid": 1.84,
    "precision": 0.59,
    "recall": 0.61,
    "images_per_s": 2900.0,
}


def test_terminal_view_at_80_columns_keeps_the_bar_and_wraps_the_metrics():
    console = Console(width=80, force_terminal=True, record=True, file=io.StringIO())
    with LiveView("train fashion-dcgan", console=console) as view:
        view.update(0.42, 5600, 11.96, METRICS, 340, metric_specs=DCGAN.metrics)
        view.log("saved checkpoints/fashion-dcgan/last.pt")
    lines = console.export_text().splitlines()
    progress = [line for line in lines if "42%" in line][-1]
    assert progress.startswith("train fashion-dcgan ━")
    assert "step 5,600 ep 11.96" in progress and "2,900 img/s" in progress and "ETA 05:40" in progress
    assert all(len(line) <= 80 for line in lines)
    rest = " ".join(lines[lines.index(progress) + 1 :])
    for shown in ("D loss 1.020", "G loss 1.310", "D(x) 0.640", "D(G(z)) 0.360", "fid 61.5", "recall 0.61"):
        assert shown in rest
    assert "saved checkpoints/fashion-dcgan/last.pt" in lines


def test_plain_lines_when_not_a_terminal(capsys):
    with LiveView("train x", console=Console(file=io.StringIO()), plain_interval=0) as view:
        view.update(0.5, 100, 0.21, METRICS, 61, metric_specs=DCGAN.metrics)
        view.log("hello")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[train x]  50.0%  step 100  epoch 0.21  2,900 img/s  ETA 01:01  D loss 1.020")
    assert out[1] == "hello"


def test_format_duration():
    assert format_duration(None) == "--:--" and format_duration(float("inf")) == "--:--"
    assert format_duration(61) == "01:01" and format_duration(3725) == "1:02:05"
