"""`ganstudio --help`, `plugins` and argument errors answer without importing torch (about 2 s on this machine):
the built-in plugins register without it, and models, commands and callbacks import it when they run."""

import subprocess
import sys

import pytest

from ganstudio.plugins import DEFAULT_PLUGINS

PROBE = """
import sys
from ganstudio.cli import main
try:
    main({argv!r})
except SystemExit:  # --help exits through argparse
    pass
heavy = sorted(m for m in ("torch", "numpy", "matplotlib", "imageio") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def heavy_modules_after(argv, cwd) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**__import__("os").environ, "GANSTUDIO_CONFIG_DIR": str(cwd)},
    )
    line = [text for text in out.stdout.splitlines() if text.startswith("HEAVY:")]
    assert line, out.stdout + out.stderr
    return [m for m in line[-1][len("HEAVY:") :].split(",") if m]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["plugins"],
        ["plugins", "--json"],
        ["train", "--help"],
        ["sample", "--help"],
        ["eval", "--help"],
        ["train", "--batch-size", "x"],
        ["nonsense"],
        ["sample", "--n", "0"],
    ],
)
def test_quick_commands_import_no_torch(argv, tmp_path):
    assert heavy_modules_after(argv, tmp_path) == []


def test_builtin_plugin_modules_import_no_torch():
    probe = (
        f"import sys, importlib\nfor m in {list(DEFAULT_PLUGINS)!r}: importlib.import_module(m)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lazy_model_build_imports_on_first_build():
    from ganstudio.api import ModelConfig, ModelPlugin, TrainableModel

    plugin = ModelPlugin("dcgan-lazy", "ganstudio.builtin.models.dcgan.nets:DCGAN", options=None)
    model = plugin.build(ModelConfig((1, 28, 28), options={"width": 4, "latent_dim": 3}))
    assert isinstance(model, TrainableModel) and model.latent_dim == 3
    with pytest.raises(ValueError, match="package.module:Class"):
        ModelPlugin("bad", "no_colon_here")
