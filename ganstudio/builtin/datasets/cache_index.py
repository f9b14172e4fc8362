"""Reading a prepared-image cache back (see imagecache.py): its index and its array, checked against each other, so
that a damaged cache (a cut-off index, a truncated images.npy) is rebuilt instead of breaking every later run."""

from __future__ import annotations

import json
from pathlib import Path


def read_cache(target: Path, image_size: int, channels: int):
    """(index, images mapped copy-on-write, None) of a prepared cache, or (None, None, why) when it is damaged: an
    unreadable or incomplete index, or an images.npy that is unreadable or does not hold what the index says."""
    import numpy as np

    try:
        index = json.loads((target / "index.json").read_text())
        files, unreadable = index["files"], index["unreadable"]
        if not all(isinstance(names, list) and all(isinstance(f, str) for f in names) for names in (files, unreadable)):
            raise TypeError("its file lists are not lists of names")
        array = np.load(target / "images.npy", mmap_mode="c")
        if array.dtype != np.uint8 or array.shape != (len(files) + len(unreadable), channels, image_size, image_size):
            raise ValueError(f"images.npy holds {array.dtype} {array.shape}, the index {len(files):,} images")
    except KeyError as e:
        return None, None, f"index.json has no {e}"
    except (OSError, ValueError, TypeError, AttributeError) as e:
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return None, None, reason
    return index, array[: len(files)], None
