"""`runs`, `report` and the reproduce command list an option as changed only when it differs from the model's own
defaults (its batch size, EMA decay, options dataclass, and the dataset's default model options), and say the same
epoch as `train` said (issue 31)."""

import json
import re
import shlex

import pytest
from image_trees import make_image_folder

from ganstudio.output.summaries import reproduce_command, summarize
from ganstudio.store.checkpoint import load_checkpoint

SMALL_CDCGAN = ("--model-option", "width=8", "--model-option", "latent_dim=8", "--log-every", "1")


def runs_json(cli, *extra) -> dict:
    code, out, err = cli(*extra, "runs", "--json")
    assert code == 0, err
    return {r["name"]: r for r in json.loads(out)}


def test_a_cdcgan_run_with_its_own_defaults_shows_no_batch_size_or_ema(cli, tiny_idx, workdir, one_torch_thread):
    """cdcgan's own batch size (64) and EMA decay (0.999), and an option given at its default value, are not
    changes; what the user did change is, in runs, the report and the reproduce command."""
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model", "cdcgan", *SMALL_CDCGAN,
        "--model-option", "beta2=0.999", "--steps", "1", "--name", "own", "--callbacks", "log",
    )  # fmt: skip
    assert code == 0, err
    own = runs_json(cli)["own"]
    assert own["options"] == {"width": "8", "latent_dim": "8"}, own["options"]
    assert own["problem"] is None
    code, out, err = cli("runs")
    assert "batch_size" not in out and "ema_decay" not in out and "beta2" not in out

    code, out, err = cli("report", "own")
    assert code == 0, err
    page = (workdir / "samples/own/report.html").read_text()
    assert "batch_size=64" not in page and "ema_decay=0.999" not in page
    command = re.search(r"<pre>(ganstudio train [^<]*)</pre>", page).group(1)
    assert "--batch-size" not in command and "--ema-decay" not in command and "beta2" not in command


def test_what_differs_from_the_models_defaults_is_listed(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model", "cdcgan", *SMALL_CDCGAN,
        "--batch-size", "32", "--ema-decay", "0", "--steps", "1", "--name", "mine", "--callbacks", "log",
    )  # fmt: skip
    assert code == 0, err
    mine = runs_json(cli)["mine"]
    assert mine["options"] == {"width": "8", "latent_dim": "8", "batch_size": 32, "ema_decay": 0}


def test_the_datasets_default_model_options_are_not_changes(cli, workdir, one_torch_thread):
    """fashion-mini trains cdcgan with hinge=false: that is the default there; hinge=true (cdcgan's own default)
    differs from it, so it is listed, and the reproduce command passes it."""
    for name, extra in (("mini", ()), ("hinge", ("--model-option", "hinge=true"))):
        code, out, err = cli(
            "train", "--data", "fashion-mini", *SMALL_CDCGAN, *extra, "--steps", "1", "--name", name,
            "--callbacks", "log",
        )  # fmt: skip
        assert code == 0, err
    runs = runs_json(cli)
    assert runs["mini"]["options"] == {"width": "8", "latent_dim": "8"}
    assert runs["hinge"]["options"] == {"width": "8", "latent_dim": "8", "hinge": "true"}


def test_the_reproduce_command_trains_the_same_config(cli, tiny_idx, workdir, one_torch_thread):
    """Leaving out what equals the model's defaults loses nothing: the command, run, records the same settings."""
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model", "cdcgan", *SMALL_CDCGAN,
        "--model-option", "hinge=false", "--augment", "on", "--steps", "1", "--name", "first", "--callbacks", "log",
    )  # fmt: skip
    assert code == 0, err
    from ganstudio.plugins import load_plugins

    plugins = load_plugins(local=False, entry_points=False)
    args = shlex.split(reproduce_command(summarize(workdir / "checkpoints/first", plugins), plugins))[1:]
    assert "--batch-size" not in args and "--ema-decay" not in args, " ".join(args)
    args[args.index("--name") + 1] = "again"
    code, out, err = cli(*args, "--callbacks", "log")
    assert code == 0, err
    first, again = (load_checkpoint(f"checkpoints/{n}/last.pt")["config"] for n in ("first", "again"))
    for key in ("batch_size", "ema_decay", "seed", "augment", "precision", "data"):
        assert first[key] == again[key], key
    assert (
        load_checkpoint("checkpoints/again/last.pt")["model"]["config"]["options"]
        == (load_checkpoint("checkpoints/first/last.pt")["model"]["config"]["options"])
    )


PLUGIN = """
from ganstudio import hookimpl
from ganstudio.api import ModelPlugin
from tiny_models import TinyGAN


@hookimpl
def register_models(register):
    register(ModelPlugin("mine", TinyGAN, batch_size=16, ema_decay=0.9, description="a third-party model"))
"""


def test_a_run_of_a_model_not_installed_shows_what_its_checkpoint_records(cli, tiny_idx, workdir, one_torch_thread):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/mine.py").write_text(PLUGIN)
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model", "mine", "--model-option",
        "batches_per_step=1", "--steps", "2", "--name", "third", "--callbacks", "log",
    )  # fmt: skip
    assert code == 0, err
    assert runs_json(cli)["third"]["options"] == {"batches_per_step": "1"}  # installed: its defaults are known
    without = runs_json(cli, "--no-plugins")["third"]
    assert without["options"] == {"batches_per_step": "1", "batch_size": 16, "ema_decay": 0.9}
    assert without["problem"] is None and without["status"] == "finished"


def test_a_folder_run_shows_the_same_epoch_in_train_and_runs(cli, tmp_path, workdir, one_torch_thread):
    """82 images in batches of 32: an epoch is 2 whole batches (64 images), so 3 steps are epoch 1.50 in both."""
    root = make_image_folder(tmp_path / "pics", count=82, side=16)
    code, out, err = cli(
        "train", "--data", "folder", "--data-root", root, "--image-size", "16", "--channels", "1", "--model",
        "dcgan", "--model-option", "width=8", "--batch-size", "32", "--steps", "3", "--callbacks", "log",
    )  # fmt: skip
    assert code == 0, err
    assert "epoch 1.50" in out
    run = runs_json(cli)["folder-dcgan"]
    assert run["epochs"] == pytest.approx(1.5)
    code, out, err = cli("runs")
    assert "3 · 1.50" in out
