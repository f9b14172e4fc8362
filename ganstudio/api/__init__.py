"""The plugin author's API: the names a third-party plugin imports (docs/plugins.md), kept small and stable. Any
module may import it; it imports no torch until a torch-backed name (TrainableModel, Batches, StepContext,
load_run) is first used.

    from ganstudio import hookimpl
    from ganstudio.api import DatasetPlugin, ImageData, ModelPlugin, TrainableModel, CallbackPlugin, option

    @hookimpl
    def register_datasets(register):
        register(DatasetPlugin(name="noise", load=lambda request: ImageData(...), description="..."))

Where the rest lives: the model contract in ganstudio/api/model.py, the plain data types in ganstudio/api/types.py,
options in ganstudio/api/options.py, hooks in ganstudio/api/hookspecs.py, helpers for command plugins in
ganstudio/api/commands.py, reading a run back in ganstudio/api/runs.py, the contract kit in ganstudio.testing.
"""

import importlib as _importlib
import warnings as _warnings

from ganstudio.api.options import option
from ganstudio.api.run_view import RunView
from ganstudio.api.types import (
    CallbackPlugin,
    DataRequest,
    DatasetPlugin,
    FeatureExtractor,
    ImageData,
    Metric,
    ModelConfig,
    ModelPlugin,
)

__all__ = [
    "Batches",
    "CallbackPlugin",
    "DataRequest",
    "DatasetPlugin",
    "FeatureExtractor",
    "ImageData",
    "Metric",
    "ModelConfig",
    "ModelPlugin",
    "RunView",
    "StepContext",
    "TrainableModel",
    "load_run",
    "option",
]

# Imported on first use: these need torch (about 2 s), and `ganstudio --help`, `plugins` and argument errors answer
# without it.
_LAZY = {
    "Batches": "ganstudio.api.model",
    "StepContext": "ganstudio.api.model",
    "TrainableModel": "ganstudio.api.model",
    "load_run": "ganstudio.api.runs",
}

# Names that were public before the API shrank: they keep working, with a DeprecationWarning naming their home.
_MOVED = {
    "GanstudioError": ("ganstudio", "GanstudioError"),
    "parse_options": ("ganstudio.api.options", "parse_options"),
    "Batch": ("ganstudio.api.model", "Batch"),
    "import_object": ("ganstudio.api.types", "import_object"),
    "LazyBuild": ("ganstudio.api.types", "LazyBuild"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    if name in _MOVED:
        module, attribute = _MOVED[name]
        _warnings.warn(
            f"ganstudio.api.{name} is deprecated: use `from {module} import {attribute}`",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_importlib.import_module(module), attribute)
    raise AttributeError(f"module 'ganstudio.api' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
