"""The plugin author's API is small and says where moved names went; load_run gives a run's model and what the run
is; the contract kit takes several plugins at once and runs a model's step on two processes, where a model whose
step leaves parameters without gradients fails with PyTorch's error explained in one line."""

import dataclasses
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganstudio.api
from ganstudio import hookimpl
from ganstudio.api import DatasetPlugin, Metric, ModelPlugin, TrainableModel, option
from ganstudio.errors import GanstudioError
from ganstudio.testing import (
    check_dataset_plugin,
    check_model_plugin,
    plugins_with,
    step_context,
    synthetic_data,
    train_run,
)
from ganstudio.testing.ddp import check_distributed_step

TINY_DCGAN = {"width": 8, "latent_dim": 8}


def test_the_api_is_its_all_and_no_more():
    assert len(ganstudio.api.__all__) <= 14  # issue 32 added FeatureExtractor
    assert dir(ganstudio.api) == sorted(ganstudio.api.__all__)
    for name in ganstudio.api.__all__:
        assert getattr(ganstudio.api, name) is not None


@pytest.mark.parametrize(
    "name, home",
    [
        ("GanstudioError", "ganstudio"),
        ("parse_options", "ganstudio.api.options"),
        ("Batch", "ganstudio.api.model"),
        ("import_object", "ganstudio.api.types"),
        ("LazyBuild", "ganstudio.api.types"),
    ],
)
def test_a_name_that_left_the_api_still_works_and_says_where_it_lives(name, home):
    with pytest.warns(DeprecationWarning, match=f"from {home} import {name}"):
        moved = getattr(ganstudio.api, name)
    assert moved is getattr(__import__(home, fromlist=[name]), name)


