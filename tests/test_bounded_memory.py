"""Bounded memory for hostile input and values (issue 30, item 4), and the one-liners of item 9 for ``.npz`` files and
the image cache: each limit is checked before anything is allocated, and a damaged or lying file is one line."""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from conftest import make_idx_dataset
from image_trees import make_image_folder

from ganstudio import limits
from ganstudio.api.runs import load_run
from ganstudio.builtin.datasets.imagecache import list_images, prepare_images
from ganstudio.cli import main
from ganstudio.errors import GanstudioError
from ganstudio.scoring.samples import load_npz_images
from ganstudio.store.checkpoint import load_checkpoint

GAN = ("--model", "dcgan", "--model-option", "width=8", "--batch-size", "32", "--steps", "2", "--callbacks", "log")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny data and a 2-step DCGAN, made once for the module."""
    root = tmp_path_factory.mktemp("bounded")
    data = make_idx_dataset(root / "tiny", n_train=64, n_test=32)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        assert main(["train", "--data", "fashion", "--data-root", str(data), *GAN]) == 0
    return root


@pytest.fixture
def run(trained, workdir):
    shutil.copytree(trained / "checkpoints", workdir / "checkpoints")
    return workdir / "checkpoints/fashion-dcgan/last.pt"


def one_line(result, *expected, announced=False):
    """Exit 2 and one error line (after eval's "scoring ..." announcement when ``announced``), no traceback."""
    code, out, err = result
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    assert err.count("\n") == 1 or (announced and err.startswith("scoring ") and err.strip().endswith(")")), err
    for text in expected:
        assert text in err, err
    return err


def crafted(path, edit, name="crafted.pt"):
    ckpt = load_checkpoint(path)
    edit(ckpt)
    out = path.parent.parent / name
    torch.save(ckpt, out)
    return out


# -- what a command is asked to make --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("--frames", "1000000000"), "--frames is 1,000,000,000; the most is 2,000"),
        (("--n", "100000"), "--n is 100,000; the most is 1,000"),
        (("--scale", "100000"), "--scale is 100,000; the most is 32"),
        (("--frames", "2000", "--n", "1000", "--scale", "32"), "the GIF's frames would take"),
    ],
)
def test_interpolate_limits_are_one_line_and_write_nothing(cli, run, workdir, args, message):
    one_line(cli("interpolate", *args), message)
    assert not list((workdir / "samples").rglob("interpolate*"))


def test_show_rows_times_cols_is_limited_before_reading_data(cli, workdir):
    one_line(cli("show", "--rows", "100000"), "--rows x --cols is 1,800,000; the most is 10,000")
    assert not (workdir / "samples").exists()


def test_eval_n_is_limited_before_loading_anything(cli, run, workdir):
    before = (run.parent / "metrics.jsonl").read_bytes()
    one_line(cli("eval", "--n", "1000000000"), "--n is 1,000,000,000; the most is 100,000")
    assert (run.parent / "metrics.jsonl").read_bytes() == before and not (workdir / "cache").exists()


# -- eval --samples: the .npz header is read and checked before any array is --------------------------------------


def npy_bytes(header: dict, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def write_zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def refused(path, *expected):
    with pytest.raises(GanstudioError) as e:
        load_npz_images(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message, message
    for text in expected:
        assert text in message, message
    return message


def test_a_3_kb_npz_claiming_10_to_the_12_images_is_refused_from_its_header(tmp_path):
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**12, 28, 28)}
    path = write_zip(tmp_path / "liar.npz", {"images.npy": npy_bytes(header, bytes(3000))})
    assert path.stat().st_size < 4000
    refused(path, "images in 'images' is 1,000,000,000,000; the most is 100,000")


def test_a_header_that_does_not_match_the_member_size_is_refused(tmp_path):
    header = {"descr": "|u1", "fortran_order": False, "shape": (10, 28, 28)}
    path = write_zip(tmp_path / "short.npz", {"images.npy": npy_bytes(header, bytes(100))})
    refused(path, "its header says 7,840 bytes of (10, 28, 28) |u1", "the member holds 100")


def test_compressed_zeros_that_unpack_past_the_limit_are_refused_before_unpacking(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "bomb.npz", images=np.zeros((2000, 28, 28), np.uint8))
    assert (tmp_path / "bomb.npz").stat().st_size < 10_000
    monkeypatch.setattr(limits, "NPZ_BYTES", 2**20)
    refused(tmp_path / "bomb.npz", "size of 'images' in bytes is 1,568,000; the most is 1,048,576")


