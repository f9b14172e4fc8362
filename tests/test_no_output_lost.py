"""No output lost (issue 30, items 3, 4 and 9): every file sample, export and gif write, and the training callbacks'
grids and GIFs, goes through the atomic writer; a full disk (real, on a small tmpfs, and simulated) is one line naming
the file, keeps what was there and leaves no temp file; a file that is not ganstudio's is never replaced without
--overwrite; sample's sizes are limited before anything is allocated."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from sample_runs import runs_in, train_sample_runs

from ganstudio.cli import main
from ganstudio.store import atomic
from ganstudio.store.checkpoint import load_checkpoint, save_checkpoint

TESTS = Path(__file__).resolve().parent
DCGAN = ("--model", "dcgan", "--model-option", "width=8", "--model-option", "latent_dim=8", "--batch-size", "32")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny runs of sample_runs (plain, cond, bars) plus 'dc', a one-step 8-wide DCGAN that export can trace."""
    root = train_sample_runs(tmp_path_factory.mktemp("no-output-lost"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            args = ["train", "--data", "fashion", "--data-root", str(root / "tiny"), *DCGAN, "--name", "dc"]
            assert main([*args, "--steps", "1", "--callbacks", "log"]) == 0
        finally:
            torch.set_num_threads(threads)
    return root


@pytest.fixture
def runs(trained, workdir, one_torch_thread):
    return runs_in(trained, workdir)


def one_line(result, *expected, code=2):
    got, out, err = result
    assert got == code and err.count("\n") == 1 and "Traceback" not in err, (got, err)
    for text in expected:
        assert text in err, err
    return err


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).rglob(".*tmp-*"))


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte (unbuffered, so nothing is left to flush)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def disk_full_after(monkeypatch, writes: int = 0):
    """Simulated ENOSPC: the atomic writer's ``writes``+1-th file gets half its bytes, then the disk is full."""
    real, calls = atomic.write_all, []

    def write_all(tmp, data):
        calls.append(tmp)
        if len(calls) <= writes:
            return real(tmp, data)
        Path(tmp).write_bytes(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "write_all", write_all)
    return calls


def ganstudio(workdir, *args, timeout=180):
    """The CLI in its own process: a C++ abort (exit 134) or an unraisable-exception traceback shows as it would."""
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS),
        "OMP_NUM_THREADS": "1",
        "GANSTUDIO_CACHE": str(workdir / "cache"),
        "GANSTUDIO_CONFIG_DIR": str(workdir / "config"),
        "GANSTUDIO_NO_ENTRY_POINTS": "1",
    }
    command = [sys.executable, "-m", "ganstudio", *map(str, args)]
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


# --- sample ----------------------------------------------------------------------------------------------------


@pytest.mark.slow  # a real tmpfs or torchrun run; `make test-all` runs it (the default run keeps a lighter twin)
def test_sample_npz_on_a_really_full_disk_keeps_the_previous_file(cli, runs, small_disk):
    disk = small_disk(64)
    assert cli("sample", "plain", "--n", "4", "--out", disk / "x.npz")[0] == 0
    before = (disk / "x.npz").read_bytes()
    fill(disk)
    one_line(cli("sample", "plain", "--n", "64", "--out", disk / "x.npz"), "x.npz", "No space left on device")
    assert (disk / "x.npz").read_bytes() == before and temp_files(disk) == []


def test_sample_npz_simulated_full_disk_keeps_the_previous_file(cli, runs, monkeypatch):
    assert cli("sample", "plain", "--n", "4", "--out", "x.npz")[0] == 0
    before = (runs / "x.npz").read_bytes()
    disk_full_after(monkeypatch)
    one_line(cli("sample", "plain", "--n", "64", "--out", "x.npz"), "could not write x.npz", "free some space")
    assert (runs / "x.npz").read_bytes() == before and temp_files(runs) == []


@pytest.mark.slow  # a real tmpfs or torchrun run; `make test-all` runs it (the default run keeps a lighter twin)
def test_sample_png_folder_on_a_really_full_disk(cli, runs, small_disk):
    disk = small_disk(64)
    fill(disk)
    one_line(cli("sample", "plain", "--n", "64", "--out", f"{disk}/pngs/"), "No space left on device")
    assert not (disk / "pngs").exists() and temp_files(disk) == []


def test_sample_png_folder_simulated_full_disk_removes_only_its_own_files(cli, runs, monkeypatch):
    assert cli("sample", "plain", "--n", "2", "--out", "pngs/")[0] == 0
    (runs / "pngs/mine.txt").write_text("not ganstudio's")
    before = {p.name: p.read_bytes() for p in (runs / "pngs").iterdir()}
    disk_full_after(monkeypatch, writes=4)  # seed 0 and 1 replaced, 2 and 3 new, 4 half written
    one_line(cli("sample", "plain", "--n", "8", "--out", "pngs/"), "pngs/seed000004.png", "No space left on device")
    after = {p.name: p.read_bytes() for p in (runs / "pngs").iterdir()}
    assert sorted(after) == sorted(before) and after["mine.txt"] == before["mine.txt"]
    assert all(len(data) > 0 for data in after.values()) and temp_files(runs) == []


