"""What lies on disk: the atomic writer, checkpoints (written atomically, read and validated with
weights_only=True), run folders (names, locks, the run-folder reader) and plugin-folder trust. Imports nothing of
ganstudio but errors: every other package may use it."""
