"""Built-in commands, each an ordinary plugin implementing ``register_commands(cli)``."""
