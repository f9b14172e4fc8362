"""The explore page as a person uses it, in headless Chromium: the seed slider, truncation, the class picker, the
row per class, the walk between two seeds; each image's pixels equal what its `ganstudio sample` command writes; a
hostile checkpoint is one line, never a 500; the generator is loaded once per checkpoint file."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from .conftest import GANSTUDIO, RunningStudio, read_url, studio_env

EVIL = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1>"


@pytest.fixture(scope="module")
def explore_root(studio_runs, tmp_path_factory):
    """The two tiny runs, a spare copy of tiny-dcgan for timing, and two hostile runs: ``broken`` (a truncated
    last.pt, garbage metrics.jsonl) and ``evil`` (markup in its class names and run name)."""
    root = tmp_path_factory.mktemp("explore")
    (root / "config").mkdir()
    runs = root / "checkpoints"
    for name in ("tiny-dcgan", "tiny-cdcgan"):
        shutil.copytree(studio_runs / "checkpoints" / name, runs / name)
    shutil.copytree(runs / "tiny-dcgan", runs / "spare")
    shutil.copytree(runs / "tiny-dcgan", runs / "broken")
    data = (runs / "broken/last.pt").read_bytes()
    (runs / "broken/last.pt").write_bytes(data[: len(data) // 2])
    (runs / "broken/metrics.jsonl").write_text('not json\n{"step": "x"}\n\x00\x01\n')
    shutil.copytree(runs / "tiny-cdcgan", runs / "evil")
    ckpt = torch.load(runs / "evil/last.pt", weights_only=True)
    ckpt["model"]["config"]["class_names"][0] = EVIL
    ckpt["config"]["name"] = EVIL
    torch.save(ckpt, runs / "evil/last.pt")
    return root


@pytest.fixture(scope="module")
def explore(explore_root):
    """One ``ganstudio studio`` over explore_root for the whole module (its generator cache is what is tested)."""
    command = [*GANSTUDIO, "studio", "--checkpoints-dir", str(explore_root / "checkpoints")]
    process = subprocess.Popen(
        command,
        cwd=explore_root,
        env=studio_env(explore_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_url(process)
        base, token = url.split("/?token=")
        yield RunningStudio(process, url, base, token)
    finally:
        # Killed, not terminated: a terminated uvicorn waits out the browser's kept-alive connection first, and
        # this studio holds nothing to clean up (no run locks, no children in this module).
        process.kill()
        process.wait(timeout=10)


def open_page(browser, studio, path: str):
    browser.get(studio.url)  # the token's cookie
    browser.get(studio.base + path)


def shown(browser, figure: str, contains: str = "", timeout: float = 20) -> bytes:
    """The PNG bytes the figure shows, once it shows an image whose URL contains ``contains``."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(driver):
        state = driver.execute_script(
            "const f = document.getElementById(arguments[0]); const img = f.querySelector('img');"
            "return [f.dataset.shown || '', img.complete && img.naturalWidth > 0, !f._busy];",
            figure,
        )
        return state[0] and contains in state[0] and state[1] and state[2]

    WebDriverWait(browser, timeout).until(ready)
    data = browser.execute_async_script(
        "const done = arguments[1]; fetch(document.getElementById(arguments[0]).querySelector('img').src)"
        ".then(r => r.arrayBuffer()).then(b => { let s = ''; new Uint8Array(b).forEach(x => s += "
        "String.fromCharCode(x)); done(btoa(s)); });",
        figure,
    )
    return base64.b64decode(data)


def pixels(png: bytes) -> np.ndarray:
    return iio.imread(png, extension=".png")


def text_of(browser, css: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css).text


