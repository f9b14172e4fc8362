"""Feature spaces as plugins (issue 32): ``eval --features inception --weights FILE`` end to end with torch-fidelity's
Inception architecture under random (seeded) weights, equal to torch-fidelity's own computation on the same file and
images; the real features cached for the second eval; missing or damaged weights in one line; every score labelled
with its space and recorded under its own keys."""

import json

import numpy as np
import pytest
import torch
from conftest import make_idx_dataset

from ganstudio.cli import main
from ganstudio.plugins import load_plugins

N = 8  # Inception at 299 px costs ~0.2 s an image on one CPU core
DATA = ("--data", "fashion")
GAN = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "32", "--steps", "2", "--callbacks", "log")


def random_inception(path):
    """torch-fidelity's inception-v3-compat with seeded random weights (Kaiming convolutions, so that the features
    neither vanish nor explode), saved as a weights file."""
    from ganstudio.scoring.inception import build_network

    torch.manual_seed(0)
    network = build_network()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Tiny fashion-shaped data, a 2-step DCGAN run and a random-weight Inception file, made once."""
    root = tmp_path_factory.mktemp("spaces")
    data = make_idx_dataset(root / "tiny", n_train=256, n_test=64)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        assert main(["train", *DATA, "--data-root", str(data), *GAN]) == 0
    return root, data, random_inception(root / "inception-random.pth")


@pytest.fixture
def run(made, workdir, monkeypatch):
    import shutil

    root, data, weights = made
    shutil.copytree(root / "checkpoints", workdir / "checkpoints")
    monkeypatch.setenv("GANSTUDIO_DATA", str(data))
    monkeypatch.setenv("TORCH_HOME", str(workdir / "torch-home"))  # an empty torch hub cache
    return data, weights


def fidelity_dataset(images):
    from ganstudio.scoring.inception import resize

    class Images(torch.utils.data.Dataset):
        def __init__(self):
            self.images = resize(images)

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i]

    return Images()


@pytest.mark.slow  # ~50 s on this busy 2-core machine: three evals and torch-fidelity's own, at 299 px
def test_eval_in_inception_space_equals_torch_fidelity_and_caches_the_reals(cli, run, workdir, one_torch_thread):
    import torch_fidelity

    from ganstudio.api.data import load_data
    from ganstudio.config import DataSpec
    from ganstudio.scoring.samples import real_sets

    data, weights = run
    samples = np.random.default_rng(1).integers(0, 256, (N, 28, 28), dtype=np.uint8)
    np.savez(workdir / "s.npz", images=samples)
    args = ("eval", "--json", "--features", "inception", "--weights", weights, "--samples", "s.npz", *DATA)
    code, out, err = cli(*args, "--data-root", data)
    assert code == 0, err
    first = json.loads(out)
    assert first["feature_space"] == "inception" and first["feature_space_version"] == "inception-v3-compat"
    assert first["feature_weights_sha256"] == __import__("hashlib").sha256(weights.read_bytes()).hexdigest()
    assert "bicubic" in first["protocol"]["resize"] and first["reference_split"] == "train"
    assert first["n"] == first["reference_images"] == N and first["real_features_cached"] is False

    # torch-fidelity's own call, on the same weights file and the same (resized) images
    plugins = load_plugins()
    spec = DataSpec("fashion", root=str(data))
    train, test = load_data(plugins, spec, "train", quiet=True), load_data(plugins, spec, "test", quiet=True)
    reference = real_sets(train, test, N, 0).reference
    theirs = torch_fidelity.calculate_metrics(
        input1=fidelity_dataset(torch.from_numpy(samples)[:, None]),
        input2=fidelity_dataset(reference),
        cuda=False,
        fid=True,
        prc=True,
        feature_extractor="inception-v3-compat",
        feature_layer_prc="2048",
        feature_extractor_weights_path=str(weights),
        batch_size=N,
        cache=False,
        verbose=False,
    )
    assert first["samples"]["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-3)
    assert first["samples"]["precision"] == pytest.approx(theirs["precision"])
    assert first["samples"]["recall"] == pytest.approx(theirs["recall"])

    code, out, err = cli(*args, "--data-root", data)  # the second eval reads the reals' features from the cache
    second = json.loads(out)
    assert code == 0 and second["real_features_cached"] is True
    assert second["samples"]["fid"] == first["samples"]["fid"] and second["real"]["fid"] == first["real"]["fid"]
    assert len(list((workdir / "cache" / "real-features").glob("fashion-train-inception-*.pt"))) == 1

    # a run's samples, in the table: every score says its space; the record keeps them under their own keys
    code, out, err = cli("eval", "--features", "inception", "--weights", weights, "--n", N)
    assert code == 0, err
    assert "FID (Inception)" in out and "KID×10³ (Inception)" in out and "FD (classifier)" not in out
    assert "protocol: resize PIL bicubic" in out and "real features read from the cache" in out
    record = json.loads((workdir / "checkpoints/fashion-dcgan/metrics.jsonl").read_text().splitlines()[-1])
    assert record["feature_space"] == "inception" and "fid_inception" in record and "fid" not in record
    assert record["floor_fid_inception"] > 0 and record["protocol"]["network"] == "inception-v3-compat"


def test_missing_weights_are_one_line_saying_which_file_where(cli, run, workdir):
    code, out, err = cli("eval", "--features", "inception", "--n", N)
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    for part in ("weights-inception-2015-12-05-6726825d.pth", "sha256 6726825d", "--weights PATH", "--download"):
        assert part in err
    assert str(workdir / "cache" / "weights") in err and "torch-home" in err


def test_damaged_or_wrong_weights_are_one_line(cli, run, workdir):
    (workdir / "garbage.pth").write_bytes(b"not a torch file at all")
    torch.save({"fc.weight": torch.zeros(3, 3)}, workdir / "other.pth")
    for name, expected in (("garbage.pth", "not a readable weights file"), ("other.pth", "not an inception-v3-compat")):
        code, out, err = cli("eval", "--features", "inception", "--weights", name, "--n", N)
        assert code == 2 and expected in err.splitlines()[-1] and err.count("error:") == 1, err
    # a file in the cache must be the published one: its sha256 is checked
    (workdir / "cache" / "weights").mkdir(parents=True)
    (workdir / "cache/weights/weights-inception-2015-12-05-6726825d.pth").write_bytes(b"truncated download")
    code, out, err = cli("eval", "--features", "inception", "--n", N)
    assert code == 2 and "damaged or a different file" in err and "Traceback" not in err, err


def test_the_hook_registers_the_built_in_spaces_and_unknown_ones_are_one_line(cli, run):
    from ganstudio.scoring.spaces import registered

    spaces = registered(load_plugins())
    assert {"classifier", "inception", "dinov2"} <= set(spaces)
    assert spaces["inception"].input_size == 299 and spaces["inception"].plugin == "ganstudio.builtin.features.spaces"
    code, out, err = cli("eval", "--features", "incepton", "--n", N)
    assert code == 2 and "Did you mean 'inception'" in err
    code, out, err = cli("eval", "--features", "dinov2", "--n", N)
    assert code == 2 and "dinov2_vitb14_pretrain.pth" in err and err.count("error:") == 1, err


def test_ganstudio_math_equals_torch_fidelity_on_the_same_features():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    from ganstudio.scoring.metrics import feature_stats, frechet_distance, inception_score, precision_recall

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 32, generator=g), torch.randn(200, 32, generator=g) * 1.2 + 0.3
    theirs = fid_statistics_to_metric(fid_features_to_statistics(real), fid_features_to_statistics(fake), False)
    ours = frechet_distance(*feature_stats(real), *feature_stats(fake))
    assert ours == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    logits = torch.randn(200, 10, generator=g) * 3
    theirs_is = isc_features_to_metric(logits, splits=10, shuffle=False)["inception_score_mean"]
    assert inception_score(torch.softmax(logits.double(), 1))[0] == pytest.approx(theirs_is, rel=1e-6)
    assert precision_recall(real, fake, 3) == pytest.approx(calculate_precision_recall_full(fake, real, 3))


def test_every_label_names_its_space_and_only_inception_distance_is_fid():
    from ganstudio.scoring.table import BY_KEY, labelled, record_key

    assert labelled(BY_KEY["fid"], "inception") == "FID (Inception)"
    assert labelled(BY_KEY["fid"], "classifier") == labelled(BY_KEY["fid"], None) == "FD (classifier)"
    assert labelled(BY_KEY["fid"], "dinov2") == "FD (DINOv2)"
    assert record_key("fid", "classifier") == "fid" and record_key("floor_fid", "inception") == "floor_fid_inception"
