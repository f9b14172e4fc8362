"""Every hook is documented with its exact signature in docs/plugins.md, and the docs' plugin example works."""

import inspect
import re
import textwrap
from pathlib import Path

import pytest

from ganstudio import hookspecs
from ganstudio.plugins import load_plugins

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "ganstudio_spec")]


def test_there_are_hooks():
    assert {"register_datasets", "register_models", "register_callbacks", "register_commands", "before_training_run",
            "after_training_step", "after_metrics_logged", "after_grid_rendered", "after_epoch_run", "after_training_run", "on_training_error"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_and_documented_signature(hook):
    fn = getattr(hookspecs, hook)
    assert fn.__doc__ and fn.__doc__.strip()
    signature = f"{hook}({', '.join(inspect.signature(fn).parameters)})"
    assert f"#### `{signature}`" in DOCS.read_text(), f"docs/plugins.md lacks a heading for {signature}"


def test_docs_example_plugin_loads_and_registers(tmp_path, monkeypatch):
    text = DOCS.read_text()
    code = re.search(r"`ganstudio_noise.py`:\n\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "ganstudio_noise.py").write_text(textwrap.dedent(code))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
    plugins = load_plugins()
    data = plugins.dataset("blobs").load(type("R", (), {"split": "train"})())
    assert data.images.shape == (4096, 1, 28, 28)
    assert plugins.callback("epoch-printer").default is False
