"""Every hook is documented with its exact signature in docs/plugins.md, and the docs' code works: the third-party
plugin example loads, registers and passes the contract kit; the EMA example is the code tests/test_contract.py
trains; the excerpts of the built-in models wgan-gp and cdcgan are still in their files."""

import importlib.util
import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ganstudio.api import hookspecs
from ganstudio.plugins import load_plugins

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "plugins.md"
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "ganstudio_spec")]


def test_there_are_hooks():
    assert {
        "register_datasets",
        "register_models",
        "register_callbacks",
        "register_commands",
        "before_training_run",
        "after_training_step",
        "after_metrics_logged",
        "after_grid_rendered",
        "after_epoch_run",
        "after_training_run",
        "on_training_error",
    } <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_and_documented_signature(hook):
    fn = getattr(hookspecs, hook)
    assert fn.__doc__ and fn.__doc__.strip()
    signature = f"{hook}({', '.join(inspect.signature(fn).parameters)})"
    assert f"#### `{signature}`" in DOCS.read_text(), f"docs/plugins.md lacks a heading for {signature}"


def code_after(lead_in: str) -> str:
    """The first python code block after the line ``lead_in`` in docs/plugins.md."""
    match = re.search(re.escape(lead_in) + r"\n\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert match, f"docs/plugins.md has no python block after '{lead_in}'"
    return textwrap.dedent(match.group(1))


def import_code(path: Path, name: str, monkeypatch):
    """A plugin file imported by path, registered in sys.modules first (dataclasses look their module up by name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_docs_example_plugin_loads_and_registers(workdir):
    from ganstudio.api.data import load_data
    from ganstudio.config import DataSpec

    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "ganstudio_noise.py").write_text(code_after("`ganstudio_noise.py`:"))
    plugins = load_plugins()  # the work folder's ./plugins is trusted
    assert plugins.dataset("blobs").plugin == "plugins/ganstudio_noise.py"
    data = load_data(plugins, DataSpec("blobs"), "train", quiet=True)
    assert data.images.shape == (4096, 1, 28, 28) and data.images.dtype == torch.uint8
    small = load_data(plugins, DataSpec("blobs", options={"count": "100"}), "test", quiet=True)
    assert small.images.shape == (100, 1, 28, 28) and not torch.equal(small.images, data.images[:100])
    printer = plugins.callback("epoch-printer")
    assert printer.default is False and printer.options is not None


def test_docs_example_plugin_passes_the_contract_kit(workdir, monkeypatch, one_torch_thread):
    """The blobs dataset with its options, and the epoch-printer callback in a short run (the kit's data: 64
    images in batches of 16, so epoch 1 ends at step 4, in the resumed part of the kit's 3 + 2 steps)."""
    from ganstudio.api.run_view import RunView
    from ganstudio.testing import check_callback_plugin, check_dataset_plugin

    (workdir / "ganstudio_noise.py").write_text(code_after("`ganstudio_noise.py`:"))
    module = import_code(workdir / "ganstudio_noise.py", "ganstudio_noise_docs_example", monkeypatch)
    loaded = check_dataset_plugin(module, "blobs", options={"count": "32"}, splits=("train", "test"))
    assert len(loaded["train"]) == 32 and loaded["train"].source.startswith("ganstudio-noise blobs")

    lines = []
    monkeypatch.setattr(RunView, "log", lambda self, message: lines.append(message))
    check_callback_plugin(
        module,
        "epoch-printer",
        workdir / "run",
        options={"every": "1"},
        model_options={"width": "8", "latent_dim": "8"},
    )
    printed = [line for line in lines if line.startswith("epoch ")]
    assert len(printed) == 1 and printed[0].startswith("epoch 1 done at step 4 (64 images, "), lines


def test_docs_ema_example_is_the_tested_code():
    """The generator-EMA callback of the docs is, character for character, the one tests/test_contract.py trains
    (tests/docs_ema_plugin.py)."""
    code = code_after("`plugins/ema.py`:")
    assert "class GeneratorEMA" in code
    tested = (Path(__file__).resolve().parent / "docs_ema_plugin.py").read_text()
    assert tested.endswith("\n\n" + code), "docs/plugins.md's plugins/ema.py differs from tests/docs_ema_plugin.py"


@pytest.mark.parametrize(
    "path",
    [
        "ganstudio/builtin/models/wgan_gp/__init__.py",
        "ganstudio/builtin/models/wgan_gp/nets.py",
        "ganstudio/builtin/models/cdcgan/nets.py",
    ],
)
def test_docs_excerpts_of_the_built_in_models_are_current(path):
    """Every line of the docs' excerpts (but the '...' elisions) is a line of the quoted file."""
    source = {line.strip() for line in (REPO / path).read_text().splitlines()}
    blocks = re.findall(rf"`{re.escape(path)}`:\n\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert blocks, f"docs/plugins.md quotes nothing from {path}"
    excerpt = [line.strip() for block in blocks for line in block.splitlines() if line.strip() not in ("", "...")]
    missing = [line for line in excerpt if line not in source]
    assert not missing, f"docs/plugins.md quotes lines that are not in {path}: {missing}"


def test_docs_list_every_field_of_the_run_view_and_its_config():
    """docs/plugins.md's RunView table names every field of RunView, and its config row every field of RunConfig."""
    from dataclasses import fields

    from ganstudio.api.run_view import RunConfig, RunView

    section = DOCS.read_text().split("## The run (`RunView`)")[1].split("\n## ")[0]
    missing = [f.name for f in fields(RunView) if not f.name.startswith("_") and f"`{f.name}`" not in section]
    config_row = next(line for line in section.splitlines() if line.startswith("| `config` |"))
    missing += [f"config.{f.name}" for f in fields(RunConfig) if f"`{f.name}`" not in config_row]
    assert not missing, f"docs/plugins.md's RunView table misses {missing}"


def test_docs_name_every_contract_kit_function():
    from ganstudio import testing

    text = DOCS.read_text()
    for name in testing.__all__:
        assert f"`{name}(" in text, f"docs/plugins.md does not document ganstudio.testing.{name}"


DOC_FILES = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOC_FILES)
def test_local_images_and_links_in_the_docs_exist(doc):
    """Every picture and relative link in README.md and docs/*.md points at a file that is in the repository."""
    text = (REPO / doc).read_text()
    targets = re.findall(r'src="([^"]+)"', text) + re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not t.startswith(("http://", "https://", "mailto:", "#", "data:"))]
    missing = [t for t in local if t and not ((REPO / doc).parent / t).exists()]
    assert not missing, f"{doc} points at missing files: {missing}"


def test_the_readme_counts_the_lines_of_the_standalone_export_script_right():
    """README promises an N-line script in docs/export.md: N is the first python block's line count, blank lines
    excluded (a new user counted 15 where the README said 10)."""
    import re

    readme = (REPO / "README.md").read_text()
    promised = int(re.search(r"(\d+)-line standalone script in \[docs/export\.md\]", readme).group(1))
    block = re.search(r"```python\n(.*?)```", (REPO / "docs/export.md").read_text(), re.S).group(1)
    assert promised == len([line for line in block.splitlines() if line.strip()])
