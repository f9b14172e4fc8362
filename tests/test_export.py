"""``ganstudio export``: TorchScript and ONNX generators that reproduce ``ganstudio sample`` (same latents, same
pixels) at any batch size, class-conditional ones with a labels input, the JSON sidecar, one-line errors, and the
standalone scripts of docs/export.md."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_idx_dataset
from export_scripts import docs_script, grid_of, run_script

from ganstudio.api.images import to_uint8
from ganstudio.api.runs import load_model
from ganstudio.cli import main
from ganstudio.output.generation import generate_images, seeded_inputs
from ganstudio.plugins import load_plugins
from ganstudio.store.checkpoint import load_checkpoint, save_checkpoint

TINY = ("--model-option", "width=8", "--model-option", "latent_dim=8", "--batch-size", "32", "--callbacks", "log")
STEPS = 6
ONNX_TOLERANCE = 1e-4  # max |onnxruntime - torch| on [-1, 1] images, as docs/export.md states
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """checkpoints/ with three tiny runs, trained once for the module: fashion-dcgan, fashion-cdcgan, a classifier."""
    root = tmp_path_factory.mktemp("export-runs")
    data = make_idx_dataset(root / "tiny-idx")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GANSTUDIO_CACHE", str(root / "cache"))
        mp.setenv("GANSTUDIO_CONFIG_DIR", str(root / "config"))
        mp.setenv("GANSTUDIO_NO_ENTRY_POINTS", "1")
        mp.delenv("GANSTUDIO_DATA", raising=False)
        torch.set_num_threads(1)
        try:
            for model in ("dcgan", "cdcgan"):
                assert (
                    main(
                        [
                            "train",
                            "--data",
                            "fashion",
                            "--data-root",
                            str(data),
                            "--model",
                            model,
                            *TINY,
                            "--steps",
                            str(STEPS),
                            "--ema-decay",
                            "0.999",
                        ]
                    )
                    == 0
                )
            assert (
                main(
                    [
                        "train",
                        "--data",
                        "fashion",
                        "--data-root",
                        str(data),
                        "--model",
                        "classifier",
                        "--model-option",
                        "width=8",
                        "--batch-size",
                        "32",
                        "--steps",
                        "2",
                        "--callbacks",
                        "log",
                        "--name",
                        "clf",
                    ]
                )
                == 0
            )
        finally:
            torch.set_num_threads(threads)
    for run in ("fashion-dcgan", "fashion-cdcgan"):
        spread_outputs(root / "checkpoints" / run / "last.pt")
    return root / "checkpoints"


def spread_outputs(path: Path, factor: float = 300.0) -> None:
    """A few steps leave G's output within about ±0.01 (its last layer starts at N(0, 0.02)), where every pixel
    rounds to 127 or 128 and a wrong export could pass for a right one. Scaling the last layer's weights (raw and
    EMA, which then still differ) spreads the images over [-1, 1] without changing what the networks are."""
    ckpt = load_checkpoint(path)
    raw, averaged = ckpt["state"]["model"], ckpt["ema"]["weights"]
    last = [key for key in averaged if key.endswith("weight") and averaged[key].dim() == 4][-1]
    raw[f"generator.{last}"] *= factor
    averaged[last] *= factor
    save_checkpoint({k: v for k, v in ckpt.items() if k not in ("format", "version")}, path)


@pytest.fixture
def export(cli, runs, one_torch_thread):
    def run(*args):
        return cli("export", "--checkpoints-dir", runs, *args)

    return run


def loaded(runs, name, ema=True):
    return load_model(runs / name / "last.pt", load_plugins(), kind="gan", ema=ema)[0]


def close_pixels(got: torch.Tensor, expected: torch.Tensor, off_by_one: float = 1e-3) -> float:
    """uint8 images equal, but for at most a fraction ``off_by_one`` of pixels 1 apart (rounding at .5); returns
    the fraction that is off."""
    assert got.shape == expected.shape and got.dtype == expected.dtype == torch.uint8
    diff = (got.int() - expected.int()).abs()
    off = float((diff > 0).float().mean())
    assert int(diff.max()) <= 1 and off <= off_by_one, (int(diff.max()), off)
    return off


def one_line(result, message, code=2):
    got, out, err = result
    assert got == code and message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_torchscript_reproduces_sample_at_any_batch_size(export, cli, runs, workdir):
    code, out, err = export("fashion-dcgan")
    assert code == 0, err
    path = workdir / "samples/fashion-dcgan/generator.pt"
    assert out.count("\n") == 1 and out.startswith("wrote samples/fashion-dcgan/generator.pt (TorchScript, "), out
    assert (
        "EMA weights" in out
        and f"step {STEPS}" in out
        and "torch.jit.load('samples/fashion-dcgan/generator.pt')(z)" in out
    )
    assert re.search(r"\d+\.\d kB", out)

    module = torch.jit.load(str(path))  # plain torch: no ganstudio needed to read it
    model = loaded(runs, "fashion-dcgan")
    latents, labels = seeded_inputs(model, list(range(8)), None)
    assert labels is None
    with torch.no_grad():
        images = module(latents)
        expected = model.generate(latents)
    assert images.dtype == torch.float32 and images.shape == (8, 1, 28, 28)
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    assert float((images - expected).abs().max()) <= 1e-5
    assert close_pixels(to_uint8(images), generate_images(model, latents, None, "cpu")) == 0
    print(f"TorchScript: max |traced - torch| = {float((images - expected).abs().max()):.3g}")

    # ... and what `ganstudio sample` writes: image i of --seed 0 --n 8 is seed i
    code, out, err = cli("sample", "fashion-dcgan", "--checkpoints-dir", runs, "--n", "8", "--out", "x.npz")
    assert code == 0, err
    sampled = torch.from_numpy(np.load(workdir / "x.npz")["images"])  # (N, H, W, C) uint8
    close_pixels(to_uint8(images).permute(0, 2, 3, 1), sampled)

    # the batch dimension is free: traced at one size, the same images at others
    with torch.no_grad():
        for n in (1, 5, 13):
            z = torch.cat([latents, latents])[:n]
            assert float((module(z) - expected.repeat(2, 1, 1, 1)[:n]).abs().max()) <= 1e-5


def test_no_ema_exports_the_raw_weights(export, runs, workdir):
    code, out, err = export("fashion-dcgan", "--no-ema", "--out", "raw/")
    assert code == 0, err
    assert "raw weights, --no-ema" in out and out.startswith("wrote raw/generator.pt ")
    info = json.loads((workdir / "raw/generator.pt.json").read_text())
    assert info["ema"] is False
    latents = seeded_inputs(loaded(runs, "fashion-dcgan"), range(4))[0]
    module = torch.jit.load(str(workdir / "raw/generator.pt"))
    with torch.no_grad():
        raw, averaged = (
            loaded(runs, "fashion-dcgan", ema=False).generate(latents),
            loaded(runs, "fashion-dcgan").generate(latents),
        )
        assert float((module(latents) - raw).abs().max()) <= 1e-5
    assert float((raw - averaged).abs().max()) > 1e-3  # the two sets of weights do differ


def test_conditional_torchscript_takes_labels(export, runs, workdir):
    code, out, err = export("fashion-cdcgan", "--out", "c.pt")
    assert code == 0, err
    assert "torch.jit.load('c.pt')(z, labels)" in out
    module = torch.jit.load(str(workdir / "c.pt"))
    model = loaded(runs, "fashion-cdcgan")
    latents, labels = seeded_inputs(model, list(range(10)), None)
    assert labels is not None
    classes = torch.arange(10)  # each class once, on the same latent
    same = latents[:1].repeat(10, 1)
    with torch.no_grad():
        for z, y in ((latents, labels), (same, classes), (latents[:3], classes[7:])):
            images = module(z, y)
            assert float((images - model.generate(z, y)).abs().max()) <= 1e-5
            close_pixels(to_uint8(images), generate_images(model, z, y, "cpu"))
        per_class = to_uint8(module(same, classes))
    assert len({image.numpy().tobytes() for image in per_class}) == 10  # the label changes the image


@pytest.mark.parametrize("run, conditional", [("fashion-dcgan", False), ("fashion-cdcgan", True)])
def test_onnx_runs_in_onnxruntime_at_any_batch_size(export, runs, workdir, run, conditional):
    ort = pytest.importorskip("onnxruntime")
    started = time.perf_counter()
    code, out, err = export(run, "--format", "onnx")
    assert code == 0, err
    assert time.perf_counter() - started < 20
    path = workdir / f"samples/{run}/generator.onnx"
    assert out.startswith(f"wrote samples/{run}/generator.onnx (ONNX opset 17, ") and out.count("\n") == 1, out
    assert "onnxruntime.InferenceSession(" in out
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == (["z", "labels"] if conditional else ["z"])
    assert [o.name for o in session.get_outputs()] == ["images"]
    model = loaded(runs, run)
    worst, off = 0.0, 0.0
    for n in (3, 8):
        latents, labels = seeded_inputs(model, range(100, 100 + n), None)
        feed = {"z": latents.numpy()}
        if conditional:
            feed["labels"] = labels.numpy()
        images = session.run(None, feed)[0]
        assert images.shape == (n, 1, 28, 28) and images.dtype == np.float32
        with torch.no_grad():
            expected = model.generate(latents, labels) if conditional else model.generate(latents)
        worst = max(worst, float(np.abs(images - expected.numpy()).max()))
        off = max(off, close_pixels(to_uint8(torch.from_numpy(images)), generate_images(model, latents, labels, "cpu")))
    assert worst <= ONNX_TOLERANCE, worst
    print(f"{run}: max |onnxruntime - torch| = {worst:.3g}, uint8 pixels off by 1: {off:.2%}")
    info = json.loads((workdir / f"samples/{run}/generator.onnx.json").read_text())
    assert info["format"] == "onnx" and info["max_abs_difference"] <= ONNX_TOLERANCE


def test_the_new_exporter_gives_the_same_file_behaviour(runs, workdir, one_torch_thread):
    """The torch.export-based exporter (the fallback where torch no longer has the TorchScript-based one)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from ganstudio.builtin.commands.export import example_inputs, exportable, save_onnx

    model = loaded(runs, "fashion-cdcgan")
    module = exportable(model)
    with torch.no_grad():
        expected = module(*example_inputs(model, 3))
    max_diff = save_onnx(module, model, workdir / "g.onnx", expected, exporter="dynamo")
    assert max_diff <= ONNX_TOLERANCE
    session = ort.InferenceSession(str(workdir / "g.onnx"), providers=["CPUExecutionProvider"])
    z, y = example_inputs(model, 8)
    with torch.no_grad():
        worst = np.abs(session.run(None, {"z": z.numpy(), "labels": y.numpy()})[0] - model.generate(z, y).numpy()).max()
    assert worst <= ONNX_TOLERANCE
    print(f"torch.export-based exporter: max |onnxruntime - torch| = {worst:.3g}")


