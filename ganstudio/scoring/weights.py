"""Finding a feature extractor's weights file without a surprise download: ``--weights PATH``, else the ganstudio
cache ($GANSTUDIO_CACHE/weights/), else the torch hub cache; ``--download`` fetches it once into the ganstudio cache.
A missing file is one line (which file, where to put it, its checksum and size); a damaged one is one line too.

    file = WeightsFile("weights-inception-2015-12-05-6726825d.pth", URL, sha256_prefix="6726825d", size="about 96 MB")
    found = find_weights(file, given=None, download=False)      # Found(path, sha256, official)
    state = read_state_dict(found, "inception")                  # weights_only, size-checked, one line on failure
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ganstudio import limits
from ganstudio.errors import GanstudioError
from ganstudio.scoring.shipped import file_sha256


@dataclass(frozen=True)
class WeightsFile:
    """The official weights of a feature space: its file name, where it is published, and how to know it."""

    name: str  # the file name looked for in the caches
    url: str
    sha256_prefix: str = ""  # the first hex digits of its sha256 (torch hub's convention: part of the file name)
    size: str = ""  # what the user is told, e.g. "about 96 MB"


@dataclass(frozen=True)
class Found:
    path: Path
    sha256: str
    official: bool  # its sha256 starts with the published prefix


def cache_folder() -> Path:
    from ganstudio.api.data import cache_root

    return cache_root() / "weights"


def hub_folder() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def places(file: WeightsFile) -> list[Path]:
    return [cache_folder() / file.name, hub_folder() / file.name]


def missing(file: WeightsFile, space: str) -> GanstudioError:
    checksum = f"sha256 {file.sha256_prefix}..." if file.sha256_prefix else "no published checksum"
    return GanstudioError(
        f"--features {space} needs {file.name} ({file.size}, {checksum}) from {file.url}: put it in "
        f"{cache_folder()}/ or {hub_folder()}/, pass --weights PATH, or pass --download to fetch it once"
    )


def find_weights(file: WeightsFile, space: str, given=None, download: bool = False) -> Found:
    """The weights file to use, checked: ``given`` (--weights) may be any file of the right architecture (its sha256
    is recorded); one found in a cache must be the published file (its sha256 prefix)."""
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise GanstudioError(f"--weights {path}: no such file")
        return checked(path, file, space, must_be_official=False)
    for path in places(file):
        if path.is_file():
            return checked(path, file, space, must_be_official=True)
    if not download:
        raise missing(file, space)
    return checked(fetch(file, space), file, space, must_be_official=True)


def checked(path: Path, file: WeightsFile, space: str, must_be_official: bool) -> Found:
    limits.at_most(f"weights file {path} ({space})", path.stat().st_size, limits.FEATURE_WEIGHTS_BYTES)
    try:
        sha = file_sha256(path)
    except OSError as e:
        raise GanstudioError(f"weights file {path} is unreadable: {e.strerror or e}") from None
    official = bool(file.sha256_prefix) and sha.startswith(file.sha256_prefix)
    if must_be_official and file.sha256_prefix and not official:
        raise GanstudioError(
            f"weights file {path}: sha256 {sha[:16]}... is not {file.name}'s {file.sha256_prefix}... (damaged or a "
            f"different file); delete it and pass --download, or pass --weights PATH"
        )
    return Found(path, sha, official)


def fetch(file: WeightsFile, space: str) -> Path:
    """Download the file once into the ganstudio cache (through the atomic writer, its hash prefix checked)."""
    import torch

    from ganstudio.store.atomic import atomic_write

    target = cache_folder() / file.name
    print(f"downloading {file.url} ({file.size}) to {target}", flush=True)
    try:
        atomic_write(
            target,
            lambda tmp: torch.hub.download_url_to_file(file.url, str(tmp), file.sha256_prefix or None, progress=False),
        )
    except (OSError, RuntimeError) as e:
        raise GanstudioError(f"--features {space}: could not download {file.url}: {str(e)[:200]}") from None
    return target


def read_state_dict(found: Found, space: str) -> dict:
    """The file's tensors, read with weights_only (a pickle that runs code is refused): one line when it is not a
    state dict of tensors."""
    import torch

    data = found.path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise GanstudioError(
            f"weights file {found.path} ({space}) is not a readable weights file ({first_line(e)}); sha256 "
            f"{found.sha256[:16]}...: replace it"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanstudioError(f"weights file {found.path} ({space}) does not hold a state dict of tensors")
    return state


def build_checked(found: Found, what: str, build):
    """``build()``, the network made from the file's state dict; a state dict of another network (missing or
    unexpected keys, wrong shapes) is one line naming ``what`` it should have been."""
    try:
        return build()
    except (RuntimeError, ValueError) as e:
        raise GanstudioError(
            f"weights file {found.path} is not {what} state dict ({first_line(e)}); sha256 {found.sha256[:16]}..."
        ) from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:160]
