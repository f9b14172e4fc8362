"""The evaluation classifiers shipped in the package: eval and --eval-every score fashion/mnist (and their -mini
subsets) in one feature space with no training, records name its version, a changed file is refused, a custom
dataset says how long its classifier takes before training one; and two display fixes of eval (KID below 0, the
line naming the checkpoint)."""

import json
import shutil
import time

import numpy as np
import pytest
import torch

from ganstudio.scoring import shipped
from ganstudio.scoring.table import score

TINY_GAN = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "32", "--log-every", "2")

LABELLED_PLUGIN = """
import torch
from ganstudio import hookimpl
from ganstudio.api import DatasetPlugin, ImageData

def bars(request):
    n = 256 if request.split == "train" else 64
    g = torch.Generator().manual_seed(0 if request.split == "train" else 1)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 40, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 0, 2 + 6 * label : 5 + 6 * label, 3:-3] = 220
    return ImageData(images, labels, classes=["a", "b", "c", "d"], source="bars (a test plugin)")

@hookimpl
def register_datasets(register):
    register(DatasetPlugin("bars", bars, "labelled bars, a custom dataset"))
"""


def classifier_folders(workdir):
    return sorted(p.name for p in (workdir / "checkpoints").glob("*-classifier"))


def test_every_builtin_labelled_dataset_has_a_shipped_classifier():
    for data, version in (("fashion", "fashion-cnn-v1"), ("fashion-mini", "fashion-cnn-v1")):
        entry = shipped.shipped_for(data)
        assert entry is not None and entry.version == version and entry.test_accuracy > 0.85
        assert entry.size == entry.path.stat().st_size < 2 * 2**20, "small enough to ship"
        shipped.verify(entry)
    assert shipped.shipped_for("mnist").version == shipped.shipped_for("mnist-mini").version == "mnist-cnn-v1"
    assert shipped.shipped_for("folder") is None and shipped.shipped_for("celeba") is None


def test_eval_of_a_tiny_fashion_mini_run_uses_the_shipped_classifier_and_trains_nothing(cli, workdir):
    code, out, err = cli("train", "--data", "fashion-mini", *TINY_GAN, "--steps", "4", "--name", "tiny")
    assert code == 0, err
    started = time.monotonic()
    code, out, err = cli("eval", "tiny", "--n", "200", "--json")
    assert code == 0, err
    assert time.monotonic() - started < 30, "scores at once: no classifier to train"
    result = json.loads(out)
    assert result["classifier_version"] == "fashion-cnn-v1" and result["classifier_shipped"] is True
    assert classifier_folders(workdir) == [], "no classifier was trained"
    assert "note: the classifier was trained on" not in err, "the shipped one serves the subset without a note"
    record = json.loads((workdir / "checkpoints/tiny/metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "eval" and record["classifier_version"] == "fashion-cnn-v1"

    code, out, err = cli("eval", "tiny", "--n", "100")
    assert code == 0, err
    assert "feature space: fashion-cnn-v1 (shipped with ganstudio" in out


def test_eval_every_uses_the_shipped_classifier(cli, workdir, tiny_idx):
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *TINY_GAN, "--steps", "4", "--eval-every", "2",
        "--eval-samples", "64", "--callbacks", "eval",
    )  # fmt: skip
    assert code == 0, err
    assert "feature space of fashion-cnn-v1" in out and "eval at step 4: FD (classifier)" in out
    assert classifier_folders(workdir) == []
    best = torch.load(workdir / "checkpoints/fashion-dcgan/best.pt", weights_only=True)["results"]
    assert best["eval"]["classifier_version"] == "fashion-cnn-v1"


def test_eval_every_records_the_floor_of_real_images_beside_the_score(cli, workdir, tiny_idx):
    """The floor: FID of 64 other training images (none shared with the 64 of the reference) against it, computed
    once, logged at the start and recorded with every eval, so the live view, runs and report show it."""
    import json

    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *TINY_GAN, "--steps", "4", "--eval-every", "2",
        "--eval-samples", "64", "--callbacks", "eval,log",
    )  # fmt: skip
    assert code == 0, err
    assert "floor FD (classifier)" in out and "(real vs real)" in out
    records = [json.loads(line) for line in (workdir / "checkpoints/fashion-dcgan/metrics.jsonl").open()]
    evals = [r for r in records if "fid" in r]
    assert [r["step"] for r in evals] == [2, 4]
    floors = {r["floor_fid"] for r in evals}
    assert len(floors) == 1 and 0 <= floors.pop() < min(r["fid"] for r in evals)


