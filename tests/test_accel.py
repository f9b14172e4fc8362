"""Device selection, precision choice and backend settings: the CUDA decisions are tested on the CPU by
pretending to have (or not have) a GPU; the CPU paths run for real."""

import pytest
import torch
from conftest import FAST

from ganstudio.api import ModelConfig
from ganstudio.builtin.models.dcgan.nets import DCGAN
from ganstudio.errors import GanstudioError
from ganstudio.store.checkpoint import load_checkpoint
from ganstudio.testing import FixedBatches, step_context
from ganstudio.train import accel
from ganstudio.train.accel import Precision, choose_precision, configure_backends, resolve_device

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine with a GPU, as far as the selection logic can tell; ``fake_cuda(bf16=False)`` for an older one."""

    def install(bf16: bool = True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return install


def test_auto_device_is_cuda_when_present_else_cpu(monkeypatch, fake_cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    fake_cuda()
    assert resolve_device("auto") == CUDA
    assert resolve_device("cuda:1") == torch.device("cuda:1")


def test_asking_for_a_missing_gpu_or_a_strange_device_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GanstudioError, match="no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(GanstudioError, match="expected auto, cpu or cuda"):
        resolve_device("tpu")


def test_auto_precision_on_gpus_bf16_where_supported_else_fp16_with_a_scaler(fake_cuda):
    fake_cuda(bf16=True)
    assert choose_precision(CUDA) == Precision("bf16")
    assert not choose_precision(CUDA).needs_scaler
    fake_cuda(bf16=False)
    fp16 = choose_precision(CUDA)
    assert fp16 == Precision("fp16") and fp16.needs_scaler and fp16.dtype == torch.float16


def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(accel, "cpu_has_native_bf16", lambda: True)
    assert choose_precision(CPU).name == "bf16"
    monkeypatch.setattr(accel, "cpu_has_native_bf16", lambda: False)
    assert choose_precision(CPU).name == "fp32"  # emulated bf16 would be slower than fp32
    assert choose_precision(CPU, "bf16").name == "bf16"  # but asking for it is honoured


def test_explicit_precisions_and_their_errors():
    assert choose_precision(CPU, "fp32") == Precision("fp32")
    assert Precision("fp32").dtype is None and Precision("bf16").dtype == torch.bfloat16
    with pytest.raises(GanstudioError, match="fp16 needs a CUDA device"):
        choose_precision(CPU, "fp16")
    with pytest.raises(GanstudioError, match="expected one of auto, fp32, bf16, fp16"):
        choose_precision(CPU, "fp8")


def test_bf16_autocast_runs_convolutions_in_bf16_on_cpu():
    conv = torch.nn.Conv2d(1, 4, 3)
    x = torch.randn(2, 1, 8, 8)
    with Precision("bf16").autocast(CPU):
        assert conv(x).dtype == torch.bfloat16
    with Precision("fp32").autocast(CPU):
        assert conv(x).dtype == torch.float32


def test_backward_step_goes_through_the_grad_scaler_when_there_is_one():
    """The fp16 path (GradScaler) exercised with the CPU's GradScaler: scaled backward, unscaled step, update."""
    model = DCGAN(ModelConfig((1, 28, 28), 0, {"width": 8}))
    opts = model.configure_optimizers()
    model.grad_scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = [p.clone() for p in model.generator.parameters()]
    metrics = model.training_step(FixedBatches(torch.rand(4, 1, 28, 28) * 2 - 1), opts, step_context())
    assert all(torch.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    assert model.grad_scaler.get_scale() > 0
    # The Adam step saw unscaled gradients: its first-step update is about lr, not lr * 1024.
    change = max((a - b).abs().max().item() for a, b in zip(before, model.generator.parameters()))
    assert change < 1e-3


def test_cuda_backend_settings():
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    try:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = False, False
        torch.set_float32_matmul_precision("highest")
        configure_backends(CUDA)  # only flags: no GPU needed
        assert torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def test_cpu_threads_are_capped_at_the_cores_but_never_raised(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(accel, "cpu_cores", lambda: 1)
        torch.set_num_threads(2)
        configure_backends(CPU)
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(accel, "cpu_cores", lambda: 4)
        configure_backends(CPU)
        assert torch.get_num_threads() == 1  # someone chose 1: left alone
    finally:
        torch.set_num_threads(before)


def test_dcgan_is_channels_last_by_default_and_fused_adam_only_on_cuda():
    model = DCGAN(ModelConfig((3, 32, 32), 0, {"width": 8}))
    conv = model.discriminator.net[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert all(not g["fused"] for opt in model.configure_optimizers().values() for g in opt.param_groups)
    plain = DCGAN(ModelConfig((3, 32, 32), 0, {"width": 8, "channels_last": False}))
    assert plain.discriminator.net[0].weight.is_contiguous()


def test_compile_for_training_keeps_the_state_dict_keys():
    model = DCGAN(ModelConfig((1, 28, 28), 0, {"width": 8}))
    keys = list(model.state_dict())
    model.compile_for_training()  # lazy: nothing is compiled until a forward pass
    assert list(model.state_dict()) == keys


def test_train_records_precision_and_refuses_fp16_on_cpu(cli, tiny_idx, workdir):
    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--model",
        "dcgan",
        "--model-option",
        "width=8",
        *FAST,
        "--steps",
        "4",
        "--precision",
        "bf16",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "device cpu (bf16)" in out
    ckpt = load_checkpoint(workdir / "checkpoints/fashion-dcgan/last.pt")
    assert ckpt["config"]["precision"] == "bf16"
    assert all(torch.isfinite(v).all() for v in ckpt["state"]["model"].values() if v.is_floating_point())

    code, out, err = cli(
        "train",
        "--data",
        "fashion",
        "--data-root",
        tiny_idx,
        "--name",
        "x",
        "--steps",
        "2",
        "--precision",
        "fp16",
        "--device",
        "cpu",
    )
    assert code != 0
    assert err.strip() == "error: --precision fp16 needs a CUDA device; on the CPU use bf16 or fp32"


def test_a_skipped_fp16_step_is_seen_on_the_device_through_the_public_scaler_api():
    from ganstudio.train.accel import LossScale

    assert LossScale(None, torch.device("cpu")).now() is None
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scale = LossScale(scaler, torch.device("cpu"))
    weight = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([weight], lr=0.1)
    for loss, skipped in ((weight.sum(), False), (weight.sum() * float("inf"), True)):
        before = scale.now()
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        dropped = scale.dropped_since(before)
        assert isinstance(dropped, torch.Tensor) and bool(dropped) is skipped


def test_a_busy_machine_gets_a_one_line_hint_about_threads(monkeypatch):
    """CPU training beside other jobs: torch's threads wait on each other; the start says so once (a hint only)."""
    import os

    import torch

    from ganstudio.train.accel import busy_machine_note

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 3.0, 2.0))
    note = busy_machine_note(torch.device("cpu"))
    assert note.startswith("note: the machine is busy (load 3.2 on 2 threads)") and "OMP_NUM_THREADS=1" in note
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.3, 0.3))
    assert busy_machine_note(torch.device("cpu")) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 3.0, 2.0))
    assert busy_machine_note(torch.device("cuda")) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert busy_machine_note(torch.device("cpu")) is None
