"""Every score names its feature space, and two spaces are never mixed (issue 32): ``ganstudio runs`` (its columns,
``--sort fid_inception``, --json), ``ganstudio report`` (a run's tables, the comparison's columns), the curves'
series and panels, and ``ganstudio plugins`` listing the feature spaces. The runs are one tiny trained run, copied,
with eval records in the classifier's space, Inception's, or both."""

import json
import shutil
from types import SimpleNamespace

import pytest
from conftest import make_idx_dataset

from ganstudio.cli import main

SCORES = {"kid": 0.01, "precision": 0.5, "recall": 0.25, "density": 0.9, "coverage": 0.7}
RUNS = {  # name -> eval records appended to its metrics.jsonl
    "cls-run": [{"step": 1, "fid": 30.0, **SCORES, "floor_fid": 1.0}, {"step": 2, "fid": 20.0, **SCORES}],
    "inc-run": [{"step": 2, "fid_inception": 120.0, **{f"{k}_inception": v for k, v in SCORES.items()}}],
    "both": [
        {"step": 1, "fid": 50.0, **SCORES},
        {"step": 2, "fid_inception": 80.0, "floor_fid_inception": 3.0, "precision_inception": 0.125},
    ],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 2-step DCGAN run on tiny fashion-shaped data, made once."""
    root = tmp_path_factory.mktemp("labels")
    data = make_idx_dataset(root / "tiny", n_train=64, n_test=16)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        args = ["train", "--data", "fashion", "--data-root", str(data), "--model", "dcgan", "--model-option", "width=8"]
        assert main([*args, "--batch-size", "32", "--steps", "2", "--callbacks", "log", "--name", "run"]) == 0
    return root / "checkpoints/run"


@pytest.fixture
def runs(trained, workdir):
    for name, records in RUNS.items():
        shutil.copytree(trained, workdir / "checkpoints" / name)
        with open(workdir / "checkpoints" / name / "metrics.jsonl", "a") as f:
            f.writelines(json.dumps({"event": "eval", **r}) + "\n" for r in records)
    return workdir


def row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip("│ ").startswith(name))


def test_runs_has_a_column_per_space_and_never_mixes_them(cli, runs):
    code, out, err = cli("runs", "--sort", "name")
    assert code == 0, err
    heads = out.split("┡")[0]  # each space's heads over two lines: "FID (Inception)" over "latest (best)"
    assert heads.count("FD (classifier)") == 2 and heads.count("FID (Inception)") == 2, heads
    assert heads.count("latest (best)") == 2 and "(Inception)" in heads.replace("FID (Inception)", "")
    assert "20.00 (20.00)" in row(out, "cls-run") and "120.00" not in row(out, "cls-run")
    assert "120.00 (120.00)" in row(out, "inc-run") and "(20.00)" not in row(out, "inc-run")
    both = row(out, "both")
    assert both.index("50.00 (50.00)") < both.index("80.00 (80.00)"), "the classifier's columns first"

    listed = {s["name"]: s for s in json.loads(cli("runs", "--json")[1])}
    assert listed["inc-run"]["latest_eval"] is None and listed["inc-run"]["scores"]["inception"]["latest"]["fid"] == 120
    assert listed["both"]["scores"]["inception"]["floor_fid"] == 3.0 and listed["both"]["floor_fid"] is None
    assert listed["both"]["best_eval"]["fid"] == 50.0 and listed["both"]["best_eval"]["precision"] == 0.5  # not 0.125


def test_runs_sorts_by_a_space_qualified_key_and_names_the_valid_ones(cli, runs):
    order = lambda key: [s["name"] for s in json.loads(cli("runs", "--json", "--sort", key)[1])]  # noqa: E731
    assert order("fid_inception") == ["both", "inc-run", "cls-run"], "lowest first; a run without one last"
    assert order("fid") == ["cls-run", "both", "inc-run"]
    code, out, err = cli("runs", "--sort", "fid_incepton")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "--sort fid_incepton: not a sort key (did you mean fid_inception?); valid keys: saved, name, fid," in err


def test_report_tables_name_their_space(cli, runs):
    code, out, err = cli("report", "both")
    assert code == 0, err
    page = (runs / "samples/both/report.html").read_text()
    assert "<td class=l>FD (classifier)</td><td>50.00</td>" in page
    assert "<td class=l>FID (Inception)</td><td>80.00</td>" in page
    assert "<td class=l>precision (Inception)</td><td>0.125</td>" in page
    assert "Real images score FID (Inception) 3.00" in page
    code, out, err = cli("report", "cls-run", "inc-run")
    assert code == 0, err
    page = (runs / "samples/compare-cls-run-inc-run.html").read_text()
    heads = page[page.index("<h2>Scores</h2>") :].split("</tr>")[0]
    for head in ("FD (classifier) latest", "FD (classifier) best", "FID (Inception) latest", "floor FID (Inception)"):
        assert f"<th>{head}</th>" in heads
    cells = page.split("cls-run</td>")[1].split("</tr>")[0]
    assert "<td>20.00</td>" in cells and "<td>120.00</td>" not in cells


def test_curves_label_each_series_with_its_space_on_panels_of_its_own(runs):
    from ganstudio.builtin.callbacks.curves import panels, score_specs
    from ganstudio.plugins import load_plugins
    from ganstudio.store.rundir import read_metrics

    records = read_metrics(runs / "checkpoints/both/metrics.jsonl")
    groups = dict(panels(records, score_specs(SimpleNamespace(plugins=load_plugins(), metric_specs={}))))
    assert [(k, m.label) for k, m in groups["Fréchet distance"]] == [("fid", "FD (classifier)")]
    inception = [(k, m.label) for k, m in groups["Fréchet distance (Inception)"]]
    assert inception == [
        ("fid_inception", "FID (Inception)"),
        ("floor_fid_inception", "FID (Inception) of real images"),
    ]
    assert [m.label for _, m in groups["precision / recall (Inception)"]] == ["precision (Inception)"]


def test_plugins_lists_the_feature_spaces_and_shows_one(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rows unfolded
    code, out, err = cli("plugins")
    assert code == 0, err
    text = " ".join(out.split())
    assert "feature spaces: classifier, inception" in text and "feature spaces (--features NAME)" in text
    assert "299 px" in text and "none (offline)" in text
    code, out, err = cli("plugins", "inception")
    assert code == 0, err
    text = " ".join(out.split())
    assert "feature space 'inception', from plugin ganstudio.builtin.features.spaces" in text
    assert "resized to 299x299" in text and "weights-inception-2015-12-05-6726825d.pth (not found in" in text
    rows = {r["name"]: r for r in json.loads(cli("plugins", "--json")[1])}
    assert {"classifier", "inception"} <= set(rows["ganstudio.builtin.features.spaces"]["feature_spaces"])
    code, out, err = cli("plugins", "incepton")
    assert code == 2 and "Did you mean 'inception'?" in err
