"""Plugins own their options: typed, validated in one line, listed in --help under the plugin's name; and the
run-level promises of the new core: resume keeps the data root, old checkpoints load, run names are plain."""

import pytest
import torch
from conftest import FAST

from ganstudio.builtin.models.dcgan.nets import DCGAN
from ganstudio.output.live import format_metrics
from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=16", *FAST)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(cli, tiny_idx, *extra):
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *extra)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--model-option", "width=abc"),
            "error: model 'dcgan' option width (integer): expected a whole number, got 'abc'",
        ),
        (
            ("--model-option", "lr=0"),
            "error: model 'dcgan' option lr (number): expected a number greater than 0, got 0",
        ),
        (
            ("--model-option", "channels_last=maybe"),
            "error: model 'dcgan' option channels_last (true/false): expected true or false, got 'maybe'",
        ),
        (
            ("--model-option", "depth=3"),
            "error: model 'dcgan' has no option depth; options: beta1, beta2, channels_last, latent_dim, lr, width",
        ),
        (("--gif-fps", "fast"), "error: callback 'gif' option fps (number): expected a number, got 'fast'"),
        (("--gif-max-frames", "1"), "error: callback 'gif' option max_frames (integer): expected at least 2, got 1"),
        (("--eval-every", "0"), "error: callback 'eval' option every (integer or none): expected at least 1, got 0"),
        (("--data-option", "size=3"), "error: dataset 'fashion' takes no options, got size"),
        (("--name", "../elsewhere"), "error: run name '../elsewhere' is not a plain name"),
    ],
)
def test_bad_plugin_options_are_one_line(cli, tiny_idx, args, message):
    code, out, err = train(cli, tiny_idx, "--steps", "1", *args)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_help_lists_each_plugins_options_under_its_name(capsys):
    from ganstudio.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help", "--model", "dcgan"])  # a model's own options: asked for by name (issue 31)
    text = capsys.readouterr().out
    assert "model 'dcgan' (--model-option KEY=VALUE):" in text and "width (integer, default 64)" in text
    assert "callback 'gif' (ganstudio.builtin.callbacks.gif):" in text and "--gif-max-frames" in text
    assert "callback 'eval' (ganstudio.builtin.callbacks.eval):" in text and "--eval-every" in text


THIRD_PARTY = """
from dataclasses import dataclass
import _shared
from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, option

@dataclass
class StampOptions:
    word: str = option("hi", "what to write")
    times: int = option(1, "how often", min=1)

class Stamp:
    def __init__(self, options):
        self.options = options

    @hookimpl
    def after_training_run(self, run):
        (run.samples_dir / "stamp.txt").write_text(_shared.repeat(self.options.word, self.options.times))

@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("stamp", Stamp, "writes a word", default=False, options=StampOptions))
"""


def test_a_third_party_callback_gets_its_own_flags_and_plugin_files_share_a_module(cli, workdir, tiny_idx):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/stamp.py").write_text(THIRD_PARTY)
    (workdir / "plugins/_shared.py").write_text("def repeat(word, times):\n    return ' '.join([word] * times)\n")
    code, out, err = train(
        cli, tiny_idx, "--steps", "2", "--callbacks", "stamp", "--stamp-word", "ok", "--stamp-times", "3"
    )
    assert code == 0, err
    assert (workdir / "samples/fashion-dcgan/stamp.txt").read_text() == "ok ok ok"
    code, out, err = train(cli, tiny_idx, "--steps", "2", "--callbacks", "stamp", "--stamp-times", "0", "--name", "b")
    assert code == 2 and "callback 'stamp' option times (integer): expected at least 1, got 0" in err


