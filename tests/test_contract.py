"""Every built-in plugin passes the contract kit (ganstudio.testing) that third-party plugins are tested with,
and the generator-EMA callback of docs/plugins.md keeps its state across a resume.

The built-ins are loaded already by the kit's ``plugins_with``; the kit wants a plugin to add, so these tests hand
it ``NOTHING``, an object without hookimpls (a built-in module passed again would be registered twice).
"""

import docs_ema_plugin
import pytest
import torch
from image_trees import make_celeba_torchvision, make_image_folder

from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import check_callback_plugin, check_dataset_plugin, check_model_plugin, plugins_with, train_run


class Nothing:
    """A plugin without hookimpls: what the kit is handed when the plugin under test is a built-in."""


NOTHING = Nothing()
TINY_DCGAN = {"width": 8, "latent_dim": 16}
TINY_CLASSIFIER = {"width": 4, "hidden": 16}


# --- models ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model, options", [("dcgan", TINY_DCGAN), ("mlp", {"hidden": 16})])
def test_built_in_model_passes_the_contract(model, options, workdir, one_torch_thread):
    check_model_plugin(NOTHING, model, workdir, options=options)


def test_classifier_passes_the_contract_with_its_cosine_schedule(workdir, one_torch_thread):
    """The kit's resume check stops a 4-step run at step 2 (as Ctrl-C would) and resumes it, so a schedule that
    follows context.fraction sees the same values as in the straight run."""
    check_model_plugin(NOTHING, "classifier", workdir, options=TINY_CLASSIFIER)


# --- datasets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fashion-mini", "mnist-mini"])
def test_embedded_dataset_passes_the_contract(name, workdir):
    loaded = check_dataset_plugin(NOTHING, name, splits=("train", "test"))
    assert len(loaded["train"]) == 4000 and len(loaded["test"]) == 1000
    assert loaded["train"].image_shape == (1, 28, 28) and len(loaded["train"].classes) == 10


def test_folder_dataset_passes_the_contract(workdir):
    root = make_image_folder(workdir / "pictures", count=10)
    loaded = check_dataset_plugin(NOTHING, "folder", root=root)
    assert len(loaded["train"]) == 10 and loaded["train"].image_shape == (3, 64, 64)


def test_celeba_dataset_passes_the_contract(workdir):
    root = make_celeba_torchvision(workdir / "faces", n_train=6, n_valid=1, n_test=3)
    loaded = check_dataset_plugin(NOTHING, "celeba", root=root, splits=("train", "test"))
    assert len(loaded["train"]) == 6 and len(loaded["test"]) == 3
    assert loaded["train"].attribute_names == ["Smiling", "Male", "Eyeglasses"]


# --- callbacks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, options, output",
    [
        ("grid", {}, "samples/contract/latest.png"),
        ("gif", {"fps": "8", "max_frames": "3"}, "samples/contract/timeline.gif"),
        ("curves", {}, "samples/contract/curves.png"),
        ("log", {}, "checkpoints/contract/metrics.jsonl"),
    ],
)
def test_built_in_callback_passes_the_contract(name, options, output, workdir, one_torch_thread):
    check_callback_plugin(NOTHING, name, workdir, options=options, model_options=TINY_DCGAN)
    assert (workdir / output).is_file(), f"callback '{name}' wrote no {output}"


def test_eval_callback_passes_the_contract_while_scoring(workdir, one_torch_thread):
    """--eval-every 2 on the kit's data, with a tiny classifier trained beforehand where eval looks for one
    (checkpoints/<data>-classifier); tests/test_eval.py covers the scores themselves."""
    train_run(plugins_with(NOTHING), workdir, "classifier", 4, options=TINY_CLASSIFIER, name="contract-data-classifier")
    check_callback_plugin(NOTHING, "eval", workdir, options={"every": "2", "samples": "16"}, model_options=TINY_DCGAN)
    best = load_checkpoint(workdir / "checkpoints/contract/best.pt")
    assert best["results"]["eval"]["step"] in (2, 4)


def test_tensorboard_callback_passes_the_contract(workdir, one_torch_thread):
    pytest.importorskip("tensorboard")
    check_callback_plugin(NOTHING, "tensorboard", workdir, model_options=TINY_DCGAN)


# --- the docs' EMA callback ------------------------------------------------------------------------


def test_docs_ema_callback_passes_the_contract(workdir, one_torch_thread):
    check_callback_plugin(docs_ema_plugin, "ema", workdir, options={"decay": "0.9"}, model_options=TINY_DCGAN)


def test_docs_ema_callback_state_round_trips_through_a_resume(workdir, one_torch_thread):
    plugins = plugins_with(docs_ema_plugin)
    kwargs = dict(callbacks=["ema"], callback_options={"ema": {"decay": "0.9"}}, options=TINY_DCGAN)
    straight = train_run(plugins, workdir / "straight", "dcgan", 5, **kwargs)
    train_run(plugins, workdir / "resumed", "dcgan", 3, **kwargs)
    resumed = train_run(plugins, workdir / "resumed", "dcgan", 5, resume=True, **kwargs)

    saved = load_checkpoint(straight.checkpoint_path)
    average = saved["callbacks"]["ema"]["average"]
    names = [name for name, _ in straight.model.generator.named_parameters()]
    assert sorted(average) == sorted(names)
    # 3 steps, save, resume, 2 steps: the same average as 5 steps in one go, so the state came back exactly
    again = load_checkpoint(resumed.checkpoint_path)["callbacks"]["ema"]["average"]
    for name in names:
        assert torch.equal(average[name], again[name]), f"the EMA of '{name}' differs after 3 + 2 steps vs 5"
    # ... and it is an average, not a copy of the weights
    raw = saved["state"]["model"]
    for name in names:
        assert not torch.equal(average[name], raw[f"generator.{name}"]), f"the EMA of '{name}' equals the raw weights"
