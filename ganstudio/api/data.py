"""Which data a command uses: one ``DataSpec``, built once from the command line, loaded through ``load_data``.

    spec = DataSpec.from_args(args)                       # --data, --data-root, --download, --image-size, ...
    train = load_data(plugins, spec, "train")             # ImageData, checked
    test = load_data(plugins, spec, "test", quiet=True)

train, eval, show and the on-demand classifier all go through here; checkpoints store ``asdict(spec)``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional

from ganstudio.api import DataRequest, ImageData
from ganstudio.api.options import key_value, parse_options, positive_int
from ganstudio.config import DataSpec
from ganstudio.errors import GanstudioError
from ganstudio.limits import PATH_CHARS, clean_text


def cache_root() -> Path:
    """Where ganstudio keeps downloaded data and prepared caches: $GANSTUDIO_CACHE or ~/.cache/ganstudio."""
    return Path(os.environ.get("GANSTUDIO_CACHE") or Path.home() / ".cache" / "ganstudio")


def recorded_root(root, what) -> Optional[str]:
    """The data root a run recorded, if this machine would read data there anyway: under $GANSTUDIO_DATA or the
    cache. A checkpoint never chooses where data is read from (a crafted data.root=/usr would make eval decode
    /usr's images into the cache); any other recorded root is one line asking for the user's --data-root."""
    if not root:
        return None
    resolved = Path(root).expanduser().resolve()
    standard = [Path(os.environ["GANSTUDIO_DATA"])] if os.environ.get("GANSTUDIO_DATA") else []
    standard.append(cache_root())
    if any(resolved == place.resolve() or place.resolve() in resolved.parents for place in standard):
        return str(root)
    shown = clean_text(root, PATH_CHARS)
    raise GanstudioError(
        f"{what} was trained on data from {shown}; pass --data-root {shown} to read it "
        "(a run never chooses where data is read from)"
    )


def add_data_options(parser: argparse.ArgumentParser, default_data: Optional[str] = DataSpec.name) -> None:
    """The options that say which data to use; every command that reads real data has the same ones."""
    parser.add_argument("--data", default=default_data, help="dataset plugin name (see: ganstudio plugins)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the dataset files")
    parser.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="download the dataset if it is not found (never done otherwise)",
    )
    parser.add_argument("--image-size", type=positive_int, help="resize to this side, for datasets that can")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="1 (grayscale) or 3 (RGB), for datasets that can")
    parser.add_argument(
        "--data-option",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="a setting of the dataset plugin (see: ganstudio plugins), repeatable",
    )


def load_data(plugins, spec: DataSpec, split: str = "train", quiet: bool = False) -> ImageData:
    """The split of ``spec``'s dataset through its plugin, checked: an ImageData with at least one image."""
    plugin = plugins.dataset(spec.name)
    options = parse_options(plugin.options, spec.options, f"dataset '{spec.name}'")
    request = DataRequest(
        split=split,
        root=Path(spec.root) if spec.root else None,
        download=spec.download,
        image_size=spec.image_size,
        channels=spec.channels,
        quiet=quiet,
        options=options,
    )
    data = plugin.load(request)
    if not isinstance(data, ImageData):
        raise GanstudioError(f"dataset plugin '{plugin.plugin}' returned {type(data).__name__}, not ImageData")
    if len(data) == 0:
        raise GanstudioError(f"dataset '{spec.name}' ({split}) is empty ({data.source})")
    return data
