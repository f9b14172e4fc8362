"""A checkpoint from elsewhere controls no path and no allocation: its run name must be plain, and its model config
must describe exactly the tensors it holds before anything is built."""

import pytest
import torch
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint


@pytest.fixture
def checkpoint(cli, workdir, tiny_idx):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "dcgan",
        "--model-option",
        "width=8",
        *FAST,
        "--steps",
        "2",
    )
    assert code == 0, err
    return workdir / "checkpoints/fashion-dcgan/last.pt"


def crafted(path, edit):
    ckpt = load_checkpoint(path)
    edit(ckpt)
    out = path.parent.parent / "crafted.pt"
    torch.save(ckpt, out)
    return out


@pytest.mark.parametrize("name", ["/tmp/anywhere", "../../escaped", "..", ".hidden", "a/b", "x" * 101])
def test_a_crafted_run_name_cannot_choose_where_sample_writes(cli, workdir, checkpoint, name):
    path = crafted(checkpoint, lambda c: c["config"].update(name=name))
    code, out, err = cli("sample", "--checkpoint", path, "--n", "4")
    assert code == 2 and "is not a plain name" in err and err.count("\n") == 1
    assert sorted(p.name for p in (workdir / "samples").iterdir()) == ["fashion-dcgan"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["model"]["config"]["options"].update(width=4096),
            "'generator.net.0.weight' is (100, 16, 7, 7) in the file, (100, 8192, 7, 7) in the model",
        ),
        (lambda c: c["model"]["config"].update(image_shape=(1, 4096, 4096)), "in the file"),
        (lambda c: c["state"]["model"].pop("generator.net.1.weight"), "'generator.net.1.weight' is missing"),
        (lambda c: c["state"]["model"].update(extra=torch.zeros(1)), "it holds 'extra', which the model does not have"),
    ],
)
def test_a_config_that_does_not_match_the_weights_is_refused_before_building(
    cli, checkpoint, monkeypatch, edit, message
):
    path = crafted(checkpoint, edit)
    from ganstudio.builtin.models.dcgan import nets as dcgan

    built = []
    real_init = dcgan.DCGAN.__init__
    monkeypatch.setattr(
        dcgan.DCGAN,
        "__init__",
        lambda self, config: (built.append(torch.empty(0).device.type), real_init(self, config))[1],
    )
    code, out, err = cli("sample", "--checkpoint", path, "--n", "4")
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert built == ["meta"], "only the meta-device probe was built, nothing was allocated"


def test_resume_with_weights_of_another_shape_is_one_line(cli, checkpoint):
    ckpt = load_checkpoint(checkpoint)
    ckpt["state"]["model"]["generator.net.0.weight"] = torch.zeros(100, 3, 7, 7)
    torch.save(ckpt, checkpoint)
    code, out, err = cli("train", "--name", "fashion-dcgan", "--resume", "--steps", "4")
    assert code == 2 and "'generator.net.0.weight' is (100, 3, 7, 7) in the file, (100, 16, 7, 7) in the model" in err
    assert err.count("\n") == 1