def test_resume_keeps_the_data_root_unless_a_new_one_is_given(cli, workdir, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    code, out, err = cli("train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "4")
    assert code == 0, err
    assert f"from {tiny_idx} (--data-root)" in out, "the run's own data, not the embedded fallback"
    code, out, err = cli(
        "train", "--data", "fashion", "--model", "dcgan", "--resume", "--steps", "6", "--data-root", workdir / "missing"
    )
    assert code == 2 and "--data-root" in err and "missing" in err


def to_version_1(ckpt: dict) -> dict:
    """The shape ganstudio 0.1 wrote: flat data options, fixed_noise, no images count."""
    config = dict(ckpt["config"])
    data = config.pop("data")
    config.update(
        data=data["name"],
        data_root=data["root"],
        download=data["download"],
        image_size=data["image_size"],
        channels=data["channels"],
        callback_options={"grid_every": config.pop("grid_every")},
    )
    model = dict(ckpt["model"])
    model["config"] = {k: model["config"][k] for k in ("image_shape", "num_classes", "options")}
    old = {k: v for k, v in ckpt.items() if k not in ("fixed_latents", "fixed_labels", "callbacks")}
    return {
        **old,
        "version": 1,
        "config": config,
        "model": model,
        "fixed_noise": ckpt["fixed_latents"],
        "progress": {k: v for k, v in ckpt["progress"].items() if k != "images_seen"},
    }


def test_a_version_1_checkpoint_samples_and_resumes(cli, workdir, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "3")[0] == 0
    path = workdir / "checkpoints/fashion-dcgan/last.pt"
    torch.save(to_version_1(load_checkpoint(path)), path)
    assert torch.load(path, weights_only=True)["version"] == 1
    code, out, err = cli("sample", "fashion-dcgan", "--n", "4")
    assert code == 0, err
    code, out, err = cli("train", "--name", "fashion-dcgan", "--resume", "--steps", "5")
    assert code == 0, err
    progress = load_checkpoint(path)["progress"]
    assert progress["step"] == 5 and progress["images_seen"] == 5 * 32


def test_sample_takes_a_run_name_and_says_which_run(cli, workdir, tiny_idx):
    assert train(cli, tiny_idx, "--steps", "2", "--name", "first")[0] == 0
    assert train(cli, tiny_idx, "--steps", "2", "--name", "second")[0] == 0
    code, out, err = cli("sample", "first", "--n", "4")
    assert code == 0 and "(run 'first'" in out and (workdir / "samples/first/sample-4-seed0.png").exists()
    code, out, err = cli("sample", "--n", "4")
    assert code == 0 and "the newest gan run, 'second'" in out
    code, out, err = cli("sample", "third", "--n", "4")
    assert code == 2 and "no run 'third' under checkpoints/ (runs there: first, second)" in err
    # A checkpoint file where the run name goes: one line that says to pass it as --checkpoint.
    path = str(workdir / "checkpoints/first/last.pt")
    code, out, err = cli("sample", path, "--n", "4")
    assert (
        code == 2
        and f"'{path}' is a file, not a run name: pass it as --checkpoint {path}" in err
        and err.count("\n") == 1
    )


def test_metrics_are_shown_as_their_model_declares():
    from ganstudio.api import Metric

    specs = {**DCGAN.metrics, "lr": Metric("lr", "learning rate", format="{:.2e}")}
    text = format_metrics(
        {"loss_d": 0.61234, "d_real": 0.5, "lr": 0.0002, "w_distance": 0.00012345, "images_per_s": 9.0}, specs
    )
    assert text == "D loss 0.612  D(x) 0.500  lr 2.00e-04  w_distance 0.0001234"


def test_curves_draw_a_panel_per_declared_group(tmp_path):
    from ganstudio.builtin.callbacks.curves import panels

    records = [
        {"step": s, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.6, "d_fake": 0.4, "lr": 1e-4, "critic": -3.0 * s}
        for s in range(1, 5)
    ]
    groups = [(group, [key for key, _ in members]) for group, members in panels(records, DCGAN.metrics)]
    assert groups == [
        ("losses", ["loss_d", "loss_g"]),
        ("discriminator outputs", ["d_real", "d_fake"]),
        ("lr", ["lr"]),
        ("critic", ["critic"]),
    ]


def test_the_callbacks_docs_example_passes_the_contract_kit(tmp_path):
    import importlib.util
    import re
    from pathlib import Path

    from ganstudio.testing import check_callback_plugin

    docs = (Path(__file__).resolve().parent.parent / "docs" / "callbacks.md").read_text()
    code = re.search(r"## Writing your own.*?```python\n(.*?)```", docs, re.S).group(1)
    (tmp_path / "print_best.py").write_text(code)
    spec = importlib.util.spec_from_file_location("print_best_example", tmp_path / "print_best.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check_callback_plugin(module, "print-best", tmp_path / "run", options={"metric": "loss_d"})


def test_with_adds_a_callback_to_the_defaults(cli, workdir, tiny_idx):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/stamp.py").write_text(THIRD_PARTY)
    (workdir / "plugins/_shared.py").write_text("def repeat(word, times):\n    return ' '.join([word] * times)\n")
    code, out, err = train(cli, tiny_idx, "--steps", "2", "--with", "stamp")
    assert code == 0, err
    samples = workdir / "samples/fashion-dcgan"
    assert (
        (samples / "stamp.txt").read_text() == "hi"
        and (samples / "timeline.gif").exists()
        and (samples / "curves.png").exists()
    )
    assert "outputs in samples/fashion-dcgan/ (" in out


def test_sample_scale_enlarges_the_pictures(cli, workdir, tiny_idx):
    import imageio.v3 as iio

    assert train(cli, tiny_idx, "--steps", "2")[0] == 0
    code, out, err = cli("sample", "--n", "144", "--scale", "3")
    assert code == 0, err
    grid = iio.imread(workdir / "samples/fashion-dcgan/sample-144-seed0.png")
    assert grid.shape == (3 * (12 * 30 + 2),) * 2 and "1086x1086 px" in out
    code, out, err = cli("sample", "--n", "2", "--scale", "2", "--out", "samples/pngs/")
    assert code == 0 and iio.imread(workdir / "samples/pngs/seed000000.png").shape == (56, 56)


def test_show_writes_under_samples_by_default(cli, workdir):
    code, out, err = cli("show", "--data", "mnist-mini", "--rows", "2", "--cols", "3")
    assert code == 0, err
    assert (workdir / "samples/show/mnist-mini-train-2x3.png").is_file() and not list(workdir.glob("*.png"))


def test_an_option_added_later_rebuilds_old_checkpoints_with_its_before_value():
    from dataclasses import dataclass

    from ganstudio.api import option
    from ganstudio.api.options import parse_options, recorded_options

    @dataclass
    class Options:
        width: int = option(32, "channels")
        ac: float = option(1.0, "added later", min=0, before=0.0)

    assert parse_options(Options, {}, "model 'm'").ac == 1.0  # a new run gets the default
    assert recorded_options(Options, {"width": 64}) == {"width": 64, "ac": 0.0}  # a checkpoint from before the option
    assert recorded_options(Options, {"width": 64, "ac": 2.0}) == {"width": 64, "ac": 2.0}  # one that recorded it
    assert recorded_options(None, {}) == {}
