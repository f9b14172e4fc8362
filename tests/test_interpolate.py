"""``ganstudio interpolate``: spherical interpolation, a seamless loop, and the GIF's dimensions."""

import imageio.v3 as iio
import pytest
import torch
from conftest import FAST
from PIL import Image

from ganstudio.builtin.commands.interpolate import loop_latents
from ganstudio.output.generation import slerp

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_slerp_hits_the_ends_and_follows_the_great_circle():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 100, generator=g), torch.randn(5, 100, generator=g)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    # Unit vectors stay on the unit sphere, where a linear mix would cut inside it.
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    mid = slerp(ua, ub, 0.5)
    assert torch.allclose(mid.norm(dim=1), torch.ones(5), atol=1e-5)
    assert ((ua + ub) / 2).norm(dim=1).max() < 0.9
    # Equal angles to both ends at t = 0.5.
    assert torch.allclose((mid * ua).sum(1), (mid * ub).sum(1), atol=1e-5)
    # (Anti-)parallel rows do not divide by zero.
    assert torch.isfinite(slerp(a, 2 * a, 0.3)).all() and torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)


def test_the_loop_starts_at_the_first_key_and_closes_without_a_repeat():
    keys = torch.randn(4, 3, 16, generator=torch.Generator().manual_seed(1))
    frames = loop_latents(keys, 40)
    assert frames.shape == (40, 3, 16)
    assert torch.allclose(frames[0], keys[0]) and torch.allclose(frames[10], keys[1], atol=1e-5)
    steps = (frames - frames.roll(-1, dims=0)).norm(dim=2)  # includes the jump from the last frame back to the first
    assert steps.min() > 0, "no frame repeats the next one"
    assert steps.max() < 3 * steps.median(), "no jump where the loop closes"


def test_interpolate_writes_a_gif_of_n_image_rows(cli, tiny_idx, workdir):
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
        "--callbacks",
        "log",
    )
    assert code == 0, err
    code, out, err = cli("interpolate", "--n", "3", "--frames", "6", "--scale", "1", "--fps", "10", "--out", "walk.gif")
    assert code == 0, err
    frames = iio.imread(workdir / "walk.gif", index=None)
    assert frames.shape[:3] == (6, 28 + 4, 3 * 30 + 2), "one row of 3 images of 28 px with 2 px padding"
    assert len({f.tobytes() for f in frames}) == 6, "every frame differs"
    with Image.open(workdir / "walk.gif") as im:
        assert im.info["duration"] == 100 and im.info["loop"] == 0

    code, out, err = cli("interpolate", "--n", "2", "--frames", "4")  # defaults: newest checkpoint, 2x scale
    assert code == 0, err
    frames = iio.imread(workdir / "samples/fashion-dcgan/interpolate-seed0.gif", index=None)
    assert frames.shape[:3] == (4, 2 * 32, 2 * (2 * 30 + 2))

    for args, message in [
        (("--frames", "1"), "at least 2"),
        (("--keys", "1"), "at least 2"),
        (("--out", "walk.png"), "expected a .gif"),
        (("--checkpoint", "nope.pt"), "does not exist"),
        (("--n", "0"), "greater than 0"),
    ]:
        code, out, err = cli("interpolate", *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
