"""The built-in plugins: datasets, models, callbacks and commands, each an ordinary plugin registered through the
same hooks a third party uses. Nothing in the core imports this package (import-linter checks it); the plugin
loader names its modules in ganstudio.plugins.DEFAULT_PLUGINS."""
