"""The one rule for replacing a file: only one of the kind the command writes (known by its content), or --overwrite.

    check_replaceable(out, "npz", overwrite=args.overwrite)   # before anything is made; one line if it is not ours

``sample``, ``export`` and ``gif`` (and anything else that writes where a user points it) call this before they write,
so `export --out notes.txt` never silently replaces notes.txt. An existing target is replaced without asking only
when its content is of that kind: a PNG or GIF by its signature, an .npz holding ``images``, a TorchScript archive,
an ONNX model, an export's .json description. A link, a folder or a file that cannot be read is never "ours".
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

from ganstudio.errors import GanstudioError
from ganstudio.store.paths import shown

JSON_BYTES = 2**20  # an export's .json description is about 1 kB; a bigger file is not one
SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n",), "gif": (b"GIF87a", b"GIF89a")}


def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _is_npz(path: Path) -> bool:
    return "images.npy" in _zip_names(path)  # `sample --out x.npz` always writes the images array


def _is_torchscript(path: Path) -> bool:
    names = _zip_names(path)  # torch.jit.save: <archive>/constants.pkl and <archive>/code/...
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def _is_onnx(path: Path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(output.name == "images" for output in model.graph.output)  # an export's output is named images


def _is_export_json(path: Path) -> bool:
    if path.stat().st_size > JSON_BYTES:
        return False
    info = json.loads(path.read_text())
    return isinstance(info, dict) and info.get("format") in ("torchscript", "onnx") and "latent_dim" in info


def _has_signature(kind: str):
    def check(path: Path) -> bool:
        with open(path, "rb") as f:
            head = f.read(8)
        return head.startswith(SIGNATURES[kind])

    return check


# kind -> (what a message calls it, the content check)
KINDS = {
    "png": ("PNG", _has_signature("png")),
    "gif": ("GIF", _has_signature("gif")),
    "npz": (".npz of images", _is_npz),
    "torchscript": ("TorchScript export", _is_torchscript),
    "onnx": ("ONNX export", _is_onnx),
    "export-json": ("export description (.json)", _is_export_json),
}


def is_ours(path, kind: str) -> bool:
    """Whether the existing ``path`` is a regular file (not a link) whose content is of ``kind`` (see KINDS)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        return bool(KINDS[kind][1](path))
    except Exception:  # noqa: BLE001 - unreadable, damaged or foreign content: not a file ganstudio wrote
        return False


def exists(path) -> bool:
    try:
        os.lstat(path)
    except (OSError, ValueError):  # absent, or a name the system refuses (the write then says so)
        return False
    return True


def check_replaceable(path, kind: str, overwrite: bool = False) -> None:
    """Nothing when ``path`` is absent, is of ``kind``, or ``overwrite`` is set; else one line saying so."""
    if overwrite or not exists(path) or is_ours(path, kind):
        return
    raise GanstudioError(
        f"{shown(path)} exists and is not a {KINDS[kind][0]} ganstudio wrote; pass --overwrite to replace it"
    )
