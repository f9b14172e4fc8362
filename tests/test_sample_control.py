"""Control over what ``ganstudio sample`` makes: one seed per image (``--seeds`` makes any image of a batch again,
PNGs named by seed), the truncation trick, a per-class grid. Tiny linear models from tests/tiny_models.py (``tiny``,
``tiny-cond``), 2 training steps (tests/sample_runs.py); class consistency in eval: test_eval_class_consistency.py."""

import argparse
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from sample_runs import FASHION, runs_in, train_sample_runs
from tiny_models import TinyConditionalGAN, TinyGAN

from ganstudio.api import ModelConfig
from ganstudio.errors import GanstudioError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_sample_runs(tmp_path_factory.mktemp("sample-control"))


@pytest.fixture
def runs(trained, workdir):
    return runs_in(trained, workdir)


def npz(cli, workdir, name, *args):
    code, out, err = cli("sample", *args, "--out", name)
    assert code == 0, err
    with np.load(workdir / name) as archive:
        return {key: archive[key] for key in archive.files}


def one_line_error(result, *expected):
    code, out, err = result
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


# --- one seed per image -----------------------------------------------------------------------------------------


def test_seeds_make_the_same_pixels_as_in_the_batch(cli, runs, one_torch_thread):
    batch = npz(cli, runs, "batch.npz", "plain", "--n", "12", "--seed", "100")
    assert batch["seeds"].tolist() == list(range(100, 112)) and "labels" not in batch
    assert len({image.tobytes() for image in batch["images"]}) == 12, "each seed its own image"
    again = npz(cli, runs, "again.npz", "plain", "--seeds", "103,111,105-106")
    assert again["seeds"].tolist() == [103, 111, 105, 106]
    assert np.array_equal(again["images"], batch["images"][[3, 11, 5, 6]])

    # the truncation trick the same way: (seed, truncation) names an image
    truncated = npz(cli, runs, "t.npz", "plain", "--n", "12", "--seed", "100", "--truncation", "0.5")
    assert not np.array_equal(truncated["images"], batch["images"])
    assert np.array_equal(
        npz(cli, runs, "t1.npz", "plain", "--seeds", "108", "--truncation", "0.5")["images"], truncated["images"][[8]]
    )


def test_conditional_seeds_carry_their_class(cli, runs, one_torch_thread):
    batch = npz(cli, runs, "batch.npz", "cond", "--n", "10", "--seed", "7")
    labels = batch["labels"].tolist()
    assert len(set(labels)) > 1, "without --class each seed draws its own class"
    one = npz(cli, runs, "one.npz", "cond", "--seeds", "13")
    assert one["labels"].tolist() == [labels[6]] and np.array_equal(one["images"], batch["images"][[6]])
    # the same seed with its own class named: the same image (the label is drawn either way, the latent unchanged)
    named = npz(cli, runs, "named.npz", "cond", "--seeds", "13", "--class", FASHION[labels[6]])
    assert np.array_equal(named["images"], one["images"])
    other = npz(cli, runs, "other.npz", "cond", "--seeds", "13", "--class", str((labels[6] + 1) % 10))
    assert not np.array_equal(other["images"], one["images"])


def test_png_folders_are_named_by_seed(cli, runs, one_torch_thread):
    code, out, err = cli("sample", "plain", "--n", "3", "--seed", "7", "--out", "pngs/")
    assert code == 0, err
    assert sorted(p.name for p in (runs / "pngs").iterdir()) == ["seed000007.png", "seed000008.png", "seed000009.png"]
    assert "--seeds N" in out
    batch = npz(cli, runs, "b.npz", "plain", "--n", "3", "--seed", "7")
    assert np.array_equal(iio.imread(runs / "pngs/seed000008.png"), batch["images"][1, :, :, 0])

    code, out, err = cli("sample", "cond", "--seeds", "40-42", "--out", "cond/")
    assert code == 0, err
    labels = npz(cli, runs, "c.npz", "cond", "--seeds", "40-42")["labels"]
    expected = [
        f"seed{seed:06d}-{FASHION[label].lower().replace('/', '-').replace(' ', '-')}.png"
        for seed, label in zip((40, 41, 42), labels)
    ]
    assert sorted(p.name for p in (runs / "cond").iterdir()) == sorted(expected)


def test_seed_file_names_and_default_outputs(cli, runs, one_torch_thread):
    from ganstudio.builtin.commands.sample import file_part, seed_file_name

    assert seed_file_name(123) == "seed000123" and seed_file_name(1234567) == "seed1234567"
    assert seed_file_name(5, "T-shirt/top") == "seed000005-t-shirt-top" and file_part("Ankle boot") == "ankle-boot"
    assert cli("sample", "plain", "--seeds", "4,9-11")[0] == 0
    assert iio.imread(runs / "samples/plain/seeds-4,9-11.png").shape == (2 * 30 + 2, 2 * 30 + 2)
    assert cli("sample", "plain", "--n", "4", "--truncation", "0.7")[0] == 0
    assert (runs / "samples/plain/sample-4-seed0-trunc0.7.png").is_file()