def test_more_images_than_eval_scores_are_refused(tmp_path, monkeypatch):
    np.savez(tmp_path / "many.npz", images=np.zeros((300, 8, 8), np.uint8))
    monkeypatch.setattr(limits, "EVAL_IMAGES", 200)
    refused(tmp_path / "many.npz", "images in 'images' is 300; the most is 200")


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"PK\x03\x04" + b"\xff" * 200, "not a .npz file"),
        (b"hello, not a zip at all", "not a .npz file"),
    ],
)
def test_garbage_is_one_line(tmp_path, content, expected):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    refused(path, expected)


def test_a_zip_without_an_array_is_one_line(tmp_path):
    refused(write_zip(tmp_path / "notes.npz", {"notes.txt": b"hello"}), "no 'images' array")
    one = npy_bytes({"descr": "|u1", "fortran_order": False, "shape": (1,)}, b"\0")
    refused(write_zip(tmp_path / "two.npz", {"a.npy": one, "b.npy": one}), "no 'images' array (found a, b)")


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.full((4, 8, 8), b"ab"), "expected uint8 pixels or floats in [0, 1], got |S2"),
        (np.zeros((4, 2), np.uint8), "got shape (4, 2)"),
        (np.zeros((4, 5, 8, 8), np.uint8), "got shape (4, 5, 8, 8)"),
    ],
)
def test_wrong_dtype_or_shape_is_one_line(tmp_path, array, expected):
    np.savez(tmp_path / "wrong.npz", images=array)
    refused(tmp_path / "wrong.npz", expected)


def test_eval_samples_of_a_lying_npz_is_one_line(cli, workdir):
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**12, 28, 28)}
    write_zip(workdir / "liar.npz", {"images.npy": npy_bytes(header, bytes(3000))})
    one_line(cli("eval", "--samples", "liar.npz", "--data", "fashion"), "is 1,000,000,000,000; the most is 100,000")


def test_good_npz_files_still_load(tmp_path):
    np.savez_compressed(tmp_path / "ok.npz", images=np.full((5, 8, 8, 3), 7, np.uint8))
    assert load_npz_images(tmp_path / "ok.npz").shape == (5, 3, 8, 8)
    np.savez(tmp_path / "floats.npz", np.full((3, 1, 8, 8), 0.5, np.float32))
    assert int(load_npz_images(tmp_path / "floats.npz")[0, 0, 0, 0]) == 128


# -- strings read from a checkpoint -----------------------------------------------------------------------------------


def long_class_name(ckpt):
    ckpt["model"]["config"]["class_names"] = ["x" * 100_000] + list(ckpt["model"]["config"]["class_names"])[1:]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (long_class_name, "class name 0 is 100,000 characters; the most is 200"),
        (lambda c: c["data"].update(classes=["c"] * 20_000), "class names is 20,000; the most is 10,000"),
        (lambda c: c["model"]["config"]["options"].update(note="y" * 5000), "option 'note' is 5,000 characters"),
        (lambda c: c["config"]["data"].update(name="z" * 300), "data name is 300 characters"),
        (lambda c: c["config"]["data"].update(root="/" + "r" * 5000), "data root is 5,001 characters"),
        (lambda c: c["model"]["config"].update(class_names=[1, 2]), "class name 0 is not text"),
    ],
)
def test_long_strings_in_a_checkpoint_are_refused_by_the_reader(run, edit, expected):
    path = crafted(run, edit)
    with pytest.raises(GanstudioError) as e:
        load_run(path)
    assert "\n" not in str(e.value) and expected in str(e.value) and str(path) in str(e.value)


def test_commands_refuse_a_checkpoint_with_a_100000_character_class_name(cli, run, workdir):
    path = crafted(run, long_class_name)
    one_line(cli("sample", "--checkpoint", path, "--n", "4", "--out", "x.png"), "class name 0 is 100,000 characters")
    assert not (workdir / "x.png").exists()
    one_line(cli("eval", "--checkpoint", path, "--n", "8"), "class name 0 is 100,000 characters", announced=True)


def test_recorded_text_is_made_inert_in_run_info(run):
    path = crafted(run, lambda c: c["model"]["config"].update(class_names=["bad\x1b]0;title\x07"] * 10))
    _, info = load_run(path)
    assert info.classes[0] == "bad]0;title"


