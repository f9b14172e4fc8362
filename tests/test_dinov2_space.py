"""The DINOv2 feature spaces (issue 32): ``eval --features dinov2 --weights FILE`` end to end on a weights file in the
original facebookresearch layout (timm's ViT-B/14 with random weights), equal to the original DINOv2 forward on the
same file and images; no Inception Score (DINOv2 has no classes); missing, damaged or wrong weights and a missing
timm in one line."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_idx_dataset

from ganstudio.scoring.dinov2 import OFFSET, VARIANTS, build_network, normalised, timm_state
from ganstudio.scoring.inception import resize

timm = pytest.importorskip("timm")

N = 8
DATA = ("--data", "fashion")


def original_layout(network) -> dict:
    """A timm DINOv2 ViT's weights as facebookresearch's files hold them: the same names plus the mask token."""
    state = dict(network.state_dict())
    state["mask_token"] = torch.zeros(1, network.embed_dim)
    return state


def original_forward(network, x: torch.Tensor) -> torch.Tensor:
    """DINOv2's own forward of a model made for 518 px (``network``: timm's, its 37x37 position embedding kept) on
    smaller images: the position embedding is interpolated at every call (vision_transformer.py of
    facebookresearch/dinov2, ``interpolate_pos_encoding``), and the output is ``x_norm_clstoken``."""
    tokens = network.patch_embed(x)  # (N, h, w, D): the network was made with dynamic_img_size
    n, h, w, dim = tokens.shape
    pos = network.pos_embed.float()
    m = int((pos.shape[1] - 1) ** 0.5)
    grid = pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(
        grid, scale_factor=((w + OFFSET) / m, (h + OFFSET) / m), mode="bicubic", antialias=False
    )
    pos = torch.cat((pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)
    tokens = torch.cat((network.cls_token.expand(n, -1, -1), tokens.reshape(n, -1, dim)), dim=1) + pos
    return network.norm(network.blocks(tokens))[:, 0]


def test_an_original_state_dict_loads_into_timm_at_224_and_gives_the_original_cls_token():
    from timm.models.vision_transformer import VisionTransformer

    # a tiny ViT of DINOv2's make (patch 14, LayerScale, made for 518 px), then the same one at 224 px
    tiny = dict(patch_size=14, embed_dim=24, depth=2, num_heads=2, init_values=1e-5, num_classes=0)
    torch.manual_seed(0)
    original = VisionTransformer(img_size=518, dynamic_img_size=True, **tiny).eval()
    for p in original.parameters():  # LayerScale's 1e-5 would hide the blocks: random weights everywhere
        torch.nn.init.normal_(p, std=0.3)
    ours = VisionTransformer(img_size=224, **tiny).eval()
    ours.load_state_dict(timm_state(original_layout(original)), strict=True)
    x = normalised(resize(torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8), 224))
    with torch.no_grad():
        theirs, mine = original_forward(original, x), ours(x)
    assert mine.shape == (3, 24) and theirs.abs().mean() > 0.1
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)


def test_a_space_without_classes_has_no_inception_score_and_no_class_shares():
    from ganstudio.scoring.evaluation import Reference, score_features
    from ganstudio.scoring.table import BY_KEY

    g = torch.Generator().manual_seed(0)
    reference = Reference(torch.randn(40, 8, generator=g), torch.empty(40, 0))
    scores = score_features(reference, torch.randn(30, 8, generator=g) + 0.5, torch.empty(30, 0), kid_subsets=5)
    assert scores["fid"] > 0 and scores["images"] == 30 and 0 <= scores["precision"] <= 1
    assert scores["inception_score"] is None and scores["inception_score_std"] is None
    assert scores["class_counts"] is None and scores["rarest_share"] is None and scores["commonest_class"] is None
    assert BY_KEY["inception_score"].show(None) == "—"


@pytest.fixture
def data(workdir):
    """Tiny fashion-shaped data and 8 samples to score, in the work folder."""
    root = make_idx_dataset(workdir / "tiny", n_train=64, n_test=16)
    np.savez(workdir / "s.npz", images=np.random.default_rng(1).integers(0, 256, (N, 28, 28), dtype=np.uint8))
    return root


def score_samples(cli, data, *args):
    return cli("eval", "--samples", "s.npz", *DATA, "--data-root", data, "--n", N, *args)


def test_missing_weights_are_one_line_saying_which_file_where(cli, data, workdir, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(workdir / "torch-home"))  # an empty torch hub cache
    for space, file in (("dinov2", "dinov2_vitb14_pretrain.pth"), ("dinov2-l", "dinov2_vitl14_pretrain.pth")):
        code, out, err = score_samples(cli, data, "--features", space)
        assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
        for part in (file, "https://dl.fbaipublicfiles.com/dinov2/", "--weights PATH", "--download", "no published"):
            assert part in err
        assert str(workdir / "cache" / "weights") in err and "torch-home" in err


def test_damaged_or_wrong_weights_are_one_line(cli, data, workdir):
    (workdir / "garbage.pth").write_bytes(b"not a torch file at all")
    torch.save({"fc.weight": torch.zeros(3, 3)}, workdir / "other.pth")
    torch.save({"pos_embed": torch.zeros(1, 11, 768)}, workdir / "odd.pth")  # 10 positions: no square grid
    for name, expected in (
        ("garbage.pth", "not a readable weights file"),
        ("other.pth", "is not a DINOv2 dinov2-vitb14 state dict"),
        ("odd.pth", "is not a DINOv2 dinov2-vitb14 state dict (pos_embed has 10 patch positions"),
    ):
        code, out, err = score_samples(cli, data, "--features", "dinov2", "--weights", name)
        assert code == 2 and expected in err.splitlines()[-1] and err.count("error:") == 1, err


def test_without_timm_it_says_how_to_install_it(cli, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    code, out, err = score_samples(cli, data, "--features", "dinov2-l")
    assert code == 2 and err.count("error:") == 1 and "pip install 'ganstudio[dinov2]'" in err, err


@pytest.mark.slow  # ~1 min on this busy 2-core machine: a 346 MB file and ViT-B/14 at 224 px over 3 x 8 images
def test_eval_in_dinov2_space_equals_the_original_forward_and_has_no_inception_score(cli, data, workdir):
    from ganstudio.api.data import load_data
    from ganstudio.config import DataSpec
    from ganstudio.plugins import load_plugins
    from ganstudio.scoring.samples import real_sets

    torch.manual_seed(0)
    made = timm.create_model("vit_base_patch14_dinov2", pretrained=False, num_classes=0, dynamic_img_size=True)
    with torch.no_grad():  # LayerScale at DINOv2's own initial 1.0, not timm's 1e-5: every block counts
        for name, p in made.named_parameters():
            if name.endswith(".gamma"):
                p.fill_(1.0)
    torch.save(original_layout(made), workdir / "dinov2-random.pth")
    gan = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "16", "--steps", "2", "--callbacks", "log")
    assert cli("train", *DATA, "--data-root", data, *gan)[0] == 0
    args = ("eval", "--features", "dinov2", "--weights", "dinov2-random.pth", "--n", N, "--data-root", data)
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["feature_space"] == "dinov2" and result["feature_space_version"] == "dinov2-vitb14"
    assert result["protocol"]["features"] == "768-d CLS token after the final norm"
    assert "bicubic to 224x224" in result["protocol"]["resize"] and result["samples"]["fid"] > 0
    assert result["samples"]["inception_score"] is None and result["real"]["inception_score"] is None

    # the reals' features, cached by that eval, equal DINOv2's own forward on the same file and images
    (cached,) = (workdir / "cache" / "real-features").glob("fashion-train-dinov2-*.pt")
    features = torch.load(cached, weights_only=True)["features"]
    spec = DataSpec("fashion", root=str(data))
    plugins = load_plugins()
    train, test = load_data(plugins, spec, "train", quiet=True), load_data(plugins, spec, "test", quiet=True)
    with torch.no_grad():
        theirs = original_forward(made.eval(), normalised(resize(real_sets(train, test, N, 0).reference, 224)))
    assert features.shape == (N, 768)
    torch.testing.assert_close(features, theirs, rtol=1e-4, atol=1e-4)

    code, out, err = cli(*args)  # the table: every score says its space, IS is absent; the record has no null
    assert code == 0 and "FD (DINOv2)" in out and "real features read from the cache" in out, err
    assert "Inception Score" not in out and "no class consistency in this feature space" not in out
    record = json.loads((workdir / "checkpoints/fashion-dcgan/metrics.jsonl").read_text().splitlines()[-1])
    assert record["fid_dinov2"] > 0 and record["floor_fid_dinov2"] > 0 and "inception_score_dinov2" not in record


def original_code() -> Path:
    """facebookresearch/dinov2's code, where torch.hub (and torch-fidelity's DINOv2 extractor) keeps it."""
    return Path(os.environ.get("DINOV2_CODE") or Path(torch.hub.get_dir()) / "facebookresearch_dinov2_main")


@pytest.mark.slow
@pytest.mark.skipif(not (original_code() / "hubconf.py").is_file(), reason="no facebookresearch/dinov2 code here")
def test_the_network_equals_facebookresearchs_own_code_on_its_state_dict(monkeypatch):
    monkeypatch.setenv("XFORMERS_DISABLED", "1")
    monkeypatch.syspath_prepend(str(original_code()))
    from dinov2.hub.backbones import dinov2_vitb14  # what torch.hub.load("facebookresearch/dinov2", ...) builds

    torch.manual_seed(0)
    theirs = dinov2_vitb14(pretrained=False).eval()
    ours = build_network(VARIANTS["dinov2"], theirs.state_dict())
    x = normalised(resize(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8), 224))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
