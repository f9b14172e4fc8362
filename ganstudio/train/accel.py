"""Devices, precision and backend settings: every choice that makes a training step fast, in one place.

    device = resolve_device("auto")                 # cuda when present, else cpu
    precision = choose_precision(device, "auto")    # bf16 where the hardware runs it natively, else fp32 / fp16
    configure_backends(device)                      # cudnn.benchmark + TF32 on CUDA; no more threads than cores on CPU
    with precision.autocast(device):                # what TrainableModel.autocast() opens around forward passes
        loss = loss_fn(model(images))

Measured on a 2-core AVX512-BF16 CPU (benchmarks/throughput.py, docs/benchmarks.md): bf16 autocast and
channels_last together train the DCGAN about 2x faster than fp32 NCHW, at 28x28 and at 64x64.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ganstudio.errors import GanstudioError

if TYPE_CHECKING:  # imported inside the functions: `ganstudio --help` answers without torch
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; asking for cuda without one is a clear error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanstudioError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise GanstudioError(f"--device {name}: expected auto, cpu or cuda[:N]")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 convolutions natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class Precision:
    """How a training step runs: ``name`` is fp32, bf16 or fp16; fp16 also needs a GradScaler (``needs_scaler``)."""

    name: str

    @property
    def dtype(self) -> Optional[torch.dtype]:
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @property
    def needs_scaler(self) -> bool:
        return self.name == "fp16"  # bf16 has fp32's exponent range: gradients do not underflow

    def autocast(self, device: torch.device):
        import torch

        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def grad_scaler(self, device: torch.device):
        """fp16: a GradScaler that also records which optimizer steps it skipped (loss_scale.py); else None."""
        from ganstudio.train.loss_scale import TrackingGradScaler

        return TrackingGradScaler(device.type) if self.needs_scaler else None


def choose_precision(device: torch.device, requested: str = "auto") -> Precision:
    """auto: bf16 on GPUs that support it (fp16 + GradScaler on older ones), bf16 on CPUs with native bf16, else
    fp32."""
    import torch

    if requested not in PRECISIONS:
        raise GanstudioError(f"--precision {requested}: expected one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device.type == "cuda":
            return Precision("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        return Precision("bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32")
    if requested == "fp16" and device.type != "cuda":
        raise GanstudioError("--precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    return Precision(requested)


def cpu_cores() -> int:
    """Cores this process may run on (respects taskset / cgroup affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_backends(device: torch.device) -> None:
    """Process-wide settings for training: autotuned cuDNN and TF32 on CUDA; no more threads than cores on CPU."""
    import torch

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # shapes are fixed across steps, so autotuning pays off at once
        torch.set_float32_matmul_precision("high")  # TF32 tensor cores for the fp32 matmuls left outside autocast
        torch.backends.cudnn.allow_tf32 = True
    elif torch.get_num_threads() > cpu_cores():
        # More threads than the cores this process may use (a container or taskset limits it) thrash each other.
        # Never raised: the data is already a tensor (no DataLoader workers), so torch's default of one thread
        # per core already gives training every core, and a lower count was someone's explicit choice.
        torch.set_num_threads(cpu_cores())


def seed_process(seed: int) -> None:
    """The process-wide random streams a run starts from (torch on every device, and Python's ``random``)."""
    import torch

    torch.manual_seed(seed)
    random.seed(seed)


class LossScale:
    """fp16: which steps, and which of their metrics, the GradScaler's skips void, without a host sync.

    With the loop's ``TrackingGradScaler`` each optimizer step's own skip flag is read, from step 0 on; the model's
    ``metric_phases`` ({metric: optimizer name}, e.g. "loss_d": "discriminator") then keep the metrics of the phases
    that were not skipped (G's, when only D's update overflowed). Any other GradScaler: a skipped step lowers the
    scale, read as a device tensor through the public ``scaler.scale(one)`` before and after the step."""

    def __init__(self, scaler, device: torch.device, optimizers=None, phases=None):
        import torch

        self.scaler = scaler
        self.one = torch.ones((), device=device) if scaler is not None and scaler.is_enabled() else None
        self.names = {id(o): name for name, o in (optimizers or {}).items()}
        self.phases = dict(phases or {})  # metric key -> the name of the optimizer whose step computed it
        self.before: Optional[torch.Tensor] = None

    def now(self) -> Optional[torch.Tensor]:
        """The current scale (a 0-d device tensor), or None without fp16 loss scaling."""
        return self.scaler.scale(self.one) if self.one is not None else None

    def dropped_since(self, before: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """A bool device tensor: the scale fell since ``before``, i.e. the GradScaler skipped the step."""
        return self.now() < before if before is not None else None

    def start_step(self) -> None:
        """Called before each training step."""
        if self.one is None:
            return
        if hasattr(self.scaler, "skips"):
            self.scaler.skips.clear()
        else:
            self.before = self.now()

    def skipped(self, keys):
        """What the step's skips void, for the metric window: None without loss scaling; a bool device tensor (the
        whole step's metrics); or {key: bool device tensor} for ``keys`` when the phases are known (a metric of no
        known phase is voided by any skip)."""
        if self.one is None:
            return None
        if not hasattr(self.scaler, "skips"):
            return self.dropped_since(self.before)
        by_name: dict = {}
        for optimizer, flag in self.scaler.skips:
            name = self.names.get(optimizer)
            by_name[name] = flag if name not in by_name else by_name[name] | flag
        none = self.one < 0  # a False on the device
        anything = none
        for flag in by_name.values():
            anything = anything | flag
        if not self.phases:
            return anything
        return {
            key: by_name.get(self.phases[key], none) if self.phases.get(key) in self.names.values() else anything
            for key in keys
        }


def busy_machine_note(device: torch.device) -> str | None:
    """A one-line hint when CPU training shares its cores with other work: torch's threads then wait on each other
    and a run can be several times slower (docs/models.md measured 1 step/s on 2 threads beside a test job, 5.9 on
    one). Only a hint: the thread count is the user's choice, so a resumed run computes exactly as it started."""
    import torch

    if device.type != "cpu" or torch.get_num_threads() < 2 or os.environ.get("OMP_NUM_THREADS"):
        return None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    if load < torch.get_num_threads() - 0.5:
        return None
    return (
        f"note: the machine is busy (load {load:.1f} on {torch.get_num_threads()} threads); beside other jobs, "
        "OMP_NUM_THREADS=1 ganstudio train ... is often several times faster"
    )