def test_importing_the_api_imports_no_torch_and_no_deprecated_name_inside_ganstudio():
    probe = (
        "import sys, warnings\nwarnings.simplefilter('error', DeprecationWarning)\nimport ganstudio.api\n"
        "print('torch' in sys.modules)\nimport ganstudio.testing, ganstudio.api.runs, ganstudio.api.commands"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_the_docs_and_test_models_import_only_public_names():
    here = Path(__file__).parent
    text = (here / "tiny_models.py").read_text() + (here.parent / "docs" / "plugins.md").read_text()
    imported = {
        name.strip()
        for block in __import__("re").findall(r"from ganstudio\.api import \(?([^)\n]*)", text)
        for name in block.split(",")
        if name.strip()
    }
    assert imported and imported <= set(ganstudio.api.__all__) | {"hookspecs"}, imported - set(ganstudio.api.__all__)


# --- load_run -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    plugins = plugins_with()
    run = train_run(plugins, folder, "dcgan", 3, options=TINY_DCGAN, name="tiny-run")
    return plugins, folder / "checkpoints", run


def test_load_run_by_name_gives_the_model_and_what_the_run_is(trained):
    plugins, checkpoints, run = trained
    model, info = ganstudio.api.load_run("tiny-run", plugins=plugins, checkpoints_dir=checkpoints)
    assert isinstance(model, TrainableModel) and not model.training
    assert (info.name, info.model, info.kind, info.step, info.data) == ("tiny-run", "dcgan", "gan", 3, "contract-data")
    assert info.image_shape == (1, 28, 28) and info.classes == tuple(f"class{i}" for i in range(10))
    assert info.has_ema and info.ema and info.path == checkpoints / "tiny-run" / "last.pt"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.step = 4
    averaged = {k: v for k, v in run.ema.module.state_dict().items()}
    assert all(torch.equal(v, model.generator.state_dict()[k]) for k, v in averaged.items())


def test_load_run_by_path_without_ema_and_the_newest(trained):
    plugins, checkpoints, run = trained
    raw, info = ganstudio.api.load_run(checkpoints / "tiny-run" / "last.pt", ema=False, plugins=plugins)
    assert info.has_ema and not info.ema
    assert all(torch.equal(v, raw.state_dict()[k]) for k, v in run.model.state_dict().items())
    _, newest = ganstudio.api.load_run(plugins=plugins, checkpoints_dir=checkpoints, kind="gan")
    assert newest.name == "tiny-run" and "newest" in newest.chosen


def test_load_run_errors_are_one_line(trained):
    plugins, checkpoints, _ = trained
    with pytest.raises(GanstudioError, match="no run 'nope' under .*runs there: tiny-run"):
        ganstudio.api.load_run("nope", plugins=plugins, checkpoints_dir=checkpoints)
    with pytest.raises(GanstudioError, match="holds a gan .*not a classifier"):
        ganstudio.api.load_run("tiny-run", plugins=plugins, checkpoints_dir=checkpoints, kind="classifier")
    # a name the operating system refuses (too long for a file name) is one line quoting only its start
    with pytest.raises(GanstudioError, match=r"checkpoint a{160}\.\.\. \(100,000 characters\) does not exist$"):
        ganstudio.api.load_run("a" * 100_000, plugins=plugins, checkpoints_dir=checkpoints)
    (checkpoints / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(GanstudioError, match=r"notes.txt: (refused|not a readable checkpoint)"):
        ganstudio.api.load_run(checkpoints / "notes.txt", plugins=plugins)


def test_a_run_name_too_long_for_a_file_is_one_short_line(cli):
    code, _, err = cli("sample", "a" * 100_000)
    assert code == 2 and err.count("\n") == 1 and len(err) < 400, err
    assert "run name 'aaaa" in err and "(100,000 characters)' is not a plain name" in err
    code, _, err = cli("sample", "--checkpoint", "b" * 5_000)
    assert code == 2 and "checkpoint bbbb" in err and "(5,000 characters) does not exist" in err and len(err) < 400


def test_a_command_plugin_turns_the_checkpoint_arguments_into_a_run(trained):
    import argparse

    from ganstudio.api.commands import add_checkpoint_options, load_run_from_args

    plugins, checkpoints, _ = trained
    parser = argparse.ArgumentParser()
    add_checkpoint_options(parser)
    args = parser.parse_args(["tiny-run", "--checkpoints-dir", str(checkpoints), "--no-ema"])
    args.plugins = plugins
    model, info = load_run_from_args(args)
    assert info.name == "tiny-run" and not info.ema and model.kind == "gan"
    args = parser.parse_args(["tiny-run", "--checkpoint", "x.pt"])
    args.plugins = plugins
    with pytest.raises(GanstudioError, match="not both"):
        load_run_from_args(args)


# --- the contract kit -----------------------------------------------------------------------------------------------


def test_the_kit_takes_a_dataset_and_the_sibling_module_registering_its_default_model():
    from tiny_models import TinyGAN

    models, datasets = types.ModuleType("dist_models"), types.ModuleType("dist_data")
    models.register_models = hookimpl(lambda register: register(ModelPlugin("sibling-gan", TinyGAN)))
    datasets.register_datasets = hookimpl(
        lambda register: register(
            DatasetPlugin("sibling-data", lambda request: synthetic_data(16), default_model="sibling-gan")
        )
    )
    with pytest.raises(AssertionError, match="default_model 'sibling-gan' is not a registered model"):
        check_dataset_plugin(datasets, "sibling-data")
    assert len(check_dataset_plugin([datasets, models], "sibling-data")["train"]) == 16


@dataclass
class SplitOptions:
    latent_dim: int = option(4, "latent size", min=1)
    d_loss: str = option(
        "r1",
        "r1: the D step is an R1 penalty alone; r1+zero: the same plus 0 * D's score (the documented fix); "
        "skip: the D step never calls D's aux head",
    )


class SplitGAN(TrainableModel):
    """A GAN whose D step leaves some of D's parameters without a gradient: the cases DDP needs told about."""

    Options = SplitOptions
    metrics = {"loss_d": Metric("D loss", "losses")}

    def __init__(self, config):
        super().__init__(config)
        self.latent_dim = self.options.latent_dim
        self.shape = config.image_shape
        n = int(torch.tensor(self.shape).prod())
        self.generator = nn.Linear(self.latent_dim, n)
        self.discriminator = TwoHeads(n)

    def configure_optimizers(self):
        return {
            "g": torch.optim.SGD(self.generator.parameters(), 0.01),
            "d": torch.optim.SGD(self.discriminator.parameters(), 0.01),
        }

    def generate(self, z, labels=None):
        return torch.tanh(self.generator(z)).view(len(z), *self.shape)

    def training_step(self, batches, optimizers, context):
        r1 = self.options.d_loss.startswith("r1")
        real = batches.next().images.detach().requires_grad_(r1)
        optimizers["d"].zero_grad()
        if r1:
            score = self.discriminator(real)
            loss_d = self.penalty_gradients(score, real).pow(2).sum() * 0.1
            if self.options.d_loss == "r1+zero":  # every parameter D's call reaches now gets a (zero) gradient
                loss_d = loss_d + 0 * score.sum()
        else:
            fake = self.generate(self.sample_latent(len(real))).detach()
            loss_d = F.softplus(-self.discriminator(real)).mean() + F.softplus(self.discriminator(fake)).mean()
        self.backward_step(loss_d, optimizers["d"])
        optimizers["g"].zero_grad()
        fake = self.generate(self.sample_latent(len(real)))
        self.backward_step(F.softplus(-self.discriminator(fake, self.options.d_loss == "skip")).mean(), optimizers["g"])
        return {"loss_d": loss_d.detach()}


class TwoHeads(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.body, self.head, self.aux = nn.Linear(n, 8), nn.Linear(8, 1), nn.Linear(8, 1)

    def forward(self, x, aux=False):
        h = torch.tanh(self.body(x.flatten(1)))
        return (self.head(h) + (self.aux(h) if aux else 0)).flatten()


def split_model(d_loss: str, ddp_options: dict):
    model_type = type("SplitGAN", (SplitGAN,), {"ddp_options": ddp_options})
    return lambda: model_type(ganstudio.api.ModelConfig((1, 28, 28), options={"d_loss": d_loss}, model="split"))


@pytest.mark.parametrize("d_loss", ["r1", "skip"])
def test_a_step_that_leaves_parameters_without_gradients_fails_on_two_processes_with_the_fix(d_loss, tmp_path):
    with pytest.raises(AssertionError, match=r"finished reduction.*set ddp_options = \{'find_unused_parameters'"):
        check_distributed_step(split_model(d_loss, {}), synthetic_data(32), tmp_path)


def test_ddp_options_make_a_step_that_skips_part_of_a_network_train_on_two_processes(tmp_path):
    check_distributed_step(split_model("skip", {"find_unused_parameters": True}), synthetic_data(32), tmp_path)


def test_the_documented_fix_makes_an_r1_only_step_train_on_two_processes(tmp_path):
    """docs/plugins.md: an R1-only D step is fixed by adding 0 * score.sum() to its loss (find_unused_parameters
    here too, for the aux head this model's steps never call in r1 mode)."""
    check_distributed_step(split_model("r1+zero", {"find_unused_parameters": True}), synthetic_data(32), tmp_path)
    with pytest.raises(AssertionError, match="finished reduction"):
        check_distributed_step(split_model("r1", {"find_unused_parameters": True}), synthetic_data(32), tmp_path)


def test_the_model_check_runs_the_two_process_step(tmp_path, one_torch_thread):
    plugin = types.SimpleNamespace(register_models=hookimpl(lambda register: register(ModelPlugin("split", SplitGAN))))
    with pytest.raises(AssertionError, match="on 2 processes .*ddp_options"):
        check_model_plugin(plugin, "split", tmp_path, options={"latent_dim": 4})
    check_model_plugin(plugin, "split", tmp_path / "local", options={"latent_dim": 4}, distributed=False)


def test_step_context_carries_the_planned_length():
    assert step_context(3, 0.3, 8, total_steps=10).total_steps == 10
    assert step_context().total_steps is None