def test_sidecar_says_what_a_standalone_program_needs(export, workdir):
    assert export("fashion-cdcgan")[0] == 0
    assert export("fashion-dcgan", "--out", "d/g.pt")[0] == 0
    conditional = json.loads((workdir / "samples/fashion-cdcgan/generator.pt.json").read_text())
    assert conditional == {
        "format": "torchscript",
        "file": "generator.pt",
        "inputs": ["z", "labels"],
        "input_dtypes": {"z": "float32", "labels": "int64"},
        "output": "images",
        "output_range": [-1, 1],
        "output_layout": "NCHW",
        "latent_dim": 8,
        "latent_shape": [8],
        "latent_distribution": "standard normal",
        "image_shape": [1, 28, 28],
        "condition": "class",
        "num_classes": 10,
        "class_names": FASHION,
        "model": "cdcgan",
        "run": "fashion-cdcgan",
        "step": STEPS,
        "ema": True,
        "max_abs_difference": conditional["max_abs_difference"],
    }
    assert conditional["max_abs_difference"] <= 1e-5
    plain = json.loads((workdir / "d/g.pt.json").read_text())
    assert (
        plain["condition"] is None
        and plain["inputs"] == ["z"]
        and plain["class_names"] == []
        and plain["file"] == "g.pt"
    )
    assert plain["run"] == "fashion-dcgan" and plain["model"] == "dcgan" and plain["ema"] is True
    assert sorted(p.name for p in (workdir / "d").iterdir()) == ["g.pt", "g.pt.json"]  # no temp files left


