"""The third-party model examples in examples/plugins/ (WGAN-GP, class-conditional DCGAN): the contract kit, the
WGAN-GP's batches per step and gradient penalty (fp32 and the fp16 GradScaler path), the CLI end to end
(--plugins-dir, epochs counted over every batch drawn, --class in sample / interpolate / eval), exact resume."""

import importlib.util
import json
import sys

import imageio.v3 as iio
import pytest
import torch

from conftest import REPO
from ganstudio.api import ModelConfig
from ganstudio.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, check_model_plugin, step_context

PLUGINS = REPO / "examples" / "plugins"
TINY = {"width": "8", "latent_dim": "16"}
FAST = ("--batch-size", "32", "--log-every", "1", "--callbacks", "log")  # metrics.jsonl only: no grids or GIFs


def load_example(stem: str):
    """An example plugin imported by path, as a user's own test would."""
    name = f"example_plugin_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PLUGINS / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses (and typing.get_type_hints) look the module up by name
        spec.loader.exec_module(module)
    return sys.modules[name]


def train(cli, tiny_idx, model, *extra, options=TINY):
    flags = [x for key, value in options.items() for x in ("--model-option", f"{key}={value}")]
    return cli("--plugins-dir", PLUGINS, "train", "--data", "fashion", "--data-root", tiny_idx, "--model", model,
               *flags, *FAST, *extra)


@pytest.mark.parametrize("stem, name", [("wgan_gp", "wgan-gp-example"), ("conditional_dcgan", "cdcgan-example")])
def test_examples_pass_the_contract_kit(stem, name, tmp_path, one_torch_thread):
    check_model_plugin(load_example(stem), name, tmp_path, options={**TINY, **({"n_critic": "2"} if stem == "wgan_gp" else {})})


def wgan(n_critic=3, grad_scaler=None):
    torch.manual_seed(0)
    model = load_example("wgan_gp").WGANGP(ModelConfig((1, 28, 28), 0, {**TINY, "n_critic": n_critic}, model="wgan-gp-example"))
    model.grad_scaler = grad_scaler
    return model, model.configure_optimizers()


def test_wgan_step_draws_a_fresh_batch_per_critic_step_and_penalises_gradients(one_torch_thread):
    model, opts = wgan(n_critic=3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.critic.modules())  # the penalty is per sample
    batches = FixedBatches(torch.rand(96, 1, 28, 28) * 2 - 1, batch_size=16)
    metrics = model.training_step(batches, opts, step_context())
    assert batches.drawn == 3  # n_critic real batches; the generator step draws none
    assert set(metrics) == set(model.metrics)
    assert torch.isfinite(metrics["gradient_penalty"]) and metrics["gradient_penalty"] > 0
    # The penalty is trained through (create_graph): it has gradients for the critic's weights.
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    model.critic.zero_grad()
    model.gradient_penalty(real, fake).backward()
    grads = [p.grad for p in model.critic.parameters() if p.grad is not None]  # the last bias cannot matter
    assert len(grads) == len(list(model.critic.parameters())) - 1
    assert all(torch.isfinite(g).all() for g in grads) and model.critic.net[0].weight.grad.abs().sum() > 0


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


