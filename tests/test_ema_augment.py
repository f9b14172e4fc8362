"""Generator EMA (ganstudio/train/ema.py) and DiffAugment (ganstudio/train/augment.py), both applied by the core
to any GAN."""

import numpy as np
import pytest
import torch
from conftest import FAST
from torch import nn

from ganstudio.api.runs import load_model
from ganstudio.errors import GanstudioError
from ganstudio.output.generation import generate_images, seeded_inputs
from ganstudio.plugins import load_plugins
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import plugins_with, train_run
from ganstudio.train.augment import attach, cutout, diff_augment, parse_policy, translation
from ganstudio.train.ema import GeneratorEMA

TINY = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8")


def small_generator():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_ema_starts_at_the_weights_and_ramps_its_decay_up():
    net = small_generator()
    ema = GeneratorEMA(net, decay=0.99)
    assert [round(ema.current_decay(), 4) for _ in range(1)] == [0.1]  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update(net)  # the first update copies
    assert torch.equal(ema.module[0].weight, net[0].weight)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    decay = ema.current_decay()
    assert decay == pytest.approx(2 / 11)
    ema.update(net)
    assert torch.allclose(ema.module[0].weight, decay * before + (1 - decay) * net[0].weight)
    for _ in range(5000):
        ema.updates += 1
    assert ema.current_decay() == 0.99  # capped by --ema-decay


def test_ema_averages_batch_norm_statistics_and_follows_integer_buffers():
    net = small_generator()
    ema = GeneratorEMA(net, decay=0.5)
    ema.update(net)
    net.train()
    net(torch.randn(16, 3) * 5 + 3)  # moves the running statistics
    ema.updates = 100  # past the ramp-up: decay 0.5
    before = ema.module[1].running_mean.clone()
    ema.update(net)
    assert torch.allclose(ema.module[1].running_mean, 0.5 * before + 0.5 * net[1].running_mean)
    assert ema.module[1].num_batches_tracked == net[1].num_batches_tracked
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_swapped_into_puts_the_raw_generator_back_even_on_error():
    model = nn.Module()
    model.generator = small_generator()
    ema = GeneratorEMA(model.generator, decay=0.9)
    raw = model.generator
    with pytest.raises(RuntimeError):
        with ema.swapped_into(model):
            assert model.generator is ema.module
            raise RuntimeError("boom")
    assert model.generator is raw


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])  # 0 means "off" to the CLI, which then makes no GeneratorEMA
def test_bad_decays_are_refused(decay):
    with pytest.raises(ValueError):
        GeneratorEMA(small_generator(), decay)


def test_training_keeps_the_average_in_the_checkpoint_and_sample_uses_it(cli, tiny_idx):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--steps",
        "6",
        *TINY,
        *FAST,
        "--callbacks",
        "log",
        "--ema-decay",
        "0.9",
    )
    assert code == 0, err
    ckpt = load_checkpoint("checkpoints/fashion-dcgan/last.pt")
    assert ckpt["ema"]["updates"] == 6 and ckpt["ema"]["decay"] == 0.9 and ckpt["config"]["ema_decay"] == 0.9
    averaged = ckpt["ema"]["weights"]
    raw = {k[len("generator.") :]: v for k, v in ckpt["state"]["model"].items() if k.startswith("generator.")}
    assert averaged.keys() == raw.keys()
    assert not all(torch.equal(averaged[k], raw[k]) for k in raw)
    plugins = load_plugins(entry_points=False, local=False)
    model, _ = load_model("checkpoints/fashion-dcgan/last.pt", plugins)
    assert all(torch.equal(model.generator.state_dict()[k], averaged[k]) for k in averaged)
    raw_model, _ = load_model("checkpoints/fashion-dcgan/last.pt", plugins, ema=False)
    assert all(torch.equal(raw_model.generator.state_dict()[k], raw[k]) for k in raw)

    # sample uses the average; --no-ema the raw weights (the same seeds, different pixels).
    assert cli("sample", "--n", "8", "--out", "ema.npz")[0] == 0
    code, out, err = cli("sample", "--n", "8", "--out", "raw.npz", "--no-ema")
    assert code == 0, err
    ema_images, raw_images = np.load("ema.npz")["images"], np.load("raw.npz")["images"]
    assert ema_images.shape == raw_images.shape == (8, 28, 28, 1) and not np.array_equal(ema_images, raw_images)
    latents, labels = seeded_inputs(raw_model, list(range(8)), None)
    expected = generate_images(raw_model, latents, labels, "cpu")
    assert np.array_equal(expected.permute(0, 2, 3, 1).numpy(), raw_images)


