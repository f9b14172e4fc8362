"""The plugin contract kit: call these from your plugin's own tests (pytest or not); each raises AssertionError
naming what broke. Everything runs on the CPU, on tiny synthetic data, in a temporary folder.

    from ganstudio.testing import check_model_plugin, check_dataset_plugin, check_callback_plugin
    import my_plugin

    def test_model_contract(tmp_path):
        check_model_plugin(my_plugin, "my-gan", tmp_path, options={"width": 8})

Each check takes a plugin (a module or an object with hookimpls) or a list of them: a distribution whose dataset
names a default model registered by a sibling module passes both.

Also for unit tests of a model: ``FixedBatches`` (a Batches over given tensors), ``step_context()``,
``synthetic_data()`` and ``plugins_with(plugin)`` (the built-ins plus yours, no entry points, no plugins folder).
The layer above the training engine: it may import everything but the CLI and the built-ins.
"""

from __future__ import annotations

from ganstudio.testing.checks import check_callback_plugin, check_dataset_plugin, check_model_plugin
from ganstudio.testing.runs import FixedBatches, plugins_with, step_context, synthetic_data, train_run

__all__ = [
    "FixedBatches",
    "step_context",
    "synthetic_data",
    "plugins_with",
    "train_run",
    "check_model_plugin",
    "check_dataset_plugin",
    "check_callback_plugin",
]
