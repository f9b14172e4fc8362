"""One score table (ganstudio/scoring/table.py): eval's JSON and table, the eval callback, curves, the metrics line,
report and runs all read their scores, labels, directions and formats from it; scoring imports no built-in."""

import json
import subprocess
import sys
from dataclasses import fields
from types import SimpleNamespace

import torch
from rich.console import Console

from ganstudio.config import TrainConfig
from ganstudio.scoring.table import BEST, KEYS, SCORES, TRAINING_SCORES, score

VALUES = {
    "fid": 12.3456,
    "kid": 0.0281234,
    "inception_score": 7.891,
    "precision": 0.81234,
    "recall": 0.45678,
    "density": 0.98765,
    "coverage": 0.7654,
}


def test_the_table_has_one_entry_per_score_with_what_every_consumer_needs():
    assert KEYS == ("fid", "kid", "inception_score", "precision", "recall", "density", "coverage")
    assert all(s.better in ("lower", "higher", "about 1") for s in SCORES)
    assert score("density").better == "about 1", "the one direction for density (report once said 'closer to 1')"
    assert score("kid").show(0.0281234) == "28.12" and score("fid").show(12.3456) == "12.35"
    assert BEST.key == "fid" and BEST.floor == "floor_fid"
    assert [s.key for s in TRAINING_SCORES] == ["fid", "kid", "precision", "recall", "density", "coverage"]


def test_the_table_is_plain_data_and_scoring_imports_no_builtin_and_no_engine():
    code = (
        "import sys, ganstudio.scoring.table; assert 'torch' not in sys.modules, 'table imports torch'\n"
        "import ganstudio.scoring.evaluation, ganstudio.scoring.samples\n"
        "higher = ('ganstudio.builtin', 'ganstudio.train', 'ganstudio.output')\n"
        "bad = [m for m in sys.modules if m.startswith(higher)]\n"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_eval_json_holds_every_score_of_the_table():
    from ganstudio.scoring.evaluation import Reference, score_features

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200, 8, generator=g), torch.randn(150, 8, generator=g)
    probs = torch.softmax(torch.randn(200, 4, generator=g), 1)
    scores = score_features(Reference(real, probs), fake, probs[:150], kid_subsets=5, kid_subset_size=50)
    assert set(KEYS) <= set(scores)


def fake_result(**extra) -> dict:
    counts = {
        "class_counts": [5, 5],
        "rarest_class": "a",
        "rarest_share": 0.5,
        "commonest_class": "b",
        "commonest_share": 0.5,
    }
    return {"samples": {**VALUES, **counts}, "real": {**VALUES, **counts, "class_consistency": None}, **extra}


def test_eval_table_prints_every_score_with_its_label_format_and_direction():
    from ganstudio.builtin.commands.eval_report import score_table
    from ganstudio.scoring.table import labelled

    console = Console(record=True, width=200)
    console.print(score_table(fake_result(), "real (held-out test)"))
    text = console.export_text()
    for s in SCORES:
        # issue 32: the label names the feature space ("FD (classifier)")
        row = next(line for line in text.splitlines() if line.strip().startswith(labelled(s, "classifier")))
        assert row.count(s.show(VALUES[s.key])) == 2 and row.rstrip().endswith(s.better), row


def test_eval_metrics_line_holds_every_score_and_the_recorded_floors(tmp_path):
    from ganstudio.builtin.commands.eval import append_to_metrics_file

    result = fake_result(step=4, n=10, weights="raw", classifier="c.pt")
    path = append_to_metrics_file(tmp_path / "metrics.jsonl", result, {"progress": {"steps_per_epoch": 2}})
    record = json.loads(path.read_text())
    assert all(record[s.key] == VALUES[s.key] for s in SCORES)
    assert all(record[s.floor] == VALUES[s.key] for s in SCORES if s.floor)


def test_the_eval_callback_declares_and_logs_the_training_scores_of_the_table():
    from ganstudio.builtin.callbacks.eval import SCORES as DECLARED
    from ganstudio.builtin.callbacks.eval import describe_scores
    from ganstudio.scoring.table import labelled

    assert list(DECLARED) == [s.key for s in TRAINING_SCORES]
    for s in TRAINING_SCORES:
        metric = DECLARED[s.key]
        assert (metric.label, metric.group, metric.format, metric.scale, metric.range, metric.points) == (
            labelled(s, "classifier"),  # issue 32: every label names its feature space
            s.group,
            s.format,
            s.scale,
            s.range,
            True,
        )
    line = describe_scores(VALUES)
    assert f"FD (classifier) {BEST.show(VALUES['fid'])}" in line  # the line's first score names the space
    assert all(f"{s.label} {s.show(VALUES[s.key])}" in line for s in TRAINING_SCORES if s is not BEST)


def test_curves_group_the_scores_as_the_table_says():
    from ganstudio.builtin.callbacks.curves import panels
    from ganstudio.builtin.callbacks.eval import SCORES as DECLARED

    records = [{"step": i, **VALUES} for i in range(3)]
    groups = dict(panels(records, DECLARED))
    for s in TRAINING_SCORES:
        assert s.key in [key for key, _ in groups[s.group]]


def test_summaries_and_report_show_every_score_of_the_table(tmp_path):
    from ganstudio.output.report import comparison_table, scores_table
    from ganstudio.output.report_style import esc
    from ganstudio.output.summaries import RunSummary, read_scores
    from ganstudio.scoring.table import labelled

    summary = RunSummary(name="r", run_dir=str(tmp_path))
    read_scores(summary, [{"step": 3, **VALUES, "floor_fid": 1.5}, {"step": 6, **VALUES, "fid": 20.0}])
    assert set(KEYS) <= set(summary.latest_eval) and summary.best_eval["step"] == 3 and summary.floor_fid == 1.5
    page = scores_table(summary)
    label = lambda s: esc(labelled(s, "classifier", short=True))  # noqa: E731  (issue 32: "FD (classifier)")
    for s in SCORES:
        assert f"<td class=l>{label(s)}</td><td>{s.show(summary.latest_eval[s.key])}</td>" in page
        assert f"<td class=l>{s.better}</td>" in page
    assert "closer to 1" not in page and f"score {label(BEST)} {BEST.show(1.5)}" in page
    head = comparison_table([summary])
    assert all(f"<th>{label(s)}</th>" in head for s in SCORES if s is not BEST) and f"floor {label(BEST)}" in head


def test_runs_shows_the_scores_in_the_table_formats():
    from ganstudio.builtin.commands.runs import score_cells

    s = SimpleNamespace(latest_eval=dict(VALUES), best_eval={**VALUES, "fid": 9.87654}, floor_fid=1.23456)
    assert score_cells(s) == ("12.35 (9.88)", "0.812 / 0.457", "1.23")


def test_summaries_compare_options_with_train_defaults_from_the_config():
    from ganstudio.output.summaries import DEFAULTS

    train_defaults = {f.name: f.default for f in fields(TrainConfig)}
    assert DEFAULTS and all(train_defaults[name] == value for name, value in DEFAULTS.items())


def test_predict_needs_only_features_and_head():
    from ganstudio.scoring.evaluation import extract

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.classify = torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)

        def features(self, x):
            return self.embed(x.flatten(1))

        def head(self, features):
            return self.classify(features)

    model = Tiny().train()
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    seen = []
    features, probs = extract(model, images, "cpu", batch_size=2, progress=seen.append)
    assert features.shape == (5, 3) and probs.shape == (5, 2) and seen == [2, 2, 1] and model.training
    assert torch.allclose(probs.sum(1), torch.ones(5))
