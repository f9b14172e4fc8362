"""The built-in WGAN-GP (wgan-gp): the contract kit, a fresh real batch per critic step, the gradient penalty (fp32,
the fp16 GradScaler path, through DiffAugment), the CLI end to end (epochs counted over every batch drawn, --class
refused), exact resume."""

import json

import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.builtin.models import wgan_gp
from ganstudio.builtin.models.wgan_gp.nets import WGANGP
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, check_model_plugin, step_context
from ganstudio.train.augment import attach

TINY = {"width": "8", "latent_dim": "16"}
FAST = ("--batch-size", "32", "--log-every", "1", "--callbacks", "log")  # metrics.jsonl only: no grids or GIFs


def train(cli, tiny_idx, *extra, options=TINY):
    flags = [x for key, value in options.items() for x in ("--model-option", f"{key}={value}")]
    return cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "wgan-gp", *flags, *FAST, *extra)


def test_wgan_gp_passes_the_contract_kit(tmp_path, one_torch_thread):
    check_model_plugin(wgan_gp, "wgan-gp", tmp_path, options={**TINY, "n_critic": "2"})


def wgan(n_critic=3, grad_scaler=None, **options):
    torch.manual_seed(0)
    model = WGANGP(ModelConfig((1, 28, 28), 0, {**TINY, "n_critic": n_critic, **options}, model="wgan-gp"))
    model.grad_scaler = grad_scaler
    return model, model.configure_optimizers()


def test_the_paper_s_settings_are_the_defaults():
    model = WGANGP(ModelConfig((1, 28, 28), 0, dict(TINY), model="wgan-gp"))
    o = model.options
    assert (o.n_critic, o.gp_weight) == (5, 10.0)
    opts = model.configure_optimizers()
    for opt in opts.values():
        assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.0, 0.9)
    assert {id(p) for p in opts["critic"].param_groups[0]["params"]} == {
        id(p) for p in model.discriminator.parameters()
    }


@pytest.mark.parametrize("channels_last", [True, False])
def test_wgan_step_draws_a_fresh_batch_per_critic_step_and_penalises_gradients(channels_last, one_torch_thread):
    model, opts = wgan(n_critic=3, channels_last=channels_last)
    assert not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.discriminator.modules()
    )  # per-sample penalty
    batches = FixedBatches(torch.rand(96, 1, 28, 28) * 2 - 1, batch_size=16)
    metrics = model.training_step(batches, opts, step_context())
    assert batches.drawn == 3  # n_critic real batches; the generator step draws none
    assert set(metrics) == set(model.metrics)
    assert torch.isfinite(metrics["gradient_penalty"]) and metrics["gradient_penalty"] > 0
    # The penalty is trained through (create_graph): it has gradients for the critic's weights.
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    model.discriminator.zero_grad()
    model.gradient_penalty(real, fake).backward()
    grads = [p.grad for p in model.discriminator.parameters() if p.grad is not None]  # the last bias cannot matter
    assert len(grads) == len(list(model.discriminator.parameters())) - 1
    assert all(torch.isfinite(g).all() for g in grads) and model.discriminator.net[0].weight.grad.abs().sum() > 0


def test_wgan_under_a_grad_scaler_matches_fp32(one_torch_thread):
    """The fp16 path on the CPU's GradScaler: penalty at true scale, gradients unscaled before the steps."""
    data = torch.rand(64, 1, 28, 28) * 2 - 1
    results = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=1024.0)):  # a fresh scaler, as on a run's first step
        model, opts = wgan(n_critic=2, grad_scaler=scaler)
        torch.manual_seed(1)
        metrics = model.training_step(FixedBatches(data, batch_size=16), opts, step_context())
        results.append((metrics, {n: p.grad.clone() for n, p in model.named_parameters()}, model))
    (plain, plain_grads, plain_model), (scaled, scaled_grads, scaled_model) = results
    assert scaled_model.grad_scaler.get_scale() == 1024.0  # no overflow, no skipped step
    for key in plain:
        assert torch.allclose(plain[key], scaled[key], rtol=1e-4, atol=1e-6), key
    for name, grad in plain_grads.items():  # what the optimizers stepped with: true-scale gradients
        assert torch.allclose(grad, scaled_grads[name], rtol=1e-3, atol=1e-7), name
    for (name, a), b in zip(plain_model.state_dict().items(), scaled_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-6), name


