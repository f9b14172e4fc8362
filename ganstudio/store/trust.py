"""Which local plugin folders may run: ``./plugins`` is code, so it is loaded only once the user trusts it.

    ganstudio plugins --trust            # trust ./plugins (its absolute path) from now on
    ganstudio plugins --untrust          # and take it back
    ganstudio --plugins-dir DIR ...      # load DIR for this one command (an explicit choice is trust enough)
    ganstudio --no-plugins ...           # built-ins only: no entry points, no plugins folder

Trusted folders are kept in $GANSTUDIO_CONFIG_DIR/trusted-plugin-folders.json (default ~/.config/ganstudio/).
Trust is per folder path: files added to a trusted folder later run too, as with any folder you chose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ganstudio.errors import GanstudioError
from ganstudio.store.atomic import atomic_write_text


def config_dir() -> Path:
    return Path(os.environ.get("GANSTUDIO_CONFIG_DIR") or Path.home() / ".config" / "ganstudio")


def store_path() -> Path:
    return config_dir() / "trusted-plugin-folders.json"


def trusted_folders() -> list[str]:
    path = store_path()
    if not path.is_file():
        return []
    try:
        folders = json.loads(path.read_text()).get("folders", [])
        return [str(f) for f in folders]
    except (ValueError, AttributeError, OSError):
        raise GanstudioError(
            f"{path} is damaged; delete it and trust your plugin folders again (ganstudio plugins --trust)"
        ) from None


def is_trusted(folder) -> bool:
    return str(Path(folder).resolve()) in trusted_folders()


def set_trust(folder, trusted: bool) -> Path:
    folder = Path(folder).resolve()
    if trusted and not folder.is_dir():
        raise GanstudioError(f"--trust {folder}: not a folder")
    folders = [f for f in trusted_folders() if f != str(folder)] + ([str(folder)] if trusted else [])
    try:
        atomic_write_text(store_path(), json.dumps({"folders": folders}, indent=1) + "\n")
    except OSError as e:
        raise GanstudioError(f"could not write {store_path()}: {e.strerror or e}") from None
    return folder
