"""Checkpoints: written atomically (temp file, fsync, rename, fsync the folder), read with weights_only=True.

A checkpoint is a dict of plain types and tensors, so it loads without unpickling code:
``format``/``version`` identify it; ``model``/``data``/``config`` say how to rebuild the run.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ganstudio.errors import GanstudioError

FORMAT = "ganstudio-checkpoint"
VERSION = 1


def save_checkpoint(payload: dict, path) -> Path:
    """Write ``payload`` to ``path`` so that a crash at any moment leaves either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    payload = {"format": FORMAT, "version": VERSION, **payload}
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise GanstudioError(f"could not write checkpoint {path}: {e.strerror or e}; the previous checkpoint is intact") from e
        raise
    _remove_stale_temp_files(path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files left by writers that were killed mid-write are never read; remove them once a save succeeds."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_checkpoint(path) -> dict:
    """Load and validate a ganstudio checkpoint; every failure is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise GanstudioError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise GanstudioError(f"{path}: refused: the file holds pickled objects that weights_only=True does not allow ({first[:160]})") from None
    except Exception as e:  # torch surfaces a damaged file as RuntimeError, EOFError, KeyError, BadZipFile, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanstudioError(f"{path}: not a readable checkpoint (truncated or corrupt: {reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanstudioError(f"{path}: not a ganstudio checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise GanstudioError(f"{path}: checkpoint version {payload.get('version')} is not supported by this ganstudio (expects {VERSION})")
    return payload


def find_latest_checkpoint(root="checkpoints", kind: str | None = None) -> Path:
    """The newest ``*/last.pt`` under ``root`` (optionally only runs of a model kind, e.g. 'gan')."""
    root = Path(root)
    found = sorted(root.glob("*/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for path in found:
        if kind is None or _kind_of(path) == kind:
            return path
    what = f"{kind} " if kind else ""
    raise GanstudioError(f"no {what}checkpoint found under {root}/ (train one first: ganstudio train --data fashion --model dcgan), or pass --checkpoint PATH")


def _kind_of(path: Path) -> str | None:
    try:
        return load_checkpoint(path)["model"]["kind"]
    except (GanstudioError, KeyError, TypeError):
        return None