def test_parse_seeds():
    from ganstudio.builtin.commands.sample import describe_seeds, parse_seeds

    assert parse_seeds("123,456,100-103") == [123, 456, 100, 101, 102, 103]
    assert parse_seeds(" 5 , 7 - 8") == [5, 7, 8] and parse_seeds("0") == [0]
    assert describe_seeds([100, 101, 102, 103, 123, 456]) == "100-103,123,456"
    for bad, message in (
        ("", "expected seeds and ranges"),
        ("a", "got 'a'"),
        ("1,,2", "expected seeds"),
        ("-5", "got '-5'"),
        ("3-", "got '3-'"),
        ("1.5", "got '1.5'"),
        ("9-3", "runs backwards (write 3-9)"),
        ("1,2,1-3", "seed 1 is asked for twice"),
        ("0-2000000", "more than 1,000,000"),
        (str(2**63), "too large"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_seeds(bad)


def test_seed_option_errors_are_one_line(cli, runs):
    one_line_error(cli("sample", "plain", "--seeds", "9-3"), "argument --seeds", "runs backwards")
    one_line_error(cli("sample", "plain", "--seeds", "x1"), "argument --seeds", "123,456,100-131")
    one_line_error(cli("sample", "plain", "--seeds", "1-3", "--n", "3"), "--seeds names the images itself: drop --n")
    one_line_error(cli("sample", "plain", "--seeds", "1-3", "--seed", "2"), "drop --seed")
    one_line_error(cli("sample", "plain", "--seed", "-1"), "argument --seed")


# --- truncation ------------------------------------------------------------------------------------------------


def test_truncation_bounds_every_latent_entry_and_keeps_those_inside():
    from ganstudio.output.generation import latents_for_seeds, seeded_inputs

    model = TinyGAN(ModelConfig((1, 8, 8), options={"latent_dim": "64"}))
    seeds = range(300, 340)
    plain = latents_for_seeds(model, seeds)
    assert torch.equal(plain[5], torch.randn(1, 64, generator=torch.Generator().manual_seed(305))[0])
    for t in (1.5, 0.5, 0.01):
        z = latents_for_seeds(model, seeds, truncation=t)
        assert z.shape == plain.shape and z.abs().max() <= t
        inside = plain.abs() <= t
        assert torch.equal(z[inside], plain[inside]), "entries within T are not redrawn"
        assert (z[~inside] != plain[~inside]).all()
        assert torch.equal(z, latents_for_seeds(model, seeds, truncation=t)), "(seed, truncation) names the latent"
        assert torch.equal(z[7:9], latents_for_seeds(model, [307, 308], truncation=t))
    # the truncated normal: within [-0.5, 0.5] its standard deviation is about 0.28 (vs 1)
    assert 0.25 < latents_for_seeds(model, range(200), truncation=0.5).std() < 0.31

    conditional = TinyConditionalGAN(ModelConfig((1, 8, 8), num_classes=10, options={"latent_dim": "16"}))
    _, labels = seeded_inputs(conditional, range(20))
    _, truncated_labels = seeded_inputs(conditional, range(20), truncation=0.3)
    assert torch.equal(labels, truncated_labels), "a seed's class does not depend on the truncation"


def test_truncation_must_be_above_zero(cli, runs, monkeypatch):
    from ganstudio.output import generation

    model = TinyGAN(ModelConfig((1, 8, 8), options={"latent_dim": "4"}))
    for bad in (0, -0.5, math.nan, math.inf):
        with pytest.raises(GanstudioError, match="expected a threshold greater than 0"):
            generation.latents_for_seeds(model, [0], truncation=bad)
    for bad in ("0", "-0.5", "abc", "nan", "inf"):
        one_line_error(cli("sample", "plain", "--truncation", bad), "argument --truncation", "greater than 0")
    monkeypatch.setattr(generation, "TRUNCATION_DRAW_LIMIT", 10_000)
    with pytest.raises(GanstudioError, match="too small"):
        generation.latents_for_seeds(model, [0], truncation=1e-9)


# --- per-class grid --------------------------------------------------------------------------------------------


def test_per_class_grid_has_a_row_per_class_with_the_seeds_of_its_columns(cli, runs, one_torch_thread):
    code, out, err = cli("sample", "cond", "--per-class", "3", "--seed", "5")
    assert code == 0, err
    grid = iio.imread(runs / "samples/cond/per-class-3-seed5.png")
    tiles = 3 * 30 + 2
    assert (
        grid.ndim == 2 and grid.shape[0] == 10 * 30 + 2 and grid.shape[1] > tiles
    )  # rows = classes; names at the left
    names, cells = grid[:, : grid.shape[1] - tiles], grid[:, grid.shape[1] - tiles :]
    for row in (0, 3):
        assert names[2 + row * 30 : 2 + row * 30 + 28].max() > 128, "the class name is drawn beside its row"
        # row r, column c is `sample --seeds 5+c --class r`
        again = npz(cli, runs, f"row{row}.npz", "cond", "--seeds", "5-7", "--class", FASHION[row])["images"][..., 0]
        for c in range(3):
            assert np.array_equal(cells[2 + row * 30 : 2 + row * 30 + 28, 2 + c * 30 : 2 + c * 30 + 28], again[c]), (
                row,
                c,
            )

    code, out, err = cli(
        "sample", "cond", "--per-class", "2", "--scale", "2", "--truncation", "0.8", "--out", "big.png"
    )
    assert code == 0, err
    assert iio.imread(runs / "big.png").shape[0] == (10 * 30 + 2) * 2
    arrays = npz(cli, runs, "pc.npz", "cond", "--per-class", "2")
    assert (
        arrays["labels"].tolist() == [c for c in range(10) for _ in range(2)]
        and arrays["seeds"].tolist() == [0, 1] * 10
    )


def test_per_class_errors(cli, runs):
    one_line_error(cli("sample", "plain", "--per-class", "4"), "--per-class", "not class-conditional")
    one_line_error(cli("sample", "cond", "--per-class", "4", "--class", "Dress"), "--per-class", "drop --class")
    one_line_error(cli("sample", "cond", "--per-class", "4", "--seeds", "1-4"), "--per-class", "--seeds")
    one_line_error(cli("sample", "cond", "--per-class", "4", "--n", "8"), "drop --n")
    one_line_error(cli("sample", "cond", "--per-class", "0"), "argument --per-class")
