"""Round two of "bad input is one line": each case here was a traceback, a dump or a silent oddity before."""

import numpy as np
import pytest
import torch
from conftest import FAST

from ganstudio.store.checkpoint import load_checkpoint

TINY = ("--model", "dcgan", "--model-option", "width=8", *FAST)


@pytest.fixture
def run(cli, workdir, tiny_idx):
    assert cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2")[0] == 0
    return workdir / "checkpoints/fashion-dcgan/last.pt"


def one_line(result, message, code=2):
    got, out, err = result
    assert got == code and message in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model-option", "beta1=2"), "model 'dcgan' option beta1 (number): expected a number less than 1, got 2"),
        (("--model-option", "width=0"), "model 'dcgan' option width (integer): expected at least 1, got 0"),
        (("--model-option", "lr=-1"), "model 'dcgan' option lr (number): expected a number greater than 0, got -1"),
        (("--gif-fps", "0.0001"), "callback 'gif' option fps (number): expected at least 0.1, got 0.0001"),
        (("--callbacks", "grid,grid,log"), None),
    ],
)
def test_train_options(cli, tiny_idx, args, message):
    result = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "1", *args)
    if message is None:
        assert result[0] == 0, result[2]
    else:
        one_line(result, message)


def test_gif_and_interpolate_fps(cli, run):
    one_line(
        cli("interpolate", "--fps", "0.0001"), "expected frames per second (GIF delays are in 1/100 s) from 0.1 to 50"
    )
    one_line(
        cli("gif", "fashion-dcgan", "--fps", "0.0001"),
        "expected frames per second (GIF delays are in 1/100 s) from 0.1 to 50",
    )


def test_sample_out_without_a_known_extension(cli, run, workdir):
    one_line(cli("sample", "--n", "4", "--out", "x"), "--out x: give FILE.png (a grid), FILE.npz")
    assert not (workdir / "x").exists()


def test_sample_from_nan_weights(cli, run):
    ckpt = load_checkpoint(run)
    ckpt["state"]["model"]["generator.net.1.weight"][0] = float("nan")
    torch.save(ckpt, run)
    one_line(cli("sample", "--n", "4"), "the weights hold NaN or Inf ('generator.net.1.weight')")


def test_eval_of_an_npz_with_nan(cli, workdir):
    images = np.random.default_rng(0).random((8, 28, 28)).astype(np.float32)
    images[0, 0, 0] = np.nan
    np.savez(workdir / "bad.npz", images=images)
    one_line(cli("eval", "--samples", "bad.npz", "--data", "fashion"), "--samples bad.npz: 1 values are NaN or Inf")


BAD_SIGNATURE = """
from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin

class Wrong:
    def __init__(self, options):
        pass

    @hookimpl
    def after_metrics_logged(self, run, stepp):
        pass

@hookimpl
def register_callbacks(register):
    register(CallbackPlugin("wrong", Wrong, "a typo in an argument name", default=False))
"""


def test_a_callback_with_a_wrong_hook_signature(cli, workdir, tiny_idx):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/wrong.py").write_text(BAD_SIGNATURE)
    result = cli("train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "1", "--callbacks", "wrong")
    one_line(result, "callback 'wrong' is invalid:")
    assert "stepp" in result[2]


def test_ctrl_c_during_start_up_imports_is_one_line():
    import subprocess
    import sys

    # SIGINT while the package imports torch: the child raises KeyboardInterrupt inside main()'s imports.
    code = (
        "import builtins, ganstudio.cli as c\n"
        "real = builtins.__import__\n"
        "def slow(name, *a, **k):\n"
        "    if name == 'ganstudio.plugins': raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = slow\n"
        "raise SystemExit(c.main(['plugins']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr == "interrupted\n"


def test_an_idx_header_whose_sizes_overflow(cli, workdir):
    import struct

    root = workdir / "idx"
    root.mkdir()
    header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    for prefix in ("train", "t10k"):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(header + bytes(16))
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 1) + bytes(1))
    one_line(cli("show", "--data", "fashion", "--data-root", root), "not a real dataset (damaged header)")


def test_a_really_full_disk_while_saving(cli, workdir, tiny_idx):
    """On a real 256 KB file system (tmpfs; needs root, else skipped): torch's own write error becomes one line, and
    the earlier checkpoint elsewhere is untouched. The fsync-ENOSPC test in test_reliability covers machines without."""
    import subprocess

    small = workdir / "small"
    small.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        result = cli(
            "train", "--data", "fashion", "--data-root", tiny_idx, *TINY, "--steps", "2", "--checkpoints-dir", small
        )
        one_line(result, "the write failed with")
        assert "is it full?" in result[2] and not list(small.rglob("*.pt"))
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_a_plugin_module_with_a_wrong_hook_signature(cli, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/typo.py").write_text(
        "from ganstudio import hookimpl\n\n@hookimpl\ndef after_metrics_logged(run, stepp):\n    pass\n"
    )
    result = cli("plugins")
    one_line(result, "plugin 'plugins/typo.py' (plugins folder) is invalid:")
    assert "stepp" in result[2]


def test_a_failed_download_is_one_line_and_leaves_no_empty_folders(cli, workdir, monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, root, train, download):
            (workdir / "cache/mnist/MNIST/raw").mkdir(parents=True)  # what torchvision makes before it fails
            raise RuntimeError(
                "Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n"
                "<urlopen error [Errno -2] Name or service not known>\nTried http://b/, got:\n"
                "<urlopen error [Errno -2] Name or service not known>\n"
            )

    monkeypatch.setattr(tvd, "MNIST", Offline)
    code, out, err = cli("show", "--data", "mnist", "--download")
    assert code == 2 and err.splitlines()[-1] == (
        "error: could not download MNIST (urlopen error [Errno -2] Name or service not known): put the four IDX .gz "
        "files in a folder and pass --data-root DIR"
    )
    assert not (workdir / "cache/mnist").exists()


def test_version_answers_without_importing_torch():
    import subprocess
    import sys

    code = (
        "import sys; from ganstudio.cli import main; rc = main(['--version']); "
        "print('torch' in sys.modules); raise SystemExit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    from ganstudio import __version__

    assert proc.returncode == 0 and proc.stdout.split() == ["ganstudio", __version__, "False"]
