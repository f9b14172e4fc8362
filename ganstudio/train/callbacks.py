"""The callbacks attached to a run: chosen from the config, their options parsed, registered with the plugin manager
for the run's length, their state kept in the checkpoint. Imported by the loop.

    with AttachedCallbacks(plugins, run.config, run.callback_state) as callbacks:
        ...                                                  # the hooks reach them through pluggy
        callbacks.state()                                    # {name: state_dict()} for the checkpoint
"""

from __future__ import annotations

from ganstudio.api.options import parse_options


class AttachedCallbacks:
    """The enabled callbacks of a run, registered with the plugin manager for its length; their options are
    parsed from the config (one-line errors), their state restored from the checkpoint, and their ``close()``
    called when the run ends."""

    def __init__(self, plugins, config, saved_state: dict, enabled: bool = True):
        self.plugins = plugins
        available = plugins.callbacks
        if config.callbacks is not None:
            names = list(config.callbacks)
        else:
            names = [n for n, cb in available.items() if cb.default]
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
        import pluggy

        from ganstudio.errors import PluginError
        from ganstudio.plugins import check_pending

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
