"""Fixtures of the studio's tests: tiny trained runs in a folder of their own, ``ganstudio studio`` started as the
real command on 127.0.0.1, and a real headless Chromium driven by Selenium.

    def test_runs_page(studio_runs, start_studio, browser):
        studio = start_studio(studio_runs)              # .url (with the token), .base, .token, .get(path)
        browser.get(studio.url)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_idx_dataset

GANSTUDIO = [sys.executable, "-P", "-m", "ganstudio"]
TINY_DCGAN = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=16")
TINY_CDCGAN = ("--model", "cdcgan", "--model-option", "width=8", "--model-option", "latent_dim=16")
FAST = ("--batch-size", "32", "--log-every", "1", "--grid-every", "2", "--callbacks", "log,grid")
# Selenium and chromium-driver are dev requirements (.ci/run installs Chromium): CI sets GANSTUDIO_REQUIRE_BROWSER=1
# so a missing browser fails there instead of skipping.
REQUIRE_BROWSER = os.environ.get("GANSTUDIO_REQUIRE_BROWSER") == "1"


def studio_env(root: Path) -> dict:
    """The environment of every process a studio test starts: an isolated cache and config, no entry points."""
    env = dict(os.environ)
    env.update(
        GANSTUDIO_CACHE=str(root / "cache"),
        GANSTUDIO_CONFIG_DIR=str(root / "config"),
        GANSTUDIO_NO_ENTRY_POINTS="1",
        GANSTUDIO_DATA=str(root / "data"),
        OMP_NUM_THREADS="1",
    )
    return env


def train(root: Path, name: str, *args: str, steps: int = 6) -> None:
    """A tiny finished run ``name`` under root/checkpoints (its grids under root/samples)."""
    data = root / "data" / "tiny-idx"
    command = [*GANSTUDIO, "train", "--data", "fashion", "--data-root", str(data), "--name", name]
    command += [*args, *FAST, "--steps", str(steps)]
    done = subprocess.run(command, cwd=root, env=studio_env(root), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="session")
def studio_runs(tmp_path_factory) -> Path:
    """A folder with two finished tiny runs: ``tiny-dcgan`` (unconditional) and ``tiny-cdcgan`` (10 classes)."""
    root = tmp_path_factory.mktemp("studio")
    (root / "config").mkdir()
    make_idx_dataset(root / "data" / "tiny-idx")
    train(root, "tiny-dcgan", *TINY_DCGAN)
    train(root, "tiny-cdcgan", *TINY_CDCGAN)
    return root


@dataclass
class RunningStudio:
    process: subprocess.Popen
    url: str  # as printed: http://127.0.0.1:PORT/?token=...
    base: str  # http://127.0.0.1:PORT
    token: str

    def get(self, path: str, token: bool = True, **headers) -> tuple[int, str]:
        """(status, body) of a GET with (or without) the token header."""
        if token:
            headers.setdefault("X-Ganstudio-Token", self.token)
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")


def read_url(process: subprocess.Popen, timeout: float = 60) -> str:
    """The URL ``ganstudio studio`` prints first (fails with its stderr if it exits instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            pytest.fail(f"ganstudio studio exited {process.returncode}: {process.stderr.read()[-2000:]}")
        found = re.search(r"(http://\S+/\?token=(\S+))", line)
        if found:
            return found.group(1)
    pytest.fail("ganstudio studio printed no URL within 60 s")


@pytest.fixture
def start_studio():
    """``start_studio(root, *args)``: ``ganstudio studio`` on a free port of 127.0.0.1, stopped after the test."""
    started = []

    def start(root: Path, *args: str) -> RunningStudio:
        command = [*GANSTUDIO, "studio", "--checkpoints-dir", str(root / "checkpoints")]
        command += ["--samples-dir", str(root / "samples"), *args]
        process = subprocess.Popen(
            command, cwd=root, env=studio_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        url = read_url(process)
        base, token = url.split("/?token=")
        return RunningStudio(process, url, base, token)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, one for the whole session."""
    browser_path, driver_path = chromium_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        browser_path = None
    if not (browser_path and driver_path):
        message = "needs selenium, chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
