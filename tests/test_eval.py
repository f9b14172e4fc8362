"""``ganstudio eval`` end to end on tiny data: JSON keys and types, the metrics file, --samples, a classifier
trained on demand, the dataset-mismatch error, and --eval-every during training."""

import json
import shutil

import numpy as np
import pytest
from conftest import make_idx_dataset

from ganstudio.cli import main
from ganstudio.store.checkpoint import load_checkpoint

GAN = (
    "--model",
    "dcgan",
    "--model-option",
    "width=8",
    "--batch-size",
    "32",
    "--log-every",
    "2",
    "--ema-decay",
    "0.999",
)
CLASSIFIER = ("--model", "classifier", "--model-option", "width=8", "--batch-size", "32", "--log-every", "4")
SCORES = {
    "fid": float,
    "kid": float,
    "kid_std": float,
    "inception_score": float,
    "inception_score_std": float,
    "precision": float,
    "recall": float,
    "density": float,
    "coverage": float,
    "class_counts": list,
    "rarest_class": str,
    "rarest_share": float,
    "commonest_class": str,
    "commonest_share": float,
    "images": int,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny data, a 6-step DCGAN and a 3-epoch classifier, made once for the module."""
    root = tmp_path_factory.mktemp("eval")
    data = make_idx_dataset(root / "tiny", n_train=256, n_test=128)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        assert main(["train", "--data", "fashion", "--data-root", str(data), *GAN, "--steps", "6"]) == 0
        assert main(["train", "--data", "fashion", "--data-root", str(data), *CLASSIFIER, "--epochs", "3"]) == 0
    return root


@pytest.fixture
def checkpoints(trained, workdir, monkeypatch):
    shutil.copytree(trained / "checkpoints", workdir / "checkpoints")
    # eval reads the data root a run recorded only where the user points ($GANSTUDIO_DATA or --data-root; issue 30)
    monkeypatch.setenv("GANSTUDIO_DATA", str(trained / "tiny"))
    return workdir / "checkpoints"


def eval_json(cli, *args):
    code, out, err = cli("eval", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_eval_json_keys_types_and_metrics_file(cli, checkpoints):
    result = eval_json(cli, "--n", "100")
    assert result["checkpoint"] == "checkpoints/fashion-dcgan/last.pt"  # the newest GAN checkpoint
    # issue 31: fashion is scored in the shipped classifier's feature space, not in checkpoints/fashion-classifier's
    assert result["classifier_version"] == "fashion-cnn-v1" and result["classifier_shipped"] is True
    assert result["data"] == "fashion" and "(--data-root)" in result["data_source"]  # data found as the GAN's run did
    assert result["n"] == 100 and result["reference_images"] == 100 and result["step"] == 6
    assert isinstance(result["classifier_test_accuracy"], float)
    assert len(result["classes"]) == 10
    for which in ("samples", "real"):
        for key, kind in SCORES.items():
            assert isinstance(result[which][key], kind), (which, key, result[which][key])
        assert sum(result[which]["class_counts"]) == result[which]["images"]
    # held-out real images sit much closer to the training images than a 6-step GAN's samples
    assert result["real"]["fid"] < result["samples"]["fid"]
    assert result["real"]["precision"] > result["samples"]["precision"]

    lines = (checkpoints / "fashion-dcgan/metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["event"] == "eval" and record["step"] == 6 and record["fid"] == result["samples"]["fid"]
    assert record["floor_fid"] == result["real"]["fid"]
    assert record["classifier_version"] == "fashion-cnn-v1"
    assert result["class_consistency"] is None and "class_consistency" not in record  # an unconditional DCGAN
    assert result["weights"] == record["weights"] == "ema"  # the averaged generator, unless --no-ema

    raw = eval_json(cli, "--n", "100", "--no-ema")
    assert raw["weights"] == "raw" and raw["samples"]["fid"] != result["samples"]["fid"]
    assert raw["real"]["fid"] == result["real"]["fid"]  # the same real images, only the generator changed


def test_eval_table_output(cli, checkpoints):
    code, out, err = cli("eval", "--n", "64")
    assert code == 0, err
    for label in (
        "FD (classifier)",  # issue 32: every score names its feature space; the classifier's distance is no FID
        "KID×10³",
        "Inception Score",
        "precision",
        "recall",
        "density",
        "coverage",
        "rarest class",
        "samples per class",
    ):
        assert label in out
    assert "appended to checkpoints/fashion-dcgan/metrics.jsonl" in out


def test_samples_from_a_file_real_images_beat_noise(cli, checkpoints, trained, workdir):
    from ganstudio.builtin.datasets.idx_files import read_idx

    real = read_idx(trained / "tiny/t10k-images-idx3-ubyte.gz").numpy()  # (N, 28, 28) uint8
    np.savez(workdir / "real.npz", images=real[..., None])  # (N, H, W, C), as ganstudio sample writes
    np.savez(workdir / "noise.npz", np.random.default_rng(0).random((128, 28, 28)))  # floats in [0, 1], unnamed
    data = ("--data", "fashion", "--data-root", trained / "tiny")
    real_scores = eval_json(cli, "--samples", "real.npz", *data)
    noise_scores = eval_json(cli, "--samples", "noise.npz", *data)
    assert real_scores["checkpoint"] is None and real_scores["metrics_file"] is None and real_scores["n"] == 128
    assert real_scores["samples"]["fid"] < noise_scores["samples"]["fid"]
    assert real_scores["samples"]["precision"] > noise_scores["samples"]["precision"]

    np.savez(workdir / "bad.npz", images=np.zeros((4, 5), dtype=np.uint8))
    code, out, err = cli("eval", "--samples", "bad.npz", *data)
    assert code == 2 and "expected images" in err and "Traceback" not in err


def test_classifier_is_trained_when_missing(cli, trained, workdir, monkeypatch):
    import ganstudio.train.classifier as on_demand
    from ganstudio.scoring import shipped

    monkeypatch.setattr(on_demand, "AUTO_TRAIN_EPOCHS", 2)
    # issue 31: fashion has a shipped classifier; a package that ships none (a source tree before
    # scripts/train_eval_classifiers.py ran) trains one on demand, as any dataset without one does
    monkeypatch.setattr(shipped, "MANIFEST", workdir / "no-classifiers.json")
    shutil.copytree(trained / "checkpoints/fashion-dcgan", workdir / "checkpoints/fashion-dcgan")
    result = eval_json(cli, "--n", "50", "--data-root", trained / "tiny")
    assert result["classifier"] == "checkpoints/fashion-classifier/last.pt"
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-classifier/last.pt")
    assert ckpt["progress"]["step"] == 2 * (256 // 128) and "test_accuracy" in ckpt["results"]


def test_dataset_of_checkpoint_and_classifier_differ(cli, trained, checkpoints, workdir):
    # a classifier trained on 'mnist' cannot score a GAN trained on 'fashion'
    code, out, err = cli("train", "--data", "mnist", "--data-root", trained / "tiny", *CLASSIFIER, "--steps", "2")
    assert code == 0, err
    code, out, err = cli(
        "eval",
        "--checkpoint",
        "checkpoints/fashion-dcgan/last.pt",
        "--classifier",
        "checkpoints/mnist-classifier/last.pt",
    )
    assert code == 2
    assert "trained on 'mnist'" in err and "'fashion'" in err and "Traceback" not in err
    code, out, err = cli("eval", "--data", "mnist")
    assert code == 2 and "trained on 'fashion', not 'mnist'" in err
    code, out, err = cli("eval", "--classifier", "checkpoints/fashion-dcgan/last.pt")
    assert code == 2 and "not a classifier" in err


def test_a_classifier_of_data_with_the_same_classes_is_accepted(cli, trained, checkpoints, workdir):
    # fashion-mini is a subset of Fashion-MNIST: a classifier trained on it has the same classes and image shape
    code, out, err = cli("train", "--data", "fashion-mini", *CLASSIFIER, "--steps", "2")
    assert code == 0, err
    code, out, err = cli(
        "eval", "fashion-dcgan", "--n", "64", "--json", "--classifier", "checkpoints/fashion-mini-classifier/last.pt"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["classifier"] == "checkpoints/fashion-mini-classifier/last.pt" and result["data"] == "fashion"
    assert "note: the classifier was trained on" in err


def test_eval_every_logs_scores_and_keeps_best(cli, trained, checkpoints, workdir):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        trained / "tiny",
        *GAN,
        "--name",
        "watched",
        "--steps",
        "8",
        "--eval-every",
        "4",
        "--callbacks",
        "eval",
    )
    assert code == 0, err
    assert "eval at step 4: FD (classifier)" in out and "eval at step 8: FD (classifier)" in out
    best = load_checkpoint(workdir / "checkpoints/watched/best.pt")
    last = load_checkpoint(workdir / "checkpoints/watched/last.pt")
    assert best["results"]["eval"]["step"] in (4, 8)
    printed = [float(line.split("FD (classifier) ")[1].split()[0]) for line in out.splitlines() if "eval at" in line]
    assert best["results"]["eval"]["fid"] <= min(printed) + 0.005  # printed to 2 decimals
    assert "fid" in last["metrics"] and "kid" in last["metrics"], "the latest score joins the logged metrics"


def test_every_in_training_eval_lands_in_the_log_and_curves_at_its_step(cli, trained, checkpoints, workdir):
    """The last eval (at the final step) is not lost, and each score is logged at the step it was measured."""
    from ganstudio.builtin.callbacks.curves import panels
    from ganstudio.builtin.callbacks.eval import SCORES
    from ganstudio.store.rundir import read_metrics

    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        trained / "tiny",
        "--model-option",
        "width=8",
        "--batch-size",
        "32",
        "--log-every",
        "3",
        "--name",
        "scored",
        "--steps",
        "8",
        "--eval-every",
        "4",
        "--callbacks",
        "eval,log",
    )
    assert code == 0, err
    records = read_metrics(workdir / "checkpoints/scored/metrics.jsonl")
    scored = [r["step"] for r in records if "fid" in r]
    assert scored == [4, 8], "log every 3, eval every 4: the eval steps get records of their own, the last one too"
    assert records[-1]["step"] == 8 and "fid" in records[-1]
    groups = dict(panels(records, SCORES))
    assert [key for key, _ in groups["Fréchet distance"]] == ["fid"]