def test_sample_never_replaces_a_file_that_is_not_its_own(cli, runs):
    (runs / "notes.png").write_text("my notes")
    (runs / "data.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: not ganstudio's images
    (runs / "pngs").mkdir()
    (runs / "pngs/seed000001.png").write_text("not a picture")
    for out, kind in (("notes.png", "PNG"), ("data.npz", ".npz"), ("pngs/", "PNG")):
        one_line(cli("sample", "plain", "--n", "4", "--out", out), "exists and is not a", kind, "--overwrite")
    assert (runs / "notes.png").read_text() == "my notes" and (runs / "pngs/seed000001.png").read_text()[0] == "n"
    assert [p.name for p in (runs / "pngs").iterdir()] == ["seed000001.png"]
    assert cli("sample", "plain", "--n", "4", "--out", "notes.png", "--overwrite")[0] == 0
    assert iio.imread(runs / "notes.png").ndim == 2
    assert cli("sample", "plain", "--n", "4", "--out", "x.npz")[0] == 0
    assert cli("sample", "plain", "--n", "2", "--out", "x.npz")[0] == 0  # its own .npz it replaces


def test_interpolate_and_show_never_replace_a_file_that_is_not_their_own(cli, runs, tiny_idx):
    (runs / "walk.gif").write_text("my notes")
    (runs / "gallery.png").write_text("my notes")
    walk = ("interpolate", "plain", "--n", "2", "--frames", "2", "--scale", "1", "--out", "walk.gif")
    one_line(cli(*walk), "walk.gif exists and is not a GIF", "--overwrite")
    show = ("show", "--data", "fashion", "--data-root", tiny_idx, "--rows", "2", "--cols", "2", "--out", "gallery.png")
    one_line(cli(*show), "gallery.png exists and is not a PNG", "--overwrite")
    assert (runs / "walk.gif").read_text() == "my notes" and (runs / "gallery.png").read_text() == "my notes"
    assert cli(*walk, "--overwrite")[0] == 0 and cli(*show, "--overwrite")[0] == 0
    assert iio.imread(runs / "gallery.png").ndim in (2, 3) and (runs / "walk.gif").read_bytes()[:3] == b"GIF"
    assert cli(*walk)[0] == 0 and cli(*show)[0] == 0  # their own outputs they replace


def test_sample_limits_are_checked_before_anything_is_made(cli, runs):
    billion = "1000000000"
    one_line(cli("sample", "plain", "--n", billion), "--n is 1,000,000,000; the most is 10,000", "--out DIR/")
    one_line(cli("sample", "plain", "--n", billion, "--out", "x.npz"), "--n is 1,000,000,000; the most is 100,000")
    one_line(cli("sample", "cond", "--per-class", billion), "--per-class is 1,000,000,000")
    one_line(cli("sample", "cond", "--per-class", "2000"), "--per-class 2,000 x 10 classes is 20,000", "10,000")
    one_line(cli("sample", "plain", "--seeds", "0-200000", "--out", "d/"), "--seeds is 200,001; the most is 100,000")
    one_line(cli("sample", "plain", "--scale", "1000"), "--scale is 1,000; the most is 32")
    one_line(cli("sample", "plain", "--n", "10000", "--scale", "32"), "pixels", "the most is")
    assert not (runs / "samples").exists() and not (runs / "x.npz").exists() and not (runs / "d").exists()


def test_per_class_with_fewer_class_names_than_classes(cli, runs):
    path = runs / "checkpoints/cond/last.pt"
    ckpt = load_checkpoint(path)
    ckpt["model"]["config"]["class_names"] = ["T-shirt/top", "Trouser", "Pullover"]  # 10 classes, 3 names
    save_checkpoint({k: v for k, v in ckpt.items() if k not in ("format", "version")}, path)
    code, out, err = cli("sample", "cond", "--per-class", "2")
    assert code == 0, err
    code, out, err = cli("sample", "cond", "--per-class", "2", "--out", "rows/")
    assert code == 0, err
    names = sorted(p.name for p in (runs / "rows").iterdir())
    assert len(names) == 20 and "seed000000-trouser.png" in names and "seed000001-9.png" in names


# --- export ----------------------------------------------------------------------------------------------------


@pytest.mark.slow  # a real tmpfs or torchrun run; `make test-all` runs it (the default run keeps a lighter twin)
def test_export_on_a_really_full_disk_is_one_line(runs, small_disk):
    disk = small_disk(64)
    fill(disk)
    result = ganstudio(runs, "export", "dc", "--out", disk / "g.pt")
    one_line(result, "g.pt", "No space left on device")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_export_simulated_full_disk_keeps_the_previous_file(cli, runs, monkeypatch):
    assert cli("export", "dc", "--out", "g.pt")[0] == 0
    before = (runs / "g.pt").read_bytes(), (runs / "g.pt.json").read_bytes()
    disk_full_after(monkeypatch)
    one_line(cli("export", "dc", "--out", "g.pt"), "could not write g.pt", "No space left on device")
    assert ((runs / "g.pt").read_bytes(), (runs / "g.pt.json").read_bytes()) == before and temp_files(runs) == []


def test_export_never_replaces_a_file_that_is_not_its_own(cli, runs):
    (runs / "notes.txt").write_text("my notes\n")
    one_line(cli("export", "dc", "--out", "notes.txt"), "notes.txt exists and is not a TorchScript", "--overwrite")
    assert (runs / "notes.txt").read_text() == "my notes\n" and not (runs / "notes.txt.json").exists()
    (runs / "g.pt.json").write_text("my settings\n")  # the sidecar's name, taken by another file
    one_line(cli("export", "dc", "--out", "g.pt"), "g.pt.json exists and is not", "--overwrite")
    assert (runs / "g.pt.json").read_text() == "my settings\n" and not (runs / "g.pt").exists()
    assert cli("export", "dc", "--out", "notes.txt", "--overwrite")[0] == 0
    assert (runs / "notes.txt").read_bytes()[:2] == b"PK" and (runs / "notes.txt.json").is_file()
    assert cli("export", "dc", "--out", "notes.txt")[0] == 0  # now it is an export: replaced without asking


def test_export_to_a_folder_that_cannot_be_written(cli, runs):
    one_line(cli("export", "dc", "--out", "/proc/nope.pt"), "could not write /proc/nope.pt")


# --- gif and the training callbacks ------------------------------------------------------------------------------


def grids(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for step in range(n):
        iio.imwrite(folder / f"step_{step:06d}.png", rng.integers(0, 255, (62, 62), dtype=np.uint8))
    return folder


@pytest.mark.slow  # a real tmpfs or torchrun run; `make test-all` runs it (the default run keeps a lighter twin)
def test_gif_on_a_really_full_disk_prints_one_line_and_nothing_after(runs, small_disk):
    disk = small_disk(64)
    grids(disk / "g")
    assert ganstudio(runs, "gif", disk / "g")[0] == 0
    before = (disk / "g/timeline.gif").read_bytes()
    fill(disk)
    one_line(ganstudio(runs, "gif", disk / "g", "--fps", "8"), "timeline.gif", "No space left on device")
    assert (disk / "g/timeline.gif").read_bytes() == before and temp_files(disk) == []


def test_gif_simulated_full_disk_and_a_file_not_its_own(cli, runs, monkeypatch):
    grids(runs / "g")
    (runs / "notes.gif").write_text("my notes")
    one_line(cli("gif", "g", "--out", "notes.gif"), "notes.gif exists and is not a GIF", "--overwrite")
    assert (runs / "notes.gif").read_text() == "my notes"
    disk_full_after(monkeypatch)
    one_line(cli("gif", "g"), "could not write g/timeline.gif", "No space left on device")
    assert not (runs / "g/timeline.gif").exists() and temp_files(runs) == []


def train_args(tiny, samples, steps):
    return ("train", "--data", "fashion", "--data-root", tiny, *DCGAN, "--name", "r", "--steps", steps,
            "--grid-every", "1", "--callbacks", "grid,gif", "--samples-dir", samples)  # fmt: skip


@pytest.mark.slow  # a real tmpfs or torchrun run; `make test-all` runs it (the default run keeps a lighter twin)
def test_train_resume_onto_a_really_full_samples_disk(trained, runs, small_disk):
    disk = small_disk(128)
    assert ganstudio(runs, *train_args(trained / "tiny", disk, "1"))[0] == 0
    fill(disk)
    code, out, err = ganstudio(runs, *train_args(trained / "tiny", disk, "3"), "--resume")
    assert code == 2 and "Traceback" not in err and "PluginV3" not in err, err
    assert "No space left on device" in err and str(disk / "r") in err and temp_files(disk) == [], err
    assert load_checkpoint(runs / "checkpoints/r/last.pt")["progress"]["step"] >= 1


def test_train_resume_simulated_full_samples_disk(cli, trained, runs, monkeypatch):
    assert cli(*train_args(trained / "tiny", "samples", "1"))[0] == 0
    disk_full_after(monkeypatch)
    code, out, err = cli(*train_args(trained / "tiny", "samples", "3"), "--resume")
    assert code == 2 and "could not write samples/r/" in err and "free some space" in err, err
    assert temp_files(runs / "samples") == []


def test_the_shared_rule(tmp_path):
    from ganstudio.errors import GanstudioError
    from ganstudio.store.ours import check_replaceable

    png, text = tmp_path / "a.png", tmp_path / "a.txt"
    iio.imwrite(png, np.zeros((4, 4), dtype=np.uint8))
    text.write_text("x")
    check_replaceable(png, "png")  # a PNG: replaced
    check_replaceable(tmp_path / "absent.png", "png")
    check_replaceable(text, "png", overwrite=True)
    with pytest.raises(GanstudioError, match="a.txt exists and is not a PNG ganstudio wrote; pass --overwrite"):
        check_replaceable(text, "png")
    os.symlink(png, tmp_path / "link.png")  # a link is never ours: it may point anywhere
    with pytest.raises(GanstudioError, match="--overwrite"):
        check_replaceable(tmp_path / "link.png", "png")