def test_penalty_gradients_with_a_fresh_grad_scaler(one_torch_thread):
    """The first fp16 step of a run: the GradScaler has not made its scale yet when the penalty asks for it."""
    model, opts = wgan(n_critic=1, grad_scaler=torch.amp.GradScaler("cpu", init_scale=1024.0))
    metrics = model.training_step(FixedBatches(torch.rand(16, 1, 28, 28) * 2 - 1), opts, step_context())
    assert all(torch.isfinite(v) for v in metrics.values()) and metrics["gradient_penalty"] > 0


def test_diffaugment_reaches_the_critic_and_the_penalty(one_torch_thread):
    """--augment hooks model.discriminator: every critic call is augmented, the penalty's included (its gradient
    goes through the differentiable augmentation)."""
    model, opts = wgan(n_critic=2)
    calls = []
    model.discriminator.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape))
    attach(model.discriminator, ("translation", "cutout"))
    metrics = model.training_step(FixedBatches(torch.rand(64, 1, 28, 28) * 2 - 1, batch_size=16), opts, step_context())
    assert calls == [(16, 1, 28, 28)] * (2 * 3 + 1)  # real, fake, x_hat per critic step; then the G step
    assert all(torch.isfinite(v) for v in metrics.values()) and metrics["gradient_penalty"] > 0


def test_wgan_through_the_cli_counts_every_batch_and_refuses_class(cli, tiny_idx, workdir, one_torch_thread):
    # 5 steps x 2 critic batches of 32 = 320 images: 1.25 epochs of the 256-image data (8 batches an epoch).
    code, out, err = train(
        cli, tiny_idx, "--steps", "5", "--augment", "on", "--ema-decay", "0.999", options={**TINY, "n_critic": "2"}
    )
    assert code == 0, err
    run = workdir / "checkpoints/fashion-wgan-gp"  # the default run name: <data>-<model>
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["progress"]["step"] == 5 and ckpt["progress"]["images_seen"] == 5 * 2 * 32
    assert ckpt["ema"] is not None and "no generator EMA" not in err  # the core found self.generator
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "epoch" in r] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert all(r["gradient_penalty"] > 0 for r in records)

    code, out, err = cli("sample", "--class", "3", "--n", "4")
    assert code == 2 and "not class-conditional" in err and err.count("\n") == 1
    code, out, err = cli("sample", "fashion-wgan-gp", "--n", "4")
    assert code == 0, err
    assert (workdir / "samples/fashion-wgan-gp/sample-4-seed0.png").is_file()


def test_supports_any_dcgan_shape():
    assert (
        wgan_gp.supports((1, 28, 28)) is None
        and wgan_gp.supports((3, 64, 64)) is None
        and wgan_gp.supports((4, 32, 32)) is None
    )
    assert "square" in wgan_gp.supports((3, 32, 64)) and "wgan-gp cannot build 36x36" in wgan_gp.supports((3, 36, 36))


def test_exact_resume_through_the_cli(cli, tiny_idx, workdir, one_torch_thread):
    options = {**TINY, "n_critic": "2"}
    assert train(cli, tiny_idx, "--steps", "4", "--name", "straight", options=options)[0] == 0
    assert train(cli, tiny_idx, "--steps", "2", "--name", "split", options=options)[0] == 0
    code, out, err = cli("train", "--name", "split", "--data-root", tiny_idx, "--resume", "--steps", "4")
    assert code == 0, err
    a = load_checkpoint(workdir / "checkpoints/straight/last.pt")["state"]["model"]
    b = load_checkpoint(workdir / "checkpoints/split/last.pt")["state"]["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_discriminate_scores_each_image_with_the_critic(one_torch_thread):
    model, _ = wgan()
    model.eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        scores = model.discriminate(images)
        assert scores.shape == (5,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
        assert torch.allclose(scores, model.discriminator(images), atol=1e-5)
