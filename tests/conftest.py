"""Shared fixtures: tiny synthetic IDX datasets, an isolated working folder, and an in-process CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ganstudio.builtin.datasets.idx_files import write_idx

REPO = Path(__file__).resolve().parent.parent


def make_idx_dataset(root: Path, n_train: int = 256, n_test: int = 64, side: int = 28, seed: int = 0) -> Path:
    """Four IDX .gz files of simple class-dependent patterns (bars at a class-dependent position)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, side, side), dtype=np.uint8)
        for i, label in enumerate(labels):
            row = 2 + int(label) * (side - 4) // 10
            images[i, row : row + 3, 3:-3] = 220
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty folder with an isolated cache and config; no installed entry-point plugins, no system data.
    Its ./plugins folder is trusted, as after ``ganstudio plugins --trust`` (tests of trust itself take it back)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
    monkeypatch.delenv("GANSTUDIO_DATA", raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/trusted-plugin-folders.json").write_text(
        json.dumps({"folders": [str((tmp_path / "plugins").resolve())]})
    )
    return tmp_path


@pytest.fixture
def tiny_idx(tmp_path) -> Path:
    return make_idx_dataset(tmp_path / "tiny-idx")


@pytest.fixture
def cli(workdir, capsys):
    """``code, out, err = cli("train", "--data", ...)``: runs ganstudio in-process in the work folder."""
    from ganstudio.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one thread is several times faster than two fighting others."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Tiny, fast settings for a training run: a 16-wide DCGAN on the 256-image fixture.
FAST = ("--batch-size", "32", "--log-every", "2")


@pytest.fixture
def small_disk(tmp_path):
    """``folder = small_disk(256)``: an empty, real file system of that many KB (tmpfs; needs root, else the test is
    skipped), for full-disk tests. Unmounted afterwards."""
    import subprocess

    mounted = []

    def mount(kilobytes: int) -> Path:
        folder = tmp_path / f"small-disk-{len(mounted)}"
        folder.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)]
        if subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (not root)")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def pytest_configure(config):
    """``make test`` runs two pytest-xdist workers: each gets one torch thread (and so do the processes its tests
    start), since two workers of two threads each on a 2-core machine wait on each other (the Makefile's
    DEMO_THREADS note)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """The studio's tests share session fixtures (two tiny runs, one Chromium): one xdist worker runs them all, so
    they are made once. Tests marked ``cuda`` need a GPU: skipped where torch sees none (``pytest -m cuda``)."""
    studio = Path(__file__).parent / "studio"
    for item in items:
        if studio in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("studio"))
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import torch  # imported only when a cuda test was collected

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False here")
    for item in marked:
        item.add_marker(skip)
