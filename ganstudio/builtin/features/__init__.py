"""Built-in feature spaces of ``ganstudio eval --features``: classifier (the default), inception and dinov2."""
