"""How ``ganstudio export`` turns a model into a file: the traceable module, its example inputs and the calls to
torch's exporters. A helper of export.py only (so that file stays short), not a plugin: no other part of ganstudio
exports, so it stays next to its command rather than in a core package. The checks against TOLERANCE stay in
export.py.
"""

from __future__ import annotations

ONNX_OPSET = 17  # onnxruntime 1.14 and later run it


def exportable(model):
    """A module whose forward is ``forward(z)`` or ``forward(z, labels)`` and calls ``model.generate``.

    Only the generator is registered as a submodule, so the discriminator stays out of the file; the model's weights
    are frozen first, so anything else ``generate`` uses (a plugin's mapping network, say) is recorded as a constant
    rather than failing the trace."""
    import torch

    model.requires_grad_(False)
    generate = model.generate
    generator = getattr(model, "generator", None)

    class Generate(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if isinstance(generator, torch.nn.Module):
                self.generator = generator

        def forward(self, z):
            return generate(z).float().clamp(-1, 1).contiguous()

    class GenerateWithLabels(Generate):
        def forward(self, z, labels):
            return generate(z, labels).float().clamp(-1, 1).contiguous()

    return (GenerateWithLabels if model.condition == "class" else Generate)().eval()


def example_inputs(model, n: int) -> tuple:
    """(z,) or (z, labels) for n images: latents from a fixed seed, labels cycling through the classes."""
    import torch

    z = model.sample_latent(n, generator=torch.Generator().manual_seed(n))
    if model.condition != "class":
        return (z,)
    return z, torch.arange(n, dtype=torch.long) % model.config.num_classes


def max_difference(got, expected) -> float:
    import torch

    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(expected.shape):
        return float("inf")
    return float((got.float() - expected.float()).abs().max()) if got.numel() else 0.0


def failure(e: Exception) -> str:
    """An exception as part of one line: its type and the first line of its message."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def onnx_export(module, args, names: list[str], dynamo: bool) -> bytes:
    """The ONNX model as bytes, made in memory (a file torch cannot write would abort it in C++)."""
    import inspect
    import io
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        if not dynamo:
            # torch before 2.5 has only this exporter, and no `dynamo` argument; 2.9 and later default to the other
            legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
            buffer = io.BytesIO()
            torch.onnx.export(
                module,
                args,
                buffer,
                input_names=names,
                output_names=["images"],
                dynamic_axes={name: {0: "batch"} for name in [*names, "images"]},
                opset_version=ONNX_OPSET,
                **legacy,
            )
            return buffer.getvalue()
        from torch.export import Dim

        batch = Dim("batch")
        program = torch.onnx.export(
            module,
            args,
            input_names=names,
            output_names=["images"],
            dynamic_shapes=tuple({0: batch} for _ in names),
            dynamo=True,
            verbose=False,
        )
        return program.model_proto.SerializeToString()
