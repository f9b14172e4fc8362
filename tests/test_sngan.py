"""The built-in SNGAN: passes the plugin contract kit, adapts to 28 px grey and 32/64 px RGB, has spectral norm on
every layer of D and no batch norm there, takes n_dis D steps (each on a fresh batch) per G step, uses the hinge
loss, and trains and samples from the command line."""

import imageio.v3 as iio
import pytest
import torch
from conftest import FAST
from torch import nn
from torch.nn.utils import parametrize

import ganstudio.builtin.models.sngan
from ganstudio.api import ModelConfig
from ganstudio.builtin.models.sngan import supports
from ganstudio.builtin.models.sngan.nets import SNGAN, hinge_loss_d, hinge_loss_g
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, check_model_plugin, step_context

TINY = {"width": 4, "latent_dim": 8}


def tiny(shape=(1, 28, 28), **options) -> SNGAN:
    torch.manual_seed(0)
    return SNGAN(ModelConfig(shape, 0, {**TINY, **options}, model="sngan"))


def test_passes_the_contract(tmp_path, one_torch_thread):
    check_model_plugin(ganstudio.builtin.models.sngan, "sngan", tmp_path, options=TINY)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_shapes_and_range_adapt(shape, one_torch_thread):
    model = tiny(shape)
    images = model.generate(model.sample_latent(3))
    assert images.shape == (3, *shape)
    assert images.min() >= -1 and images.max() <= 1
    logits = model.discriminator(torch.rand(3, *shape) * 2 - 1)
    assert logits.shape == (3,) and logits.dtype == torch.float32


def test_spectral_norm_on_every_layer_of_d_and_no_batch_norm():
    d = tiny((3, 32, 32)).discriminator
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert (
        len(layers) == 3 * 3 + 2 + 1
    )  # optimized + 2 downsampling blocks (3 convs each), a last block (2), the linear
    for layer in layers:
        assert parametrize.is_parametrized(layer, "weight"), layer
        assert [type(p).__name__ for p in layer.parametrizations.weight] == ["_SpectralNorm"], layer
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    # G keeps its batch norm and has no spectral norm.
    g = tiny((3, 32, 32)).generator
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert not any(parametrize.is_parametrized(m) for m in g.modules())


def test_spectral_norm_bounds_each_weight():
    d = tiny((1, 28, 28)).discriminator
    for _ in range(30):  # power iterations run at every training-mode forward
        d(torch.zeros(1, 1, 28, 28))
    conv = d.blocks[1].conv1
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("n_dis", [1, 3])
def test_n_dis_discriminator_steps_on_fresh_batches_per_generator_step(n_dis, one_torch_thread):
    model = tiny(n_dis=n_dis)
    opts = model.configure_optimizers()
    steps = {"generator": 0, "discriminator": 0}
    for name, opt in opts.items():
        real_step = opt.step
        opt.step = lambda *a, _name=name, _step=real_step, **k: (
            steps.__setitem__(_name, steps[_name] + 1),
            _step(*a, **k),
        )[1]
    batches = FixedBatches(torch.rand(32, 1, 28, 28) * 2 - 1, batch_size=8)
    metrics = model.training_step(batches, opts, step_context())
    assert batches.drawn == n_dis
    assert steps == {"generator": 1, "discriminator": n_dis}
    assert set(metrics) == set(SNGAN.metrics)
    assert all(torch.isfinite(v) and not v.requires_grad for v in metrics.values())


def test_generator_step_adds_no_gradients_to_d_and_leaves_d_trainable(one_torch_thread):
    model = tiny()
    opts = model.configure_optimizers()
    at_d_step = {}
    real_step = opts["discriminator"].step

    def recording_step(*args, **kwargs):
        at_d_step.update({n: p.grad.clone() for n, p in model.discriminator.named_parameters()})
        return real_step(*args, **kwargs)

    opts["discriminator"].step = recording_step
    model.training_step(FixedBatches(torch.rand(4, 1, 28, 28) * 2 - 1), opts, step_context())
    for name, p in model.discriminator.named_parameters():
        assert torch.equal(p.grad, at_d_step[name]), name
        assert p.requires_grad
    assert all(p.grad is not None for p in model.generator.parameters())


def test_hinge_loss_on_a_hand_made_case():
    # real: 2 is past the margin (0), 0.5 costs 0.5; fake: -2 is past it (0), 0 costs 1.
    assert hinge_loss_d(torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])).item() == pytest.approx(0.25 + 0.5)
    assert hinge_loss_d(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 0.0
    assert hinge_loss_g(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_training_step_reports_the_hinge_loss_of_its_logits(one_torch_thread):
    model = tiny(n_dis=1)  # one D step: its logits are the first forward's, replayed below
    opts = model.configure_optimizers()
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    metrics = model.training_step(FixedBatches(images), opts, step_context())
    # Replay the D step's forward from the same start: same weights, same latents, same logits.
    again = tiny(n_dis=1)
    torch.manual_seed(1)
    z = again.sample_latent(8)
    logits = again.discriminator(torch.cat([images, again.generator(z).detach()])).detach()
    assert metrics["d_real"].item() == pytest.approx(logits[:8].mean().item(), abs=1e-5)
    assert metrics["d_fake"].item() == pytest.approx(logits[8:].mean().item(), abs=1e-5)
    assert metrics["loss_d"].item() == pytest.approx(hinge_loss_d(logits[:8], logits[8:]).item(), abs=1e-5)


def test_supports_says_why_not():
    for shape in [(1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128)]:
        assert supports(shape) is None, shape
    assert supports((3, 32, 64)) == "sngan needs square images, got 32x64"
    assert supports((1, 30, 30)).startswith(
        "sngan cannot build 30x30 images: the side must be 3..8 times a power of two"
    )


def test_train_then_sample_from_the_command_line(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "sngan",
        "--model-option",
        "width=8",
        "--model-option",
        "latent_dim=16",
        "--model-option",
        "n_dis=2",
        *FAST,
        "--steps",
        "3",
        "--callbacks",
        "log",
        "--augment",
        "on",
    )
    assert code == 0, err
    assert "model: sngan (ganstudio.builtin.models.sngan)" in out
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-sngan/last.pt")
    assert ckpt["progress"]["step"] == 3
    assert ckpt["model"]["plugin"] == "ganstudio.builtin.models.sngan"
    assert ckpt["model"]["config"]["options"] == {
        "latent_dim": 16,
        "width": 8,
        "lr": 2e-4,
        "beta1": 0.0,
        "beta2": 0.9,
        "n_dis": 2,
        "reference_d": True,
        "channels_last": True,
    }

    code, out, err = cli("sample", "--n", "16")
    assert code == 0, err
    grid = iio.imread(workdir / "samples/fashion-sngan/sample-16-seed0.png")
    assert grid.shape == (4 * 30 + 2, 4 * 30 + 2)  # 4x4 tiles of 28 px with 2 px padding


def test_discriminate_scores_each_image_with_d_s_raw_logit(one_torch_thread):
    model = tiny((3, 32, 32)).eval()  # eval: spectral norm's power iteration leaves the weights as they are
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        scores = model.discriminate(images)
        assert scores.shape == (5,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
        assert torch.allclose(scores, model.discriminator(images), atol=1e-5)