def run_shown_command(command: str, root, cwd) -> np.ndarray:
    """Run the `ganstudio sample ...` the page shows, as written, from ``cwd``; the pixels of the PNG it writes."""
    words = shlex.split(command)
    assert words[:2] == ["ganstudio", "sample"], command
    done = subprocess.run(
        [*GANSTUDIO, *words[1:]], cwd=cwd, env=studio_env(root), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return pixels((cwd / words[words.index("--out") + 1]).read_bytes())


def test_the_seed_slider_changes_the_image_and_the_command_makes_the_same_pixels(
    explore, explore_root, browser, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, explore, "/explore/tiny-dcgan")
    first = shown(browser, "main-figure", "seed=0&")
    browser.find_element(By.ID, "seed-slider").send_keys(Keys.ARROW_RIGHT)
    second = shown(browser, "main-figure", "seed=1&")
    assert not np.array_equal(pixels(first), pixels(second))
    assert text_of(browser, "#main-figure .seed").startswith("seed 1")
    browser.find_element(By.ID, "truncation-on").click()
    truncated = shown(browser, "main-figure", "truncation=0.7")
    command = text_of(browser, "#main-figure .command")
    assert "sample tiny-dcgan" in command and "--seeds 1 --truncation 0.7 --scale" in command
    assert np.array_equal(run_shown_command(command, explore_root, tmp_path), pixels(truncated))
    link = browser.find_element(By.CSS_SELECTOR, "#main-figure a.png")
    assert link.get_attribute("download").endswith(".png") and "download=1" in link.get_attribute("href")


def test_the_class_picker_changes_the_image_and_the_rows_are_classes(explore, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, explore, "/explore/tiny-cdcgan")
    drawn = shown(browser, "main-figure", "seed=0&")
    Select(browser.find_element(By.ID, "class")).select_by_value("3")
    dress = shown(browser, "main-figure", "class=3")
    assert not np.array_equal(pixels(drawn), pixels(dress))
    assert "class 3: Dress" in text_of(browser, "#main-figure .seed")
    assert "--seeds 0 --class 3" in text_of(browser, "#main-figure .command")
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-class tr")
    assert len(rows) == 10 and all(len(row.find_elements(By.TAG_NAME, "figure")) == 4 for row in rows)
    cells = browser.execute_script(
        "return [...document.querySelectorAll('#per-class tr')].map(r => r.cells[1].querySelector('figure').id = "
        "'cell-' + r.dataset.class)"
    )
    row0, row3 = shown(browser, cells[0], "class=0"), shown(browser, cells[3], "class=3")
    assert not np.array_equal(pixels(row0), pixels(row3))
    # the grid cell of class 3, seed 0 is the main image, made smaller
    scale = pixels(dress).shape[0] // pixels(row3).shape[0]
    assert np.array_equal(pixels(row3).repeat(scale, 0).repeat(scale, 1), pixels(dress))


def test_the_walk_between_two_seeds_starts_at_seed_a(explore, browser):
    open_page(browser, explore, "/explore/tiny-cdcgan")
    middle = shown(browser, "between-figure", "t=0.5")
    a, b = shown(browser, "a-figure", "seed=0&"), shown(browser, "b-figure", "seed=1&")
    assert not np.array_equal(pixels(middle), pixels(a))
    browser.execute_script("const t = document.getElementById('t'); t.value = 0; t.dispatchEvent(new Event('input'))")
    assert np.array_equal(pixels(shown(browser, "between-figure", "t=0&")), pixels(a))
    assert "--seeds 0 " in text_of(browser, "#between-figure .command")
    browser.execute_script("const t = document.getElementById('t'); t.value = 1; t.dispatchEvent(new Event('input'))")
    assert np.array_equal(pixels(shown(browser, "between-figure", "t=1&")), pixels(b))


def test_a_hostile_checkpoint_is_one_line_on_the_page_and_a_4xx(explore, browser):
    from selenium.webdriver.common.by import By

    status, body = explore.get("/explore/broken/image.png?seed=1")
    error = json.loads(body)["error"]
    assert status == 422 and "last.pt" in error and "\n" not in error
    assert explore.get("/explore/broken")[0] == 422
    open_page(browser, explore, "/explore")
    assert "tiny-dcgan" in text_of(browser, "#explore-runs") and "broken" in text_of(browser, "#explore-runs")
    open_page(browser, explore, "/explore/broken")
    assert "last.pt" in text_of(browser, "#explore-load-problem")
    open_page(browser, explore, "/explore/evil")
    shown(browser, "main-figure", "seed=0&")
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#class option")]
    assert options[1].startswith("0: <script>") and browser.execute_script("return window.pwned") is None


@pytest.mark.parametrize(
    "query, status, says",
    [
        ("image.png?seed=-1", 400, "seed '-1'"),
        ("image.png?seed=99999999999999999999", 400, "from 0 to"),
        ("image.png", 400, "seed: missing"),
        ("image.png?seed=1&truncation=0", 400, "greater than 0"),
        ("image.png?seed=1&truncation=nan", 400, "greater than 0"),
        ("image.png?seed=1&class=1", 400, "not class-conditional"),
        ("image.png?seed=1&scale=33", 400, "from 1 to 32"),
        ("image.png?seed=1&checkpoint=../../etc/passwd", 400, "expected last or best"),
        ("image.png?seed=1&checkpoint=best", 404, "no best.pt"),
        ("between.png?a=1&b=2&t=1.5", 400, "fraction"),
        ("grid.png?seed=1", 400, "not class-conditional"),
    ],
)
def test_every_parameter_is_checked_in_one_line(explore, query, status, says):
    got, body = explore.get(f"/explore/tiny-dcgan/{query}")
    assert got == status and says in json.loads(body)["error"], body


def test_a_request_names_no_file(explore):
    for path in ("/explore/..%2Fetc/image.png?seed=1", "/explore/.hidden/image.png?seed=1"):
        status, body = explore.get(path)
        assert status in (400, 404), (path, status, body)
    assert explore.get("/explore/nope/image.png?seed=1")[0] == 404


def test_the_generator_is_loaded_once_per_checkpoint_file(explore, explore_root):
    """The first image loads the generator; later ones reuse it (even when the file's bytes are gone, as long as
    its identity is the same); a newer last.pt (here another model) is loaded on the next image."""
    timings = []
    for seed in (1, 2, 3, 4):
        start = time.perf_counter()
        status, _ = explore.get(f"/explore/spare/image.png?seed={seed}&scale=8")
        timings.append(time.perf_counter() - start)
        assert status == 200
    later = ", ".join(f"{t * 1000:.0f}" for t in timings[1:])
    print(f"\nexplore image: first {timings[0] * 1000:.0f} ms (loads the generator), then {later} ms")
    assert sorted(timings[1:])[1] < timings[0] and max(timings[1:]) < 1.0
    spare = explore_root / "checkpoints/spare/last.pt"
    before = os.stat(spare)
    with open(spare, "r+b") as handle:  # same inode, size and (restored) mtime: the cached generator still answers
        handle.write(b"\0" * 64)
    os.utime(spare, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert explore.get("/explore/spare/image.png?seed=5")[0] == 200
    assert explore.get("/explore/spare/image.png?seed=1&class=2")[0] == 400  # dcgan: no classes
    shutil.copyfile(explore_root / "checkpoints/tiny-cdcgan/last.pt", spare.with_suffix(".tmp"))
    os.replace(spare.with_suffix(".tmp"), spare)
    assert explore.get("/explore/spare/image.png?seed=1&class=2")[0] == 200


@pytest.mark.slow
def test_the_whole_grid_is_what_sample_per_class_writes(explore, explore_root, browser, tmp_path):
    """The row-per-class PNG (names drawn by matplotlib: seconds on first use) and its `sample --per-class` command."""
    from selenium.webdriver.common.by import By

    open_page(browser, explore, "/explore/tiny-cdcgan")
    shown(browser, "main-figure", "seed=0&")
    browser.find_element(By.CSS_SELECTOR, "#whole-grid summary").click()
    grid = shown(browser, "grid-figure", "grid.png", timeout=60)
    command = text_of(browser, "#grid-figure .command")
    assert "--per-class 4 --seed 0" in command
    assert np.array_equal(run_shown_command(command, explore_root, tmp_path), pixels(grid))
