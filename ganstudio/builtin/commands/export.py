"""``ganstudio export``: a trained generator as one file that runs without ganstudio (TorchScript or ONNX).

    ganstudio export fashion-dcgan                     # samples/fashion-dcgan/generator.pt: torch.jit.load(path)(z)
    ganstudio export fashion-cdcgan --format onnx      # samples/fashion-cdcgan/generator.onnx: onnxruntime,
                                                       # inputs z, labels
    ganstudio export --checkpoint run.pt --out g.pt    # any checkpoint, any path
    ganstudio export fashion-dcgan --no-ema            # the raw generator weights, not the averaged (EMA) ones

The file maps latents z (N, latent_dim) float32 (and, for class-conditional models, labels (N,) int64 class indices)
to images (N, C, H, W) float32 in [-1, 1], in eval mode (batch norm uses its running statistics), for any N. Beside
it, ``<file>.json`` says what a program needs to use it: latent_dim, image_shape, condition, class_names, the input
names, the output range, the run, the step and whether the EMA weights were used. Before the file replaces an
older one it is checked against the model at another batch size than the one it was made with (ONNX: in
onnxruntime). docs/export.md has standalone scripts that read these files.
"""

from __future__ import annotations

from pathlib import Path

from ganstudio import hookimpl
from ganstudio.api.commands import add_checkpoint_options, add_folder_options
from ganstudio.builtin.commands.exporters import example_inputs, exportable, failure, max_difference, onnx_export
from ganstudio.errors import GanstudioError

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
ONNX_PACKAGES = ("onnx", "onnxruntime")  # the exporter needs onnx, the check after it onnxruntime
INSTALL_HINT = "pip install 'ganstudio[export]'"
TRACE_BATCH, CHECK_BATCH = 2, 3  # made at one batch size, checked at another: the batch dimension must be free
TOLERANCE = 1e-3  # largest |exported - model| accepted on [-1, 1] images (measured: about 1e-6, docs/export.md)


def check_export(what: str, max_diff: float) -> None:
    if not max_diff <= TOLERANCE:
        raise GanstudioError(
            f"the {what} does not reproduce the model at batch size {CHECK_BATCH} (max difference "
            f"{max_diff:.3g}, more than {TOLERANCE:g}): its generate() may depend on Python control "
            f"flow or the batch in a way tracing cannot record"
        )


def torchscript_bytes(module, model, expected) -> tuple[bytes, float]:
    """Trace ``module`` at batch size TRACE_BATCH into bytes in memory, load them back and compare at CHECK_BATCH.
    In memory: torch's C++ writer aborts the process (exit 134) when a file cannot be written; Python's write then
    fails as one line instead."""
    import io
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices; the check below is what counts
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, example_inputs(model, TRACE_BATCH), check_trace=False)
        except Exception as e:  # noqa: BLE001 - a plugin's generate() that tracing cannot follow
            raise GanstudioError(f"TorchScript export failed: {failure(e)}") from None
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        data = buffer.getvalue()
        loaded = torch.jit.load(io.BytesIO(data))
        with torch.no_grad():
            got = loaded(*example_inputs(model, CHECK_BATCH))
    max_diff = max_difference(got, expected)
    check_export("traced TorchScript generator", max_diff)
    return data, max_diff


def onnx_bytes(module, model, expected, exporter: str = "auto") -> tuple[bytes, float]:
    """Export with torch's TorchScript-based exporter (fast, and in every torch this package supports), or its
    torch.export-based one where that is gone (``exporter``: auto, torchscript, dynamo), into bytes in memory; then
    run them in onnxruntime at CHECK_BATCH and compare."""
    import contextlib
    import io

    import onnxruntime

    names = ["z", "labels"] if model.condition == "class" else ["z"]
    args = example_inputs(model, TRACE_BATCH)
    quiet = io.StringIO()  # the torch.export-based exporter prints its progress
    data = None
    with contextlib.redirect_stdout(quiet):
        if exporter in ("auto", "torchscript"):
            try:
                data = onnx_export(module, args, names, dynamo=False)
            except Exception as e:  # noqa: BLE001 - a torch without the old exporter: use the new one
                if exporter == "torchscript":
                    raise GanstudioError(f"ONNX export failed: {failure(e)}") from None
                exporter = "dynamo"
        if exporter == "dynamo":
            try:
                import onnxscript  # noqa: F401 - what the torch.export-based exporter needs
            except ImportError:
                raise GanstudioError(f"ONNX export with this torch needs onnxscript: {INSTALL_HINT}") from None
            try:
                data = onnx_export(module, args, names, dynamo=True)
            except Exception as e:  # noqa: BLE001
                raise GanstudioError(f"ONNX export failed: {failure(e)}") from None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = example_inputs(model, CHECK_BATCH)
    got = session.run(["images"], {name: value.numpy() for name, value in zip(names, inputs)})[0]
    max_diff = max_difference(got, expected)
    check_export("ONNX generator (in onnxruntime)", max_diff)
    return data, max_diff


def save_onnx(module, model, path: Path, expected, exporter: str = "auto") -> float:
    """``onnx_bytes`` written to ``path`` atomically; the largest difference from the model."""
    from ganstudio.store.atomic import atomic_write_bytes

    data, max_diff = onnx_bytes(module, model, expected, exporter)
    atomic_write_bytes(path, data)
    return max_diff


