"""Loading plugins: built-ins (DEFAULT_PLUGINS), then entry points of group ``ganstudio``, then ``*.py``
files of a plugins folder: ``--plugins-dir DIR``, or ``./plugins`` once trusted (trust.py). Every registration
is checked: a duplicate name fails naming both plugins.

    from ganstudio.plugins import load_plugins
    plugins = load_plugins()
    plugins.datasets["fashion"].load(DataRequest())
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pluggy

from ganstudio.api import CallbackPlugin, DatasetPlugin, FeatureExtractor, ModelPlugin, hookspecs
from ganstudio.errors import GanstudioError, Interrupted, PluginError, unknown_name

DEFAULT_PLUGINS = (
    "ganstudio.builtin.datasets.idx_datasets",
    "ganstudio.builtin.datasets.celeba",
    "ganstudio.builtin.datasets.folder",
    "ganstudio.builtin.models.dcgan",
    "ganstudio.builtin.models.cdcgan",
    "ganstudio.builtin.models.wgan_gp",
    "ganstudio.builtin.models.sngan",
    "ganstudio.builtin.models.classifier",
    "ganstudio.builtin.callbacks.grid",
    "ganstudio.builtin.callbacks.gif",
    "ganstudio.builtin.callbacks.curves",
    "ganstudio.builtin.callbacks.log",
    "ganstudio.builtin.callbacks.tensorboard",
    "ganstudio.builtin.callbacks.mlflow_tracker",
    "ganstudio.builtin.callbacks.wandb_tracker",
    "ganstudio.builtin.callbacks.eval",
    "ganstudio.builtin.features.spaces",
    "ganstudio.builtin.commands.train",
    "ganstudio.builtin.commands.sample",
    "ganstudio.builtin.commands.eval",
    "ganstudio.builtin.commands.plugins",
    "ganstudio.builtin.commands.gif",
    "ganstudio.builtin.commands.interpolate",
    "ganstudio.builtin.commands.show",
    "ganstudio.builtin.commands.export",
    "ganstudio.builtin.commands.runs",
    "ganstudio.builtin.commands.report",
    "ganstudio.builtin.commands.studio",
)
ENTRY_POINT_GROUP = "ganstudio"


@dataclass
class PluginInfo:
    name: str
    source: str  # "built-in", "entry point", "plugins folder"
    where: str  # module name, distribution==version, or file path


class Plugins:
    """The loaded plugin manager plus the names each plugin registered."""

    def __init__(self, pm: pluggy.PluginManager, info: dict[str, PluginInfo], sources: dict | None = None):
        self.pm = pm
        self.info = info
        self.sources = sources or {}  # how they were loaded, so fresh() loads the same plugins again
        self.commands: dict[str, list[str]] = {}  # plugin name -> commands it added (filled by the CLI)

    # Registries are collected on first use so that a test can register a throwaway plugin first.
    @cached_property
    def datasets(self) -> dict[str, DatasetPlugin]:
        return self._collect("register_datasets", DatasetPlugin, "dataset")

    @cached_property
    def models(self) -> dict[str, ModelPlugin]:
        return self._collect("register_models", ModelPlugin, "model")

    @cached_property
    def callbacks(self) -> dict[str, CallbackPlugin]:
        return self._collect("register_callbacks", CallbackPlugin, "callback")

    @cached_property
    def feature_extractors(self) -> dict[str, FeatureExtractor]:
        return self._collect("register_feature_extractors", FeatureExtractor, "feature extractor")

    def dataset(self, name: str) -> DatasetPlugin:
        return self._get(self.datasets, name, "dataset")

    def model(self, name: str) -> ModelPlugin:
        return self._get(self.models, name, "model")

    def callback(self, name: str) -> CallbackPlugin:
        return self._get(self.callbacks, name, "callback")

    def fresh(self) -> "Plugins":
        """A new plugin manager with the same plugins, and none of the callbacks attached to a run (nested runs)."""
        return load_plugins(**self.sources, quiet=True)

    def refresh(self) -> None:
        """Forget collected registries (after registering or unregistering a plugin)."""
        for attr in ("datasets", "models", "callbacks", "feature_extractors"):
            self.__dict__.pop(attr, None)

    @staticmethod
    def _get(registry, name, kind):
        if name not in registry:
            raise unknown_name(kind, name, list(registry))
        return registry[name]

    def _collect(self, hook_name: str, item_type: type, kind: str) -> dict:
        items: dict = {}
        # get_hookimpls() is in load order (pluggy *calls* them newest first): the earlier plugin owns a name.
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin_name = impl.plugin_name

            def register(item, _plugin=plugin_name):
                if not isinstance(item, item_type):
                    raise PluginError(
                        f"plugin '{_plugin}' registered {item!r} as a {kind}; "
                        f"expected ganstudio.api.{item_type.__name__}"
                    )
                if item.name in items:
                    raise PluginError(
                        f"{kind} '{item.name}' is registered twice: "
                        f"by plugin '{items[item.name].plugin}' and by plugin '{_plugin}'"
                    )
                item.plugin = _plugin
                items[item.name] = item

            call_impl(impl, hook_name, register=register)
        return items

    def call(self, hook_name: str, **kwargs) -> list:
        """Call a lifecycle hook through pluggy (hook wrappers run); an exception names the plugin and the hook."""
        caller = getattr(self.pm.hook, hook_name)
        try:
            return caller(**kwargs)
        except (PluginError, Interrupted):
            raise
        except Exception as e:
            plugin = _failing_plugin(caller, e.__traceback__)
            # A GanstudioError already says what is wrong and how to fix it (a full disk, a bad option value).
            why = str(e) if isinstance(e, GanstudioError) else f"{type(e).__name__}: {e}"
            raise PluginError(f"plugin '{plugin}' failed in hook {hook_name}: {why}") from e


def _failing_plugin(caller, tb) -> str:
    """The plugin whose hook implementation is the innermost frame of the traceback that belongs to one."""
    codes = {
        impl.function.__code__: impl.plugin_name
        for impl in caller.get_hookimpls()
        if hasattr(impl.function, "__code__")
    }
    found = "?"
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


def call_impl(impl, hook_name: str, **kwargs):
    """Call one registration hook implementation; an exception names its plugin."""
    try:
        return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
    except PluginError:
        raise
    except Exception as e:
        raise PluginError(f"plugin '{impl.plugin_name}' failed in hook {hook_name}: {type(e).__name__}: {e}") from e


def load_plugins(
    plugins_dir: str | os.PathLike | None = None, entry_points: bool = True, local: bool = True, quiet: bool = False
) -> Plugins:
    """Load built-ins, entry points (unless ``entry_points`` is False or GANSTUDIO_NO_ENTRY_POINTS is set) and a
    plugins folder: ``plugins_dir`` when given, else ``./plugins`` if the user trusts it (``local=False``: none).
    An untrusted ./plugins is not imported; a note on stderr says how to load it (unless ``quiet``)."""
    from ganstudio.store.trust import is_trusted

    pm = pluggy.PluginManager("ganstudio")
    pm.add_hookspecs(hookspecs)
    info: dict[str, PluginInfo] = {}
    sources = {"plugins_dir": plugins_dir, "entry_points": entry_points, "local": local}

    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        info[module_name] = PluginInfo(module_name, "built-in", module_name)

    if entry_points and not os.environ.get("GANSTUDIO_NO_ENTRY_POINTS"):
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = f"{ep.dist.name}=={ep.dist.version}" if ep.dist else "unknown distribution"
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as e:  # sys.exit() at import must not end the command as a "success"
                raise PluginError(
                    f'could not import plugin "{ep.name}" (entry point from {dist}): {type(e).__name__}: {e}'
                ) from e
            _register(pm, plugin, ep.name, f"entry point {dist}")
            info[ep.name] = PluginInfo(ep.name, "entry point", dist)

    folder = Path(plugins_dir) if plugins_dir is not None else Path("plugins")
    if plugins_dir is not None and not folder.is_dir():
        raise PluginError(f"--plugins-dir {folder} is not a folder")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_")) if local and folder.is_dir() else []
    if files and plugins_dir is None and not is_trusted(folder):
        if not quiet:
            print(
                f"note: ./plugins holds {len(files)} plugin file{'s' if len(files) != 1 else ''}, "
                "not loaded: the folder is not trusted. "
                "`ganstudio plugins --trust` loads it from now on, `ganstudio --plugins-dir plugins ...` this once",
                file=sys.stderr,
            )
        files = []
    if files:
        # Plugin files may share code: a helper module in the folder (e.g. _common.py, not loaded as a plugin)
        # is importable from them with ``import _common``.
        if str(folder.resolve()) not in sys.path:
            sys.path.append(str(folder.resolve()))
        for path in files:
            name = f"plugins/{path.name}" if plugins_dir is None else str(path)
            module = _import_file(path, name)
            _register(pm, module, name, "plugins folder")
            info[name] = PluginInfo(name, "plugins folder", str(path.resolve()))

    check_pending(pm)
    return Plugins(pm, info, sources)


def check_pending(pm: pluggy.PluginManager) -> None:
    """A hookimpl whose name matches no hookspec (a typo) is an error at load, naming plugin and hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        specs = [name for name in dir(hookspecs) if not name.startswith("_") and callable(getattr(hookspecs, name))]
        hook = next(
            (
                name
                for name, caller in vars(pm.hook).items()
                if not name.startswith("_")
                and not caller.has_spec()
                and any(impl.plugin is e.plugin for impl in caller.get_hookimpls())
            ),
            "?",
        )
        raise PluginError(
            f"plugin '{pm.get_name(e.plugin)}' implements unknown hook '{hook}'" + _suggest(hook, specs)
        ) from None


def _suggest(name: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _register(pm, plugin, name, where):
    try:
        pm.register(plugin, name=name)
    except ValueError as e:  # pluggy: "Plugin name already registered" or the same object twice
        raise PluginError(f"plugin '{name}' ({where}) could not be registered: {e}") from None
    except pluggy.PluginValidationError as e:  # e.g. a hookimpl asking for an argument its hook does not have
        raise PluginError(f"plugin '{name}' ({where}) is invalid: {' '.join(str(e).split())}") from None


def _import_file(path: Path, name: str):
    module_name = "ganstudio_plugins_folder." + path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # sys.exit() at import must not end the command as a "success"
        sys.modules.pop(module_name, None)
        raise PluginError(f'could not import plugin "{name}": {type(e).__name__}: {e}') from e
    return module