def test_wgan_through_the_cli_counts_every_batch_and_refuses_class(cli, tiny_idx, workdir, one_torch_thread):
    # 5 steps x 2 critic batches of 32 = 320 images: 1.25 epochs of the 256-image data (8 batches an epoch).
    code, out, err = train(cli, tiny_idx, "wgan-gp-example", "--steps", "5", options={**TINY, "n_critic": "2"})
    assert code == 0, err
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-wgan-gp-example/last.pt")
    assert ckpt["progress"]["step"] == 5 and ckpt["progress"]["images_seen"] == 5 * 2 * 32
    records = [json.loads(line) for line in (workdir / "checkpoints/fashion-wgan-gp-example/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "epoch" in r] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert all(r["gradient_penalty"] > 0 for r in records)

    code, out, err = cli("--plugins-dir", PLUGINS, "sample", "--class", "3", "--n", "4")
    assert code == 2 and "not class-conditional" in err and err.count("\n") == 1


def test_conditional_through_the_cli_sample_interpolate_eval_by_class(cli, tiny_idx, workdir, one_torch_thread):
    code, out, err = train(cli, tiny_idx, "cdcgan-example", "--steps", "4", "--callbacks", "log,grid")
    assert code == 0, err
    run, samples = "fashion-cdcgan-example", workdir / "samples/fashion-cdcgan-example"
    assert load_checkpoint(workdir / f"checkpoints/{run}/last.pt")["model"]["config"]["num_classes"] == 10
    assert (samples / "step_000004.png").is_file()  # the grid: classes in turn

    ex = ("--plugins-dir", PLUGINS)
    for which in ("3", "trouser"):  # an index, and a name (case-insensitive) from the data's classes
        code, out, err = cli(*ex, "sample", run, "--class", which, "--n", "8")
        assert code == 0, err
        assert iio.imread(samples / f"sample-8-seed0-{which}.png").ndim == 2
    code, out, err = cli(*ex, "interpolate", run, "--class", "1", "--n", "2", "--frames", "4")
    assert code == 0, err
    assert (samples / "interpolate-seed0-1.gif").is_file()

    code, out, err = cli(*ex, "sample", run, "--class", "handbag-of-holding", "--n", "8")
    assert code == 2 and "expected one of T-shirt/top, Trouser" in err and err.count("\n") == 1

    # eval trains a classifier when there is none; a tiny one trained first keeps this fast.
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "classifier",
                         "--model-option", "width=8", "--batch-size", "32", "--steps", "4", "--callbacks", "log")
    assert code == 0, err
    code, out, err = cli(*ex, "eval", run, "--class", "2", "--n", "64", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["class"] == "2" and result["n"] == 64 and result["checkpoint"].endswith(f"{run}/last.pt")


def test_conditional_on_unlabelled_data_is_one_line(cli, workdir):
    (workdir / "imgs").mkdir()
    for i in range(8):
        iio.imwrite(workdir / f"imgs/{i}.png", torch.randint(0, 255, (28, 28), dtype=torch.uint8).numpy())
    code, out, err = cli("--plugins-dir", PLUGINS, "train", "--data", "folder", "--data-root", "imgs", "--image-size", "28",
                         "--channels", "1", "--model", "cdcgan-example", "--batch-size", "8", "--steps", "1")
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # (the folder's progress lines go to stderr too)
    assert code == 2 and len(errors) == 1 and "needs labelled data" in errors[0] and "Traceback" not in err


def test_conditional_needs_labelled_data():
    module = load_example("conditional_dcgan")
    with pytest.raises(ValueError, match="needs labelled data"):
        module.ConditionalDCGAN(ModelConfig((1, 28, 28), 0, dict(TINY), model="cdcgan-example"))
    assert module.supports((1, 28, 28)) is None and module.supports((1, 30, 30))
    assert "28, 32 or 64" in load_example("wgan_gp").supports((3, 48, 48))


@pytest.mark.parametrize("model, options", [("wgan-gp-example", {**TINY, "n_critic": "2"}), ("cdcgan-example", TINY)])
def test_exact_resume_through_the_cli(model, options, cli, tiny_idx, workdir, one_torch_thread):
    assert train(cli, tiny_idx, model, "--steps", "4", "--name", "straight", options=options)[0] == 0
    assert train(cli, tiny_idx, model, "--steps", "2", "--name", "split", options=options)[0] == 0
    code, out, err = cli("--plugins-dir", PLUGINS, "train", "--name", "split", "--data-root", tiny_idx, "--resume", "--steps", "4")
    assert code == 0, err
    a = load_checkpoint(workdir / "checkpoints/straight/last.pt")["state"]["model"]
    b = load_checkpoint(workdir / "checkpoints/split/last.pt")["state"]["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
