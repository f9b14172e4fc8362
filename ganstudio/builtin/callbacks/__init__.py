"""Built-in callbacks: each registers a CallbackPlugin whose instances implement lifecycle hooks."""