def test_ema_decay_zero_turns_it_off_and_out_of_range_is_one_line(cli, tiny_idx):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--steps",
        "2",
        *TINY,
        *FAST,
        "--callbacks",
        "log",
        "--ema-decay",
        "0",
    )
    assert code == 0, err
    assert load_checkpoint("checkpoints/fashion-dcgan/last.pt")["ema"] is None
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--ema-decay", "1", "--name", "x")
    assert code == 2 and "--ema-decay" in err and "from 0 to 0.99999" in err and err.count("\n") == 1


def test_resumed_average_equals_an_uninterrupted_one(tmp_path, one_torch_thread):
    plugins = plugins_with()
    options = {"width": 8, "latent_dim": 8}
    whole = train_run(plugins, tmp_path / "a", "dcgan", steps=4, options=options)
    train_run(plugins, tmp_path / "b", "dcgan", steps=2, options=options)
    resumed = train_run(plugins, tmp_path / "b", "dcgan", steps=4, options=options, resume=True)
    assert resumed.ema.updates == whole.ema.updates == 4
    for key, value in whole.ema.module.state_dict().items():
        assert torch.equal(value, resumed.ema.module.state_dict()[key]), key


def test_a_checkpoint_without_an_average_resumes_with_one_started_from_its_weights(cli, tiny_idx):
    base = ("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *FAST, "--callbacks", "log")
    assert cli(*base, "--steps", "2", "--ema-decay", "0")[0] == 0
    ckpt = load_checkpoint("checkpoints/fashion-dcgan/last.pt")
    ckpt["config"]["ema_decay"] = 0.9  # a run that asks for an EMA, saved without one (before the EMA existed)
    ckpt.pop("ema")
    torch.save(ckpt, "checkpoints/fashion-dcgan/last.pt")
    code, out, err = cli(*base, "--steps", "3", "--resume")
    assert code == 0, err
    assert load_checkpoint("checkpoints/fashion-dcgan/last.pt")["ema"]["updates"] == 1


# --- DiffAugment --------------------------------------------------------------------------------------------------


def test_policies():
    assert parse_policy("off", 1) == ()
    assert parse_policy("on", 1) == ("translation", "cutout")
    assert parse_policy("on", 3) == ("color", "translation", "cutout")
    assert parse_policy("cutout, translation", 1) == ("translation", "cutout")
    with pytest.raises(GanstudioError, match="unknown 'flip'"):
        parse_policy("translation,flip", 1)


def test_translation_moves_by_at_most_an_eighth_and_cutout_blanks_a_quarter():
    torch.manual_seed(0)
    x = torch.full((64, 1, 32, 32), -1.0)
    x[:, :, 12:20, 12:20] = 1.0  # an 8x8 bright square in the middle
    moved = translation(x)
    for image in moved:
        rows, cols = torch.nonzero(image[0] > 0, as_tuple=True)
        assert 12 - 4 <= rows.min() <= 12 + 4 and 12 - 4 <= cols.min() <= 12 + 4
        assert len(rows) == 64  # moved, not cut: the square stays whole within 4 px of the centre
    ones = torch.ones(256, 1, 32, 32)
    blanked = (cutout(ones) == 0).float().mean(dim=(1, 2, 3))
    assert blanked.max() == pytest.approx(0.25) and blanked.min() > 0.0  # 16x16 of 32x32, less where it hangs over
    assert 0.15 < blanked.mean() < 0.25


def test_augmentation_is_differentiable_and_keeps_the_layout():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x.contiguous(memory_format=torch.channels_last), ("color", "translation", "cutout"))
    assert y.shape == x.shape and y.is_contiguous(memory_format=torch.channels_last)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_hook_augments_only_in_training_mode():
    seen = []

    class D(nn.Module):
        def forward(self, x, labels=None):
            seen.append((x.clone(), labels))
            return x.mean()

    d = D()
    attach(d, ("cutout",))
    x = torch.ones(8, 1, 8, 8)
    d.train()(x, "y")
    assert (seen[-1][0] == 0).any() and seen[-1][1] == "y"
    d.eval()(x)
    assert torch.equal(seen[-1][0], x)


def test_augment_trains_from_the_cli_and_is_kept_on_resume(cli, tiny_idx):
    base = ("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, *FAST, "--callbacks", "log")
    code, out, err = cli(*base, "--steps", "2", "--augment", "on")
    assert code == 0, err
    assert load_checkpoint("checkpoints/fashion-dcgan/last.pt")["config"]["augment"] == "on"
    code, out, err = cli(*base, "--steps", "3", "--resume", "--augment", "off")
    assert code == 0 and "ignored: augment off (the run's: on)" in err
    code, out, err = cli(*base, "--steps", "2", "--augment", "flips", "--name", "bad")
    assert code == 2 and "--augment flips: unknown 'flips'" in err and err.count("\n") == 1