# -- a checkpoint never chooses where data is read from ---------------------------------------------------------------


def test_a_recorded_data_root_is_read_only_when_the_user_passes_it(cli, run, workdir):
    usr = workdir / "usr"
    make_image_folder(usr, count=4)
    path = crafted(run, lambda c: c["config"]["data"].update(root=str(usr)))
    one_line(
        cli("eval", "--checkpoint", path, "--n", "8"),
        f"was trained on data from {usr}; pass --data-root {usr} to read it",
        announced=True,
    )
    assert not (workdir / "cache").exists(), "nothing may be decoded from a folder the checkpoint chose"


def test_recorded_roots_the_machine_would_read_anyway_are_kept(workdir, monkeypatch):
    from ganstudio.api.data import recorded_root

    assert recorded_root(None, "x.pt") is None
    assert recorded_root(str(workdir / "cache" / "fashion"), "x.pt") == str(workdir / "cache" / "fashion")
    monkeypatch.setenv("GANSTUDIO_DATA", str(workdir / "data"))
    assert recorded_root(str(workdir / "data"), "x.pt") == str(workdir / "data")
    assert recorded_root(str(workdir / "data" / "mnist"), "x.pt") == str(workdir / "data" / "mnist")
    for hostile in ("/usr", str(workdir / "data-other"), str(workdir / "cache" / ".." / "elsewhere")):
        with pytest.raises(GanstudioError, match="x.pt was trained on data from .*; pass --data-root"):
            recorded_root(hostile, "x.pt")


# -- a damaged image cache ------------------------------------------------------------------------------------------


@pytest.fixture
def cache(workdir):
    root = make_image_folder(workdir / "pics", count=6, side=20)
    images, _ = prepare_images("folder", root, list_images(root), 16, 3, quiet=True)
    (folder,) = (workdir / "cache" / "prepared").iterdir()
    return root, folder, images.clone()


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "index.json").write_text("{not json"),
        lambda f: (f / "index.json").write_text(json.dumps({"version": 1})),
        lambda f: (f / "index.json").write_text(json.dumps({"files": "nope", "unreadable": []})),
        lambda f: (f / "images.npy").write_bytes((f / "images.npy").read_bytes()[:-100]),
        lambda f: (f / "images.npy").write_bytes(b"garbage"),
        lambda f: (f / "images.npy").unlink(),
    ],
    ids=["json", "keys", "types", "short-array", "garbage-array", "no-array"],
)
def test_a_damaged_cache_is_rebuilt(cache, damage, capsys):
    root, folder, before = cache
    damage(folder)
    images, kept = prepare_images("folder", root, list_images(root), 16, 3)
    assert torch.equal(images, before) and len(kept) == 6
    err = capsys.readouterr().err
    assert f"the prepared images in {folder} were damaged (" in err and "); preparing them again" in err


def test_a_damaged_cache_that_cannot_be_rebuilt_names_the_folder_to_delete(cache, monkeypatch):
    root, folder, _ = cache
    (folder / "index.json").write_text("{not json")
    monkeypatch.setattr("ganstudio.builtin.datasets.imagecache._build", _refuse_to_write)
    with pytest.raises(GanstudioError) as e:
        prepare_images("folder", root, list_images(root), 16, 3)
    assert f"delete {folder}" in str(e.value) and "\n" not in str(e.value)


def _refuse_to_write(*args, **kwargs):
    raise GanstudioError("cannot write the image cache: Permission denied")


def test_runs_and_report_show_a_100000_character_class_name_as_a_problem(cli, run, workdir):
    evil = workdir / "checkpoints/evil"
    evil.mkdir()
    path = crafted(run, long_class_name)
    path.rename(evil / "last.pt")
    for command in (("runs",), ("report", "--out", "report.html")):
        code, out, err = cli(*command)
        assert "Traceback" not in err and len(out) + len(err) < 20_000, (command, code, len(out), len(err))
        assert "x" * 1000 not in out + err
    cells = [line.split("│") for line in cli("runs")[1].splitlines() if line.count("│") > 2]
    # the table wraps the problem inside its cell: read the run and problem columns down the rows
    squeezed = "".join("".join(row[1:3]).replace(" ", "") for row in cells)
    assert "evil" in squeezed and "classname0is100,000characters;themostis200" in squeezed
