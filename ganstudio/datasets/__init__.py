"""Built-in dataset plugins. Each module is an ordinary plugin, written as a third party would write it."""

import os
from pathlib import Path


def cache_root() -> Path:
    """Where ganstudio keeps downloaded data and prepared caches: $GANSTUDIO_CACHE or ~/.cache/ganstudio."""
    return Path(os.environ.get("GANSTUDIO_CACHE") or Path.home() / ".cache" / "ganstudio")
