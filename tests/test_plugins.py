"""Plugin loading: built-ins, an entry-point plugin installed by the test, the plugins folder, and every failure."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import make_idx_dataset

from ganstudio import hookimpl
from ganstudio.api import DatasetPlugin, ModelPlugin
from ganstudio.errors import PluginError
from ganstudio.plugins import DEFAULT_PLUGINS, load_plugins
from ganstudio.store.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent


def test_builtins_are_ordinary_plugins(workdir):
    plugins = load_plugins()
    for module in DEFAULT_PLUGINS:
        assert plugins.info[module].source == "built-in"
    assert {"fashion", "mnist", "fashion-mini", "mnist-mini"} <= set(plugins.datasets)
    assert "dcgan" in plugins.models and "grid" in plugins.callbacks
    assert plugins.datasets["fashion"].plugin == "ganstudio.builtin.datasets.idx_datasets"


def test_throwaway_plugin_registers_and_unregisters(workdir):
    plugins = load_plugins()

    class Throwaway:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetPlugin("throwaway", lambda r: None, "test"))

    plugins.pm.register(Throwaway(), name="throwaway-plugin")
    try:
        plugins.refresh()
        assert plugins.datasets["throwaway"].plugin == "throwaway-plugin"
    finally:
        plugins.pm.unregister(name="throwaway-plugin")
        plugins.refresh()
    assert "throwaway" not in plugins.datasets


def test_duplicate_names_fail_naming_both_plugins(workdir):
    plugins = load_plugins()

    class Impostor:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetPlugin("fashion", lambda r: None))

    plugins.pm.register(Impostor(), name="impostor")
    with pytest.raises(PluginError) as e:
        plugins.datasets  # noqa: B018 (the property access is what raises)
    assert "'ganstudio.builtin.datasets.idx_datasets'" in str(e.value) and "'impostor'" in str(e.value)


def test_registering_the_wrong_type_is_named(workdir):
    plugins = load_plugins()

    class Wrong:
        @hookimpl
        def register_callbacks(self, register):
            register("not a callback")

    plugins.pm.register(Wrong(), name="wrong")
    with pytest.raises(PluginError, match="plugin 'wrong' registered 'not a callback' as a callback"):
        plugins.callbacks  # noqa: B018 (the property access is what raises)


def test_unknown_names_suggest_the_closest(cli, tiny_idx):
    code, out, err = cli("train", "--data", "fashon")
    assert code == 2
    assert (
        err == "error: unknown dataset 'fashon'. Did you mean 'fashion'? "
        "Available: celeba, fashion, fashion-mini, folder, mnist, mnist-mini.\n"
    )
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--model", "dcgna")
    assert code == 2 and "Did you mean 'dcgan'?" in err
    code, out, err = cli("train", "--data", "fashion", "--data-root", tiny_idx, "--no-callback", "gird", "--steps", "1")
    assert code == 2 and "unknown callback 'gird'. Did you mean 'grid'?" in err


def write_plugin(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


LOCAL_DATASET = """
    import torch
    from ganstudio import hookimpl
    from ganstudio.api import DatasetPlugin, ImageData

    @hookimpl
    def register_datasets(register):
        register(
            DatasetPlugin("checker", lambda r: ImageData(torch.zeros(64, 1, 28, 28, dtype=torch.uint8)), "all black")
        )