def test_a_changed_shipped_file_is_refused_in_one_line(cli, workdir, tiny_idx, monkeypatch):
    copy = workdir / "shipped"
    shutil.copytree(shipped.FOLDER, copy)
    entry = shipped.shipped_for("fashion", copy / "classifiers.json")
    data = bytearray(entry.path.read_bytes())
    data[-100] ^= 1
    entry.path.write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "MANIFEST", copy / "classifiers.json")
    np_path = workdir / "real.npz"
    np.savez(np_path, images=np.zeros((16, 28, 28), dtype=np.uint8))
    code, out, err = cli("eval", "--samples", np_path, "--data", "fashion", "--data-root", tiny_idx)
    assert code == 2 and "sha256" in err and "fashion-cnn-v1" in err and "reinstall ganstudio" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_custom_dataset_says_how_long_its_classifier_takes_before_training(cli, workdir, monkeypatch):
    import ganstudio.train.classifier as on_demand

    monkeypatch.setattr(on_demand, "AUTO_TRAIN_EPOCHS", 1)
    (workdir / "plugins").mkdir(exist_ok=True)
    (workdir / "plugins/bars.py").write_text(LABELLED_PLUGIN)
    code, out, err = cli("train", "--data", "bars", *TINY_GAN, "--steps", "2", "--name", "b")
    assert code == 0, err
    code, out, err = cli("eval", "b", "--n", "64")
    assert code == 0, err
    lines = out.splitlines()
    said = next(i for i, line in enumerate(lines) if "no classifier ships with ganstudio for 'bars'" in line)
    line = lines[said]
    assert "(1 epoch, 2 steps on 256 images" in line and " on this machine" in line and "about " in line
    assert "pass --classifier PATH" in line
    trained = [i for i, line in enumerate(lines) if "test accuracy" in line]
    assert trained and min(trained) > said, "said before training"
    assert classifier_folders(workdir) == ["bars-classifier"]
    code, out, err = cli("eval", "b", "--n", "64", "--json")
    assert code == 0 and json.loads(out)["classifier_version"].startswith("local-"), err


def test_unlabelled_custom_data_says_to_pass_a_classifier(cli, workdir):
    folder = workdir / "pics"
    folder.mkdir()
    from PIL import Image

    for i in range(40):
        Image.new("L", (28, 28), color=i * 5).save(folder / f"{i}.png")
    code, out, err = cli("train", "--data", "folder", "--data-root", folder, "--image-size", "32", "--channels", "1",
                         *TINY_GAN, "--steps", "2", "--name", "f")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("eval", "f", "--n", "16", "--data-root", folder)
    assert code == 2 and "none ships with ganstudio" in err and "--classifier PATH" in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.splitlines()[-1]], err


def test_kid_below_zero_is_shown_as_about_zero():
    kid = score("kid")
    assert kid.show(-0.03206) == "≈0" and kid.show(0.0281234) == "28.12" and kid.show(0.0) == "0.00"
    assert score("fid").show(-1.0) == "-1.00", "only an unbiased estimate is read as about 0"


def test_eval_report_explains_a_kid_below_zero(capsys):
    from ganstudio.builtin.commands.eval_report import print_report

    scores = {"fid": 1.0, "kid": -0.03206, "kid_std": 0.07, "inception_score": 9.0, "precision": 0.8, "recall": 0.8}
    scores |= {"density": 1.0, "coverage": 0.9, "class_counts": [5, 5], "images": 10}
    scores |= {"rarest_class": "a", "rarest_share": 0.5, "commonest_class": "b", "commonest_share": 0.5}
    result = {"checkpoint": None, "samples_file": "x.npz", "step": None, "weights": None, "classifier": "c.pt"}
    result |= {"classifier_version": "local-0123", "classifier_shipped": False, "classifier_test_accuracy": None}
    result |= {"n": 10, "reference_images": 10, "data_source": "s", "samples": scores, "real": scores}
    result |= {"classes": ["a", "b"], "metrics_file": None, "seconds": 1.0, "protocol": {"samples": 10}}
    print_report(result, "real (held-out test)")
    out = capsys.readouterr().out
    assert "≈0" in out and "-32.06" in out and "indistinguishable" in out


def test_the_line_naming_the_checkpoint_is_not_broken(cli, workdir, tiny_idx, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    name = "a-run-with-a-rather-long-name-" + "x" * 40
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY_GAN, "--steps", "2",
                         "--name", name)  # fmt: skip
    assert code == 0, err
    code, out, err = cli("eval", name, "--n", "32", "--json", "--data-root", tiny_idx)
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("scoring "))
    assert line.endswith(f"'{name}': checkpoints/{name}/last.pt"), "one line, however narrow the terminal"


@pytest.mark.parametrize("data", ["fashion", "mnist"])
def test_the_shipped_weights_are_what_the_manifest_says(data):
    from ganstudio.plugins import load_plugins

    entry = shipped.shipped_for(data)
    model, ckpt = shipped.load_shipped(entry, load_plugins(entry_points=False, local=False, quiet=True))
    info = ckpt["results"]["shipped"]
    assert info["version"] == entry.version and ckpt["data"]["name"] == data
    assert abs(ckpt["results"]["test_accuracy"] - entry.test_accuracy) < 0.01
    assert model.kind == "classifier" and not model.training
