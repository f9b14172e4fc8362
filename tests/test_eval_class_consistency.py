"""Class consistency in ``ganstudio eval`` of a class-conditional model: how often a classifier sees the samples as
the class asked for, per class, beside the floor of held-out real images; none for an unconditional model. Tiny
linear models from tests/tiny_models.py (``tiny``, ``tiny-cond``), 2 training steps (tests/sample_runs.py)."""

import json

import pytest
import torch
from sample_runs import FASHION, runs_in, train_sample_runs
from tiny_models import bar_row


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_sample_runs(tmp_path_factory.mktemp("eval-class-consistency"))


@pytest.fixture
def runs(trained, workdir, monkeypatch):
    # eval reads the data root a run recorded only where the user points ($GANSTUDIO_DATA or --data-root; issue 30)
    monkeypatch.setenv("GANSTUDIO_DATA", str(trained / "tiny"))
    return runs_in(trained, workdir)


def test_class_consistency_arithmetic():
    from ganstudio.scoring.evaluation import class_consistency

    asked = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    predicted = torch.tensor([0, 0, 1, 0, 1, 0, 0, 0, 1])
    probs = torch.nn.functional.one_hot(predicted, 4).float() * 0.7 + 0.075
    result = class_consistency(probs, asked, ["a", "b", "c", "d"])
    assert result == {
        "mean": (3 / 4 + 1 / 2 + 0) / 3,
        "worst_class": "c",
        "worst": 0.0,
        "per_class": {"a": 0.75, "b": 0.5, "c": 0.0},
    }  # only the classes asked for; each counts the same
    assert class_consistency(probs, asked)["per_class"] == {"0": 0.75, "1": 0.5, "2": 0.0}


def bar_reader(real_extract, misread=None):
    """The classifier's features, but class probabilities from reading which class's bar is brightest: a perfect
    classifier of the test data's pattern, and of tiny-cond's bars; ``misread={3: 4}`` reads every Dress bar, real
    or generated, as Coat."""

    def extract(classifier, images, device, batch_size=1000, progress=None):
        features, _ = real_extract(classifier, images, device, batch_size, progress)
        rows = images.float().mean(dim=(1, 3))  # (N, H): brightness of each row
        side = images.shape[2]
        scores = torch.stack([rows[:, bar_row(c, side) : bar_row(c, side) + 3].mean(1) for c in range(10)], 1)
        read = scores.argmax(1)
        for wrong, right in (misread or {}).items():
            read[read == wrong] = right
        return features, torch.nn.functional.one_hot(read, 10).float() * 0.9 + 0.01

    return extract


def test_eval_reports_class_consistency_of_a_conditional_model(cli, runs, monkeypatch, one_torch_thread):
    import ganstudio.scoring.evaluation as evaluation

    monkeypatch.setattr(evaluation, "extract", bar_reader(evaluation.extract))
    code, out, err = cli("eval", "bars", "--n", "40", "--json")
    assert code == 0, err
    result = json.loads(out)
    # 40 samples asked for the 10 classes in turn: 4 each. 'bars' draws every class right but Dress (as Coat).
    assert result["samples"]["class_counts"] == [4, 4, 4, 0, 8, 4, 4, 4, 4, 4]
    assert result["class_consistency"] == {
        "mean": 0.9,
        "worst_class": "Dress",
        "worst": 0.0,
        "per_class": {name: 0.0 if name == "Dress" else 1.0 for name in FASHION},
    }
    record = json.loads((runs / "checkpoints/bars/metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "eval" and record["class_consistency"] == 0.9

    code, out, err = cli("eval", "bars", "--n", "20")
    assert code == 0, err
    assert "class consistency" in out and "90.0%" in out and "Dress 0.0%" in out
    assert "seen as the class asked for: T-shirt/top 100.0%" in out

    result = json.loads(cli("eval", "bars", "--n", "6", "--class", "coat", "--json")[1])
    assert result["class_consistency"] == {"mean": 1.0, "worst_class": "Coat", "worst": 1.0, "per_class": {"Coat": 1.0}}


def test_eval_shows_the_real_floor_of_class_consistency(cli, runs, monkeypatch, one_torch_thread):
    """The floor is how often the classifier sees held-out real images as their own class: a classifier that reads
    every Dress as Coat gives real images 90% (Dress 0%), so a generator's 90% is as good as real images get."""
    import ganstudio.scoring.evaluation as evaluation

    monkeypatch.setattr(evaluation, "extract", bar_reader(evaluation.extract, misread={3: 4}))
    code, out, err = cli("eval", "bars", "--n", "64", "--json")  # all 64 test images: every class has some
    assert code == 0, err
    result = json.loads(out)
    assert result["class_consistency"]["mean"] == 0.9  # 'bars' draws Dress as Coat, and Dress reads as Coat anyway
    assert result["real"]["class_consistency"] == {
        "mean": 0.9,
        "worst_class": "Dress",
        "worst": 0.0,
        "per_class": {name: 0.0 if name == "Dress" else 1.0 for name in FASHION},
    }
    record = json.loads((runs / "checkpoints/bars/metrics.jsonl").read_text().splitlines()[-1])
    assert record["class_consistency"] == 0.9 and record["floor_class_consistency"] == 0.9

    code, out, err = cli("eval", "bars", "--n", "64")
    assert code == 0, err
    consistency_row = next(line for line in out.splitlines() if line.strip().startswith("class consistency"))
    assert consistency_row.count("90.0%") == 2  # samples and real held-out images
    assert "real held-out images seen as their class: T-shirt/top 100.0%" in out and "Dress 0.0%" in out

    # With --class, only that class's real images make the floor.
    result = json.loads(cli("eval", "bars", "--n", "64", "--class", "dress", "--json")[1])
    assert result["real"]["class_consistency"]["per_class"] == {"Dress": 0.0}
    result = json.loads(cli("eval", "bars", "--n", "64", "--class", "coat", "--json")[1])
    assert result["real"]["class_consistency"]["per_class"] == {"Coat": 1.0}


def test_eval_of_an_unconditional_model_has_no_class_consistency(cli, runs, one_torch_thread):
    code, out, err = cli("eval", "plain", "--n", "20", "--json")
    assert code == 0, err
    assert json.loads(out)["class_consistency"] is None and json.loads(out)["real"]["class_consistency"] is None
    record = json.loads((runs / "checkpoints/plain/metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "eval" and "class_consistency" not in record
    code, out, err = cli("eval", "plain", "--n", "20")
    assert code == 0 and "class consistency" not in out