"""


def test_plugins_folder_is_loaded_from_the_working_directory(cli, workdir):
    write_plugin(workdir / "plugins", "checker", LOCAL_DATASET)
    code, out, err = cli("plugins", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["plugins/checker.py"]["source"] == "plugins folder"
    assert rows["plugins/checker.py"]["datasets"] == ["checker"]
    assert rows["ganstudio.builtin.commands.train"]["commands"] == ["train"]


def test_plugins_dir_option(cli, workdir):
    write_plugin(workdir / "elsewhere", "checker", LOCAL_DATASET)
    code, out, err = cli("--plugins-dir", workdir / "elsewhere", "plugins", "--json")
    assert code == 0, err
    assert any(row.get("datasets") == ["checker"] for row in json.loads(out))
    code, out, err = cli("--plugins-dir", workdir / "missing", "plugins")
    assert code == 2 and "is not a folder" in err


def test_a_plugin_that_fails_to_import_is_named(cli, workdir):
    write_plugin(workdir / "plugins", "broken", "import nonexistent_module_xyz\n")
    code, out, err = cli("plugins")
    assert code == 2
    assert err.startswith('error: could not import plugin "plugins/broken.py": ModuleNotFoundError')
    assert err.count("\n") == 1


def test_a_misspelled_hook_fails_at_load(cli, workdir):
    write_plugin(
        workdir / "plugins",
        "typo",
        """
        from ganstudio import hookimpl

        @hookimpl
        def register_dataset(register):
            pass
    """,
    )
    code, out, err = cli("plugins")
    assert code == 2 and "register_dataset" in err and "plugins/typo.py" in err


def test_a_callback_that_raises_is_reported_by_name(cli, workdir, tiny_idx):
    write_plugin(
        workdir / "plugins",
        "explodes",
        """
        from ganstudio import hookimpl
        from ganstudio.api import CallbackPlugin

        class Explodes:
            def __init__(self, options):
                pass

            @hookimpl
            def after_metrics_logged(self, step):
                if step >= 4:
                    raise RuntimeError("boom")

        @hookimpl
        def register_callbacks(register):
            register(CallbackPlugin("explodes", Explodes, "raises at step 4"))
    """,
    )
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "dcgan",
        "--steps",
        "20",
        "--batch-size",
        "32",
        "--log-every",
        "2",
        "--model-option",
        "width=8",
    )
    assert code == 2
    assert "plugin 'callback:explodes' failed in hook after_metrics_logged: RuntimeError: boom" in err
    assert "saved checkpoints/fashion-dcgan/last.pt at step 4 before stopping on the error" in out
    from ganstudio.store.checkpoint import load_checkpoint

    assert load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")["progress"]["step"] == 4


def make_distribution(site: Path, body: str, name: str = "ganstudio-hello", module: str = "ganstudio_hello") -> None:
    """Install a plugin the way pip would leave it: a module plus a .dist-info with an entry point."""
    write_plugin(site, module, body)
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[ganstudio]\nhello = {module}\n")


def run_cli(args, cwd, site):
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("GANSTUDIO_NO_ENTRY_POINTS", None)
    return subprocess.run(
        [sys.executable, "-m", "ganstudio", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_entry_point_plugin_is_loaded_with_its_distribution(tmp_path):
    site = tmp_path / "site"
    make_distribution(
        site,
        """
        import torch
        from ganstudio import hookimpl
        from ganstudio.api import DatasetPlugin, ImageData

        @hookimpl
        def register_datasets(register):
            register(DatasetPlugin("hello", lambda r: ImageData(torch.zeros(8, 1, 28, 28, dtype=torch.uint8)), "hello"))
    """,
    )
    result = run_cli(["plugins", "--json"], tmp_path, site)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["hello"]["source"] == "entry point"
    assert rows["hello"]["where"] == "ganstudio-hello==1.2.3"
    assert rows["hello"]["datasets"] == ["hello"]


def test_broken_entry_point_plugin_is_named(tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "raise ImportError('needs libfoo')\n")
    result = run_cli(["plugins"], tmp_path, site)
    assert result.returncode == 2
    assert (
        result.stderr == 'error: could not import plugin "hello" (entry point from ganstudio-hello==1.2.3): '
        "ImportError: needs libfoo\n"
    )


def test_shipped_example_plugin_works(cli, workdir):
    import shutil

    shutil.copytree(REPO / "plugins", workdir / "plugins")
    code, out, err = cli("plugins", "--json")
    assert any(row.get("datasets") == ["shapes"] for row in json.loads(out))
    code, out, err = cli("train", "--data", "shapes", "--steps", "3", "--batch-size", "16", "--model-option", "width=8")
    assert code == 0, err
    assert "synthetic shapes" in out


def test_example_plugin_data_is_well_formed():
    sys.path.insert(0, str(REPO / "plugins"))
    try:
        import shapes
    finally:
        sys.path.pop(0)
    data = shapes.make_shapes(30, seed=0)
    assert data.images.shape == (30, 1, 28, 28) and data.images.dtype.is_floating_point is False
    assert set(data.labels.tolist()) <= {0, 1, 2} and data.images.float().mean() > 10


# --- the local plugins folder runs code: only when trusted or asked for ---------------------------------------

MARKER_PLUGIN = """
from pathlib import Path
Path("plugin-ran").write_text("yes")
"""


def untrust(workdir):
    (workdir / "config/trusted-plugin-folders.json").unlink()


def test_an_untrusted_plugins_folder_runs_nothing_even_for_version(cli, workdir):
    untrust(workdir)
    (workdir / "plugins").mkdir()
    (workdir / "plugins/evil.py").write_text(MARKER_PLUGIN)
    for args in (("--version",), ("plugins",), ("sample", "--n", "1")):
        from ganstudio.cli import main

        try:
            main(list(args))
        except SystemExit:
            pass
        assert not (workdir / "plugin-ran").exists(), args
    code, out, err = cli("plugins")
    assert code == 0 and "note: ./plugins holds 1 plugin file, not loaded: the folder is not trusted" in err


def test_trusting_the_folder_once_loads_it_from_then_on(cli, workdir):
    untrust(workdir)
    (workdir / "plugins").mkdir()
    (workdir / "plugins/evil.py").write_text(MARKER_PLUGIN)
    code, out, err = cli("plugins", "--trust")
    assert code == 0 and f"{(workdir / 'plugins').resolve()}: trusted" in out
    assert cli("plugins")[0] == 0 and (workdir / "plugin-ran").exists()
    assert cli("plugins", "--untrust")[0] == 0
    (workdir / "plugin-ran").unlink()
    assert cli("plugins")[0] == 0 and not (workdir / "plugin-ran").exists()


def test_plugins_dir_is_an_explicit_choice_and_no_plugins_loads_only_built_ins(cli, workdir):
    untrust(workdir)
    (workdir / "mine").mkdir()
    (workdir / "mine/evil.py").write_text(MARKER_PLUGIN)
    assert cli("--plugins-dir", "mine", "plugins")[0] == 0 and (workdir / "plugin-ran").exists()
    (workdir / "plugin-ran").unlink()
    (workdir / "plugins").mkdir()
    (workdir / "plugins/evil.py").write_text(MARKER_PLUGIN)
    assert cli("plugins", "--trust")[0] == 0
    code, out, err = cli("--no-plugins", "plugins", "--json")
    assert code == 0 and not (workdir / "plugin-ran").exists() and "plugins/evil.py" not in out


def test_a_plugin_that_exits_at_import_is_an_error_not_a_silent_success(cli, workdir):
    (workdir / "plugins").mkdir()
    (workdir / "plugins/quits.py").write_text("import sys\nsys.exit(0)\n")
    code, out, err = cli("plugins")
    assert code == 2 and 'could not import plugin "plugins/quits.py": SystemExit: 0' in err


def test_a_dataset_whose_default_model_is_not_installed_is_one_line(cli, workdir):
    write_plugin(
        workdir / "elsewhere",
        "odd",
        """
        import torch
        from ganstudio import hookimpl
        from ganstudio.api import DatasetPlugin, ImageData

        @hookimpl
        def register_datasets(register):
            register(DatasetPlugin("odd", lambda r: ImageData(torch.zeros(64, 1, 28, 28, dtype=torch.uint8)), "zeros",
                                   default_model="stylegan9"))
    """,
    )
    code, out, err = cli("--plugins-dir", workdir / "elsewhere", "train", "--data", "odd", "--steps", "1")
    assert code == 2 and err.count("\n") == 1
    assert (
        "dataset 'odd' (plugin '" in err
        and "odd.py') trains model 'stylegan9' by default, which is not installed: name one with --model" in err
    )
    code, out, err = cli(
        "--plugins-dir",
        workdir / "elsewhere",
        "train",
        "--data",
        "odd",
        "--model",
        "dcgan",
        "--model-option",
        "width=8",
        "--batch-size",
        "32",
        "--steps",
        "1",
        "--callbacks",
        "log",
    )
    assert code == 0, err

    import importlib.util

    from ganstudio.testing import check_dataset_plugin

    spec = importlib.util.spec_from_file_location("odd_dataset", workdir / "elsewhere" / "odd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError, match="default_model 'stylegan9' is not a registered model"):
        check_dataset_plugin(module, "odd")


def test_a_dataset_trains_its_default_model_with_its_own_options(cli, workdir):
    """DatasetPlugin(default_model_options=...) reach the default model (named or not) and are printed; the user's
    --model-option wins per key; another --model does not get them; check_dataset_plugin rejects options the model
    lacks."""
    write_plugin(
        workdir / "elsewhere",
        "shaded",
        """
        import torch
        from ganstudio import hookimpl
        from ganstudio.api import DatasetPlugin, ImageData

        def load(request):
            generator = torch.Generator().manual_seed(0)
            images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=generator)
            return ImageData(images, source="random")

        @hookimpl
        def register_datasets(register):
            register(DatasetPlugin("shaded", load, "random", default_model="dcgan",
                                   default_model_options={"width": "8", "latent_dim": "4"}))
            register(DatasetPlugin("wrong", load, "random", default_model="dcgan",
                                   default_model_options={"wings": "2"}))
    """,
    )
    base = (
        "--plugins-dir",
        workdir / "elsewhere",
        "train",
        "--data",
        "shaded",
        "--batch-size",
        "32",
        "--steps",
        "1",
        "--callbacks",
        "log",
    )

    def options(name):
        options = load_checkpoint(workdir / f"checkpoints/{name}/last.pt")["model"]["config"]["options"]
        return options["width"], options["latent_dim"]

    code, out, err = cli(*base, "--name", "plain")
    assert code == 0, err
    assert options("plain") == (8, 4)
    assert (
        "model options: width=8, latent_dim=4 (the default for 'shaded'; --model-option KEY=VALUE for another)" in out
    )
    code, out, err = cli(*base, "--name", "mine", "--model", "dcgan", "--model-option", "latent_dim=6")
    assert code == 0, err
    assert options("mine") == (8, 6) and "model options: width=8 (the default" in out
    code, out, err = cli(
        *base, "--name", "other", "--model", "wgan-gp", "--model-option", "width=8", "--model-option", "n_critic=1"
    )
    assert code == 0, err
    assert options("other") == (8, 100) and "model options:" not in out
    code, out, err = cli(*base, "--name", "plain", "--resume", "--steps", "2")
    assert code == 0, err
    assert options("plain") == (8, 4) and "model options:" not in out

    import importlib.util

    from ganstudio.testing import check_dataset_plugin

    spec = importlib.util.spec_from_file_location("shaded_dataset", workdir / "elsewhere" / "shaded.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check_dataset_plugin(module, "shaded")
    with pytest.raises(AssertionError, match="default_model_options: model 'dcgan' has no option wings"):
        check_dataset_plugin(module, "wrong")


def train_dcgan_variant(workdir, name: str, plugin_arguments: str) -> tuple:
    """Writes a plugin registering DCGAN as model ``name`` with ModelPlugin(..., plugin_arguments) and returns the
    train flags for it on tiny Fashion-MNIST files."""
    write_plugin(
        workdir / "elsewhere",
        name.replace("-", "_"),
        f'''
        from ganstudio import hookimpl
        from ganstudio.api import ModelPlugin
        from ganstudio.builtin.models.dcgan import DCGANOptions

        @hookimpl
        def register_models(register):
            register(ModelPlugin("{name}", "ganstudio.builtin.models.dcgan.nets:DCGAN", options=DCGANOptions,
                                 {plugin_arguments}))
    ''',
    )
    data = make_idx_dataset(workdir / "tiny", n_train=64, n_test=16)
    return (
        "--plugins-dir",
        workdir / "elsewhere",
        "train",
        "--data",
        "fashion",
        "--data-root",
        data,
        "--model",
        name,
        "--model-option",
        "width=8",
        "--callbacks",
        "log",
    )


def test_a_model_plugin_sets_its_own_batch_size(cli, workdir, capsys):
    """ModelPlugin(batch_size=N) is what train uses without --batch-size; --batch-size wins; a resumed run keeps the
    batch size it was started with."""
    flags = train_dcgan_variant(workdir, "small-dcgan", "batch_size=16")
    code, out, err = cli(*flags, "--steps", "1")
    assert code == 0, err
    assert "batch 16 (the model's default; --batch-size N for another), 4 batches/epoch" in out
    code, out, err = cli(*flags, "--steps", "2", "--resume")
    assert code == 0, err
    assert "batch 16, 4 batches/epoch, resuming at step 1" in out
    code, out, err = cli(*flags, "--steps", "1", "--batch-size", "32", "--name", "given")
    assert code == 0, err
    assert "batch 32, 2 batches/epoch" in out and "the model's default" not in out
    code, out, err = cli(*flags, "--steps", "2", "--name", "given", "--resume")  # not the model's 16: the run's own 32
    assert code == 0, err
    assert "batch 32, 2 batches/epoch, resuming at step 1" in out

    from ganstudio.cli import main

    with pytest.raises(SystemExit):  # the help is read from the registry
        main(["--plugins-dir", str(workdir / "elsewhere"), "train", "--help"])
    assert "(default: 64 for cdcgan, 16 for small-dcgan, 128 for the others)" in " ".join(
        capsys.readouterr().out.split()
    )

    with pytest.raises(ValueError, match="batch_size must be a positive int or None, got 0"):
        ModelPlugin("bad", lambda config: None, batch_size=0)


def test_a_model_plugin_sets_its_own_ema_decay(cli, workdir, capsys):
    """ModelPlugin(ema_decay=D) is the generator EMA train uses without --ema-decay, said on its own line and kept in
    the checkpoint; --ema-decay 0 turns it off; a resumed run keeps its own; --help lists the models' own."""
    flags = (*train_dcgan_variant(workdir, "avgdcgan", "ema_decay=0.99"), "--batch-size", "16")
    code, out, err = cli(*flags, "--steps", "1")
    assert code == 0, err
    assert "generator EMA: decay 0.99 (the model's default; --ema-decay 0 turns it off)" in out
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-avgdcgan/last.pt")
    assert ckpt["config"]["ema_decay"] == 0.99 and ckpt["ema"] is not None
    code, out, err = cli(*flags, "--steps", "2", "--resume")
    assert code == 0, err
    assert (
        "generator EMA" not in out
        and load_checkpoint(workdir / "checkpoints/fashion-avgdcgan/last.pt")["config"]["ema_decay"] == 0.99
    )
    code, out, err = cli(*flags, "--steps", "1", "--ema-decay", "0", "--name", "raw")
    assert code == 0, err
    assert (
        "generator EMA" not in out
        and load_checkpoint(workdir / "checkpoints/raw/last.pt")["config"]["ema_decay"] == 0.0
    )
    code, out, err = cli(*flags, "--model", "dcgan", "--steps", "1", "--name", "plain")  # another model: its own (off)
    assert code == 0, err
    assert load_checkpoint(workdir / "checkpoints/plain/last.pt")["config"]["ema_decay"] == 0.0

    from ganstudio.cli import main

    with pytest.raises(SystemExit):
        main(["--plugins-dir", str(workdir / "elsewhere"), "train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0.99 for avgdcgan, 0 (off) for the others" in help_text, help_text[help_text.find("moving average") :][:300]
    with pytest.raises(ValueError, match="ema_decay must be a number in \\[0, 1\\) or None, got 1"):
        ModelPlugin("bad", lambda config: None, ema_decay=1)
