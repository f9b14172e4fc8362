"""Helpers of tests/test_export.py that run the standalone scripts of docs/export.md: the script after a lead-in,
run in a fresh interpreter with some modules made unimportable, and the 8x8 grid they save."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

DOCS = Path(__file__).resolve().parent.parent / "docs" / "export.md"


def docs_script(lead_in: str) -> str:
    match = re.search(re.escape(lead_in) + r".*?\n\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert match, f"docs/export.md has no python block after '{lead_in}'"
    return textwrap.dedent(match.group(1))


BLOCK_IMPORTS = (
    "import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # importing it fails\n"
    "sys.argv = ['script', {path!r}]\n"
)


def run_script(code: str, path: Path, cwd: Path, blocked: tuple) -> None:
    script = cwd / "script.py"
    script.write_text(BLOCK_IMPORTS.format(blocked=list(blocked), path=str(path)) + code)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr


def grid_of(images: torch.Tensor) -> np.ndarray:
    """(64, 1, H, W) uint8 -> the 8x8 grid the docs' scripts save."""
    n, c, h, w = images.shape
    return images.reshape(8, 8, h, w).permute(0, 2, 1, 3).reshape(8 * h, 8 * w).numpy()
