"""Built-in dataset plugins. Each module is an ordinary plugin, written as a third party would write it."""

import os
from pathlib import Path

from ganstudio.api.data import cache_root  # noqa: F401  (where data and caches live: one definition, in the API)


def download_failure(error: BaseException) -> str:
    """A download error in one short line: torchvision's are several lines, one per mirror tried."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    network = next((line for line in reversed(lines) if "urlopen error" in line or "Errno" in line), None)
    text = network or (lines[0] if lines else type(error).__name__)
    return (text if len(text) <= 160 else text[:157] + "...").strip("<>")


def remove_empty_folders(top: Path, keep: Path) -> None:
    """Remove the empty folders a failed download left under ``top`` (and ``top`` itself), never a file, never
    ``keep`` or what holds it."""
    if not top.is_dir():
        return
    for folder, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        path = Path(folder)
        if path != keep and path not in keep.parents and not any(path.iterdir()):
            path.rmdir()
