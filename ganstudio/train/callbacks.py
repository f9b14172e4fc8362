"""What plugins see of a run: the RunView handed to every lifecycle hook, and the callbacks attached to a run.

    handle = RunHandle(run)                                  # the documented view (api.RunView); no internals
    with AttachedCallbacks(plugins, run.config, run.callback_state) as callbacks:
        plugins.call("before_training_run", run=handle)
        callbacks.state()                                    # {name: state_dict()} for the checkpoint
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ganstudio.api import RunView
from ganstudio.store.checkpoint import run_payload, save_checkpoint
from ganstudio.api.data import load_data
from ganstudio.output.generation import generate_images
from ganstudio.api.options import parse_options


class RunHandle(RunView):
    """The RunView of a ganstudio.train.run.Run (see api.RunView for what each attribute means)."""

    def __init__(self, run, plugins, log, callbacks=None):
        self._run = run
        self._plugins = plugins
        self._log = log
        self._callbacks = callbacks
        self.window = None  # the loop's MetricWindow, while it runs
        self.budget = None  # the loop's Budget, while it runs

    name = property(lambda self: self._run.config.run_name)
    plugins = property(lambda self: self._plugins)
    config = property(lambda self: self._run.config)
    model = property(lambda self: self._run.model)
    data = property(lambda self: self._run.data)
    device = property(lambda self: self._run.device)
    precision = property(lambda self: self._run.precision.name)
    step = property(lambda self: self._run.step)
    epoch = property(lambda self: self._run.epoch)
    images_seen = property(lambda self: self._run.images_seen)
    steps_per_epoch = property(lambda self: self._run.batches.per_epoch)
    run_dir = property(lambda self: self._run.run_dir)
    samples_dir = property(lambda self: self._run.samples_dir)
    fixed_latents = property(lambda self: self._run.fixed_latents)
    fixed_labels = property(lambda self: self._run.fixed_labels)
    history = property(lambda self: self._run.history)
    elapsed = property(lambda self: self._run.elapsed)
    rank = property(lambda self: self._run.dist.rank)
    world_size = property(lambda self: self._run.dist.world_size)

    @property
    def metric_specs(self) -> dict:
        specs = dict(self._callbacks.metric_specs) if self._callbacks else {}
        specs.update(self._run.model.metrics)
        return specs

    @property
    def fraction(self) -> Optional[float]:
        return self.budget.fraction(self.step, self.images_seen) if self.budget is not None else None

    def log(self, message: str) -> None:
        self._log(message)

    def report(self, name: str, value) -> None:
        if self.window is None:
            raise RuntimeError("run.report() is for lifecycle hooks while the run trains")
        self.window.report(name, value)

    def generate(self, latents: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        run = self._run
        if run.ema is None:
            return generate_images(run.model, latents, labels, run.device, batch_size=256)
        with run.ema.swapped_into(run.model):  # every output of a run comes from the averaged generator
            return generate_images(run.model, latents, labels, run.device, batch_size=256)

    def load_split(self, split: str, quiet: bool = True):
        """Another split of the run's dataset (e.g. "test"), loaded the way the training split was."""
        return load_data(self._plugins, self._run.config.data, split, quiet=quiet)

    def save_copy(self, path, results: Optional[dict] = None) -> Path:
        payload = run_payload(self._run, self._callbacks.state() if self._callbacks else {})
        payload["results"] = {**payload.get("results", {}), **(results or {})}
        return save_checkpoint(payload, path)


class AttachedCallbacks:
    """The enabled callbacks of a run, registered with the plugin manager for its length; their options are
    parsed from the config (one-line errors), their state restored from the checkpoint, and their ``close()``
    called when the run ends."""

    def __init__(self, plugins, config, saved_state: dict, enabled: bool = True):
        self.plugins = plugins
        available = plugins.callbacks
        names = list(config.callbacks) if config.callbacks is not None else [n for n, cb in available.items() if cb.default]
        for name in list(names) + list(config.disabled_callbacks) + list(config.callback_options):
            plugins.callback(name)  # unknown names fail here, with suggestions
        # enabled=False (ranks other than 0 under torchrun): checked, but none attached; rank 0 writes the outputs.
        self.names = [n for n in dict.fromkeys(names) if n not in config.disabled_callbacks] if enabled else []
        self.instances: dict[str, object] = {}
        for name in self.names:
            plugin = available[name]
            options = parse_options(plugin.options, dict(config.callback_options.get(name, {})), f"callback '{name}'")
            self.instances[name] = plugin.factory(options)
        self.saved_state = saved_state or {}
        self.metric_specs = {k: v for name in self.names for k, v in available[name].metrics.items()}

    def __enter__(self):
        from ganstudio.plugins import check_pending

        import pluggy

        from ganstudio.errors import PluginError

        try:
            for name, instance in self.instances.items():
                try:
                    self.plugins.pm.register(instance, name=f"callback:{name}")
                except pluggy.PluginValidationError as e:  # a hookimpl asking for arguments its hook does not have
                    raise PluginError(f"callback '{name}' is invalid: {' '.join(str(e).split())}") from None
            check_pending(self.plugins.pm)
            for name, instance in self.instances.items():
                if name in self.saved_state and hasattr(instance, "load_state_dict"):
                    instance.load_state_dict(self.saved_state[name])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        """Detach every callback and call its ``close()`` if it has one (files, writers), however the run ended."""
        errors = []
        for name, instance in self.instances.items():
            if self.plugins.pm.is_registered(instance):
                self.plugins.pm.unregister(instance)
            if hasattr(instance, "close"):
                try:
                    instance.close()
                except Exception as e:  # every callback gets its close(); the first failure is reported
                    errors.append(f"callback '{name}' failed to close: {type(e).__name__}: {e}")
        if errors and not any(exc):
            from ganstudio.errors import PluginError

            raise PluginError(errors[0])
        return False

    def state(self) -> dict:
        """{name: state} of every callback with a state_dict(); states of callbacks not attached this time are kept."""
        kept = dict(self.saved_state)
        kept.update({name: inst.state_dict() for name, inst in self.instances.items() if hasattr(inst, "state_dict")})
        return kept