def test_out_ending_in_onnx_picks_onnx(export, workdir):
    pytest.importorskip("onnxruntime")
    code, out, err = export("fashion-dcgan", "--out", "model.onnx")
    assert code == 0, err
    assert out.startswith("wrote model.onnx (ONNX opset 17, ")
    assert json.loads((workdir / "model.onnx.json").read_text())["format"] == "onnx"


def test_one_line_errors(export, workdir, monkeypatch):
    one_line(export("nope"), "no run 'nope' under ")
    one_line(export("clf"), "holds a classifier ('classifier'), not a gan")
    one_line(export("fashion-dcgan", "--format", "zip"), "invalid choice: 'zip'")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails, as when it is not installed
    one_line(export("fashion-dcgan", "--format", "onnx"), "pip install 'ganstudio[export]'")
    one_line(export("fashion-dcgan", "--out", "x.onnx"), "pip install 'ganstudio[export]'")
    assert not (workdir / "samples").exists() and not (workdir / "x.onnx").exists()


def test_a_file_that_fails_its_check_is_not_written(export, workdir, monkeypatch):
    from ganstudio.builtin.commands import export as command

    assert export("fashion-dcgan", "--out", "keep.pt")[0] == 0
    before = (workdir / "keep.pt").read_bytes(), (workdir / "keep.pt.json").read_text()
    monkeypatch.setattr(command, "TOLERANCE", -1.0)  # every check now fails, as for a generate() tracing gets wrong
    one_line(
        export("fashion-cdcgan", "--out", "keep.pt"), "the traced TorchScript generator does not reproduce the model"
    )
    assert ((workdir / "keep.pt").read_bytes(), (workdir / "keep.pt.json").read_text()) == before  # the old file stays
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(("keep", ".keep"))) == [
        "keep.pt",
        "keep.pt.json",
    ]


