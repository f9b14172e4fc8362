"""``train --eval-every N --eval-features NAME`` (issue 32): the in-training eval scores in any registered feature
space. A tiny fake space from a test plugin (./plugins) keeps the default run fast: its scores land in the step's
record under the space's keys, the log line names the space, best.pt goes by that space's distance, the reals are
encoded once per run, and a missing weights file is eval's one line (with train's flags) before any step. The real
Inception network is in the slow test at the end."""

import json

import pytest
import torch

from ganstudio.store.checkpoint import load_checkpoint

FAKE_SPACE = '''
import os

import torch

from ganstudio import hookimpl
from ganstudio.api import FeatureExtractor


class FakeSpace:
    """4x4 average-pooled pixels as features, 3 made-up classes; every encode() call is logged (its image count)."""

    name = "fake"
    version = "fake-v1"
    cacheable = False
    classes = None

    def __init__(self, found):
        self.sha256 = found.sha256
        self.weights = str(found.path)
        self.protocol = {"resize": "none", "input": "uint8 0..255", "features": "4x4 pool", "network": self.version}

    def encode(self, images, device, progress=None):
        with open(os.environ["FAKE_SPACE_LOG"], "a") as f:
            f.write(f"{len(images)}\\n")
        x = images.float().mean(1, keepdim=True) / 255
        features = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        probs = torch.softmax(features[:, :3] * 10, 1)
        if progress is not None:
            progress(len(images))
        return features, probs


def load(weights=None, download=False, **_):
    from ganstudio.scoring.weights import WeightsFile, find_weights

    file = WeightsFile("fake-space.pth", "https://example.invalid/fake-space.pth", size="1 KB")
    return FakeSpace(find_weights(file, "fake", weights, download))


@hookimpl
def register_feature_extractors(register):
    register(FeatureExtractor("fake", load, weights="fake-space.pth", description="a tiny space for tests"))
'''

N = 32  # samples per eval: the fixture's 256 training images leave room for the floor's other 32
GAN = (
    "--model",
    "dcgan",
    "--model-option",
    "width=8",
    "--batch-size",
    "32",
    "--steps",
    "4",
    "--eval-every",
    "2",
    "--eval-samples",
    N,
)


@pytest.fixture
def fake_space(workdir, monkeypatch):
    """The fake space in the trusted ./plugins folder, its weights file, and the file its encode() calls go to."""
    (workdir / "plugins").mkdir()
    (workdir / "plugins/fake_space.py").write_text(FAKE_SPACE)
    (workdir / "fake.pth").write_bytes(b"any bytes: a --weights file is hashed, not checked against a checksum")
    monkeypatch.setenv("FAKE_SPACE_LOG", str(workdir / "encoded.txt"))
    return workdir / "encoded.txt"


def encoded(log) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def records(workdir, name="fashion-dcgan") -> list[dict]:
    path = workdir / f"checkpoints/{name}/metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_scores_in_the_chosen_space_land_under_its_keys_labelled_and_best_pt_goes_by_them(
    cli, workdir, tiny_idx, fake_space, one_torch_thread
):
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *GAN, "--eval-features", "fake",
        "--eval-weights", "fake.pth", "--callbacks", "eval,log",
    )  # fmt: skip
    assert code == 0, err
    assert "in the feature space of fake (fake-v1; weights" in out and "floor FD (fake)" in out
    assert "eval at step 2: FD (fake)" in out and "eval at step 4: FD (fake)" in out
    assert "rarest class" not in out, "the class shares are the dataset's classes: the classifier's space only"
    # the reference and the floor's reals once per run, then the samples of each eval
    assert encoded(fake_space) == [N, N, N, N]
    evals = [r for r in records(workdir) if "fid_fake" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:
        assert not {"fid", "kid", "precision", "floor_fid"} & set(r), "never under the classifier's keys"
        assert {"kid_fake", "precision_fake", "recall_fake", "density_fake", "coverage_fake"} <= set(r)
        assert 0 <= r["floor_fid_fake"] and r["floor_fid_fake"] == evals[0]["floor_fid_fake"]
    best = load_checkpoint(workdir / "checkpoints/fashion-dcgan/best.pt")["results"]["eval"]
    assert best["feature_space"] == "fake" and best["feature_space_version"] == "fake-v1" and "fid" not in best
    assert (
        best["fid_fake"] == min(r["fid_fake"] for r in evals)
        and best["step"] == min(evals, key=lambda r: r["fid_fake"])["step"]
    )


def test_missing_weights_are_evals_one_line_with_trains_flags_before_any_step(cli, workdir, tiny_idx, fake_space):
    import numpy as np

    np.savez(workdir / "s.npz", images=np.zeros((4, 28, 28), dtype=np.uint8))
    code, out, eval_err = cli("eval", "--features", "fake", "--samples", "s.npz", "--data", "fashion",
                              "--data-root", tiny_idx)  # fmt: skip
    assert code == 2 and "--weights PATH" in eval_err
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, *GAN, "--eval-features", "fake", "--callbacks", "eval"
    )
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    line = err.strip().splitlines()[-1]
    expected = eval_err.strip().splitlines()[-1].replace("--features", "--eval-features")
    expected = expected.replace("--weights", "--eval-weights").replace("--download", "--download (of ganstudio eval)")
    assert line == expected and "fake-space.pth" in line
    assert encoded(fake_space) == [] and not any(r.get("step") for r in records(workdir)), "no step was trained"