def sidecar(model, ckpt, path: Path, fmt: str, ema_used: bool, max_diff: float) -> dict:
    from ganstudio.api.model import TrainableModel
    from ganstudio.output.generation import class_names_of
    from ganstudio.store.runs import run_name_of

    conditional = model.condition == "class"
    default_latent = type(model).sample_latent is TrainableModel.sample_latent
    return {
        "format": fmt,
        "file": path.name,
        "inputs": ["z", "labels"] if conditional else ["z"],
        "input_dtypes": {"z": "float32", **({"labels": "int64"} if conditional else {})},
        "output": "images",
        "output_range": [-1, 1],
        "output_layout": "NCHW",
        "latent_dim": int(model.latent_dim),
        "latent_shape": list(model.sample_latent(1).shape[1:]),
        "latent_distribution": "standard normal"
        if default_latent
        else f"model-defined (see model '{model.config.model}')",
        "image_shape": list(model.config.image_shape),
        "condition": model.condition,
        "num_classes": int(model.config.num_classes) if conditional else 0,
        "class_names": class_names_of(model) if conditional else [],
        "model": model.config.model,
        "run": run_name_of(ckpt),
        "step": ckpt.get("progress", {}).get("step"),
        "ema": ema_used,
        "max_abs_difference": max_diff,  # against the model, at batch size CHECK_BATCH, when it was written
    }


def size_text(n: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def how_to_load(fmt: str, out: Path, conditional: bool) -> str:
    if fmt == "torchscript":
        return f"torch.jit.load('{out}')(z" + (", labels)" if conditional else ")")
    return (
        f"onnxruntime.InferenceSession('{out}').run(None, {{'z': z"
        + (", 'labels': labels" if conditional else "")
        + "})[0]"
    )


def output_path(args, fmt: str, run: str) -> Path:
    name = "generator" + FORMATS[fmt]
    if args.out is None:
        return Path(args.samples_dir) / run / name
    out = Path(args.out)
    if args.out.endswith(("/", "\\")) or out.is_dir():
        return out / name
    return out


def run_export(args) -> int:
    import json

    import torch  # here, not at the top: `ganstudio --help` imports every command module and needs no torch

    from ganstudio.api.runs import load_model
    from ganstudio.store.ours import check_replaceable
    from ganstudio.store.runs import choose_checkpoint, run_name_of

    fmt = args.format or ("onnx" if args.out and args.out.lower().endswith(".onnx") else "torchscript")
    if fmt == "onnx":  # before loading anything: a missing package is one line, at once
        missing = [name for name in ONNX_PACKAGES if not importable(name)]
        if missing:
            raise GanstudioError(f"--format onnx needs {' and '.join(missing)}, not installed here: {INSTALL_HINT}")
    path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
    model, ckpt = load_model(path, args.plugins, kind="gan", ema=not args.no_ema)
    if model.condition not in (None, "class"):
        raise GanstudioError(
            f"export: model '{model.config.model}' is conditioned on {model.condition}; only "
            f"unconditional and class-conditional generators can be exported"
        )
    ema_used = not args.no_ema and (ckpt.get("ema") or {}).get("weights") is not None
    out = output_path(args, fmt, run_name_of(ckpt))
    conditional = model.condition == "class"
    module = exportable(model)
    with torch.no_grad():
        expected = module(*example_inputs(model, CHECK_BATCH))
    check_replaceable(out, fmt, overwrite=args.overwrite)  # before the work: a file not ours is one line
    check_replaceable(Path(f"{out}.json"), "export-json", overwrite=args.overwrite)
    if fmt == "torchscript":
        data, max_diff = torchscript_bytes(module, model, expected)
    else:
        data, max_diff = onnx_bytes(module, model, expected)
    info = sidecar(model, ckpt, out, fmt, ema_used, max_diff)
    write_export(out, data, json.dumps(info, indent=2) + "\n")
    weights = (
        "EMA weights"
        if ema_used
        else ("raw weights, --no-ema" if args.no_ema else "raw weights: no EMA in the checkpoint")
    )
    kind = "TorchScript" if fmt == "torchscript" else f"ONNX opset {onnx_opset(data)}"
    print(
        f"wrote {out} ({kind}, {size_text(len(data))}, {weights}, step {info['step']}; {out}.json beside it) "
        f"from {path} ({chosen}); load: {how_to_load(fmt, out, conditional)}"
    )
    return 0


def importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def write_export(out: Path, data: bytes, description: str) -> None:
    """The exported file and its .json beside it, each atomically: the model's temp file is written, then the .json
    replaced, then the model renamed into place, so a failure at any point leaves the old pair (and no temp file)."""
    from ganstudio.store.atomic import atomic_write, atomic_write_bytes, write_all, writing

    def write(tmp: Path) -> None:
        write_all(tmp, data)
        with writing(f"{out}.json"):
            atomic_write_bytes(Path(f"{out}.json"), description.encode())

    with writing(out):
        atomic_write(out, write)


def onnx_opset(data: bytes):
    import onnx

    model = onnx.load_model_from_string(data)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")


@hookimpl
def register_commands(cli):
    p = cli.command(
        "export",
        help="write a run's generator to a file that runs without ganstudio: TorchScript or ONNX",
        run=run_export,
    )
    add_checkpoint_options(p)
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default=None,
        help="torchscript (default; torch.jit.load) or onnx (onnxruntime; needs "
        f"{INSTALL_HINT}); default onnx when --out ends in .onnx",
    )
    p.add_argument(
        "--out",
        metavar="FILE|DIR/",
        help="output file (default samples/<run>/generator.pt or generator.onnx); FILE.json is written beside it",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out (and FILE.json) even when it is not an export of that format; without it only "
        "ganstudio's exports are replaced (docs/export.md)",
    )
    add_folder_options(p, checkpoints=False)