def test_export_help_imports_no_torch(tmp_path):
    probe = (
        "import sys\nfrom ganstudio.cli import main\n"
        "try:\n    main(['export', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY:' + ','.join(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert "--format {onnx,torchscript}" in out.stdout and "HEAVY:\n" in out.stdout, out.stdout + out.stderr


# --- the standalone scripts of docs/export.md ---------------------------------------------------------------------


@pytest.mark.parametrize("run", ["fashion-dcgan", "fashion-cdcgan"])
def test_docs_onnx_script_needs_only_onnxruntime_numpy_pillow(export, runs, workdir, run):
    pytest.importorskip("onnxruntime")
    from PIL import Image

    assert export(run, "--format", "onnx", "--out", "g.onnx")[0] == 0
    code = docs_script("`make_grid_onnx.py`")
    run_script(code, workdir / "g.onnx", workdir, blocked=("torch", "ganstudio"))
    grid = np.array(Image.open(workdir / "grid.png"))
    model = loaded(runs, run)
    z = torch.from_numpy(
        np.random.default_rng(0).standard_normal((64, 8), dtype=np.float32)
    )  # as the script draws them
    labels = torch.arange(64) % 10 if run == "fashion-cdcgan" else None
    expected = grid_of(generate_images(model, z, labels, "cpu"))
    close_pixels(torch.from_numpy(grid), torch.from_numpy(expected))


@pytest.mark.parametrize("run", ["fashion-dcgan", "fashion-cdcgan"])
def test_docs_torchscript_script_makes_the_sample_grid(export, cli, runs, workdir, run):
    from PIL import Image

    assert export(run, "--out", "g.pt")[0] == 0
    run_script(docs_script("`make_grid_torchscript.py`"), workdir / "g.pt", workdir, blocked=("ganstudio",))
    grid = np.array(Image.open(workdir / "grid.png"))
    code, out, err = cli("sample", run, "--checkpoints-dir", runs, "--n", "64", "--out", "s.npz")
    assert code == 0, err
    sampled = torch.from_numpy(np.load(workdir / "s.npz")["images"]).permute(0, 3, 1, 2)  # image i: seed i
    close_pixels(torch.from_numpy(grid), torch.from_numpy(grid_of(sampled)))