@pytest.mark.parametrize(
    "options, expected",
    [
        (("--eval-features", "fake"), "score only with --eval-every N"),
        (("--eval-every", "2", "--eval-weights", "fake.pth"), "--eval-weights is for --eval-features inception"),
        (("--eval-every", "2", "--eval-features", "fak"), "Did you mean 'fake'?"),
    ],
)
def test_options_that_cannot_work_are_one_line_at_train_start(cli, workdir, tiny_idx, fake_space, options, expected):
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--steps", "2", "--callbacks", "eval",
                         "--model", "dcgan", "--model-option", "width=8", *options)  # fmt: skip
    assert code == 2 and expected in err and err.count("error:") == 1 and "Traceback" not in err, err
    assert not any(r.get("step") for r in records(workdir))


def test_a_resumed_run_keeps_best_pt_apart_from_another_spaces_best(cli, workdir, tiny_idx, fake_space):
    """best.pt kept by the classifier's FD is not compared with the fake space's distance: the first eval in the
    new space replaces it, and the log says so."""
    from ganstudio.builtin.callbacks.eval import EvalCallback, EvalOptions
    from ganstudio.store.checkpoint import save_checkpoint

    run_dir = workdir / "checkpoints/r"
    run_dir.mkdir(parents=True)
    save_checkpoint({"results": {"eval": {"fid": 0.001, "feature_space": "classifier"}}}, run_dir / "best.pt")
    callback = EvalCallback(EvalOptions(every=2, features="fake"))
    callback.best_path, callback.name = run_dir / "best.pt", "fake"
    assert callback._stored_best() == (float("inf"), "classifier")
    callback.name = "classifier"
    assert callback._stored_best() == (0.001, None)


@pytest.mark.slow  # ~45 s on this busy machine: 3 x 10 images through Inception at 299 px on the CPU
def test_eval_every_in_inception_space(cli, workdir, tiny_idx):
    from test_feature_spaces import random_inception

    weights = random_inception(workdir / "inception-random.pth")
    code, out, err = cli(
        "train", "--data", "fashion", "--data-root", tiny_idx, "--model", "dcgan", "--model-option", "width=8",
        "--batch-size", "32", "--steps", "2", "--eval-every", "2", "--eval-samples", "10",
        "--eval-features", "inception", "--eval-weights", weights, "--callbacks", "eval,log",
    )  # fmt: skip
    assert code == 0, err
    assert "eval at step 2: FID (Inception)" in out and "floor FID (Inception)" in out
    (record,) = [r for r in records(workdir) if "fid_inception" in r]
    assert record["step"] == 2 and record["fid_inception"] > 0 and "fid" not in record
    best = load_checkpoint(workdir / "checkpoints/fashion-dcgan/best.pt")["results"]["eval"]
    assert best["fid_inception"] == record["fid_inception"] and best["protocol"]["network"] == "inception-v3-compat"
    assert best["feature_weights_sha256"] == __import__("hashlib").sha256(weights.read_bytes()).hexdigest()
    assert torch.isfinite(torch.tensor(record["kid_inception"]))
