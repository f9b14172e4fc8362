r"""Training throughput of ganstudio's loop against a pytorch/examples-style baseline, measured in the same run.

    .venv/bin/python benchmarks/throughput.py                      # CPU: 28x28 and 64x64, 3 rounds of 15 s per row
    .venv/bin/python benchmarks/throughput.py --device cuda --seconds 30 --compile
    .venv/bin/python benchmarks/throughput.py --shapes 28 --repeats 5 --no-ablation   # the headline ratio, tighter
    .venv/bin/python benchmarks/throughput.py --shapes 28 --no-ablation \
        --compare-with /tmp/before                                     # vs another checkout

Every row runs in a fresh subprocess (its own threads, its own peak memory) and trains the same DCGAN
(ganstudio/builtin/models/dcgan/nets.py, default width 64, batch 128) on the same images for ``--seconds``
after a warm-up:

* ``baseline``: the way pytorch/examples dcgan/main.py feeds and trains it: a torchvision Dataset that
  builds a PIL image per sample and applies ``transforms`` (28x28: ToTensor + Normalize over the uint8
  Fashion-MNIST array, as torchvision's FashionMNIST does; 64x64: ImageFolder over 178x218 JPEGs with
  Resize(64) + CenterCrop(64) + ToTensor + Normalize), ``DataLoader(shuffle=True, num_workers=2)``,
  ``.item()`` on D(x), D(G(z)) and the losses every step, fp32, NCHW, torch's default threads.
* ``ours``: ganstudio's training loop (ganstudio/train/loop.py ``fit``, no callbacks): the dataset as one uint8
  tensor (on the GPU when training there), batches by index, normalisation on the device, a host sync every 10 steps,
  one thread per core; the variants switch precision and memory format to show what each one buys.

It also times sampling (``ganstudio sample``'s generate) and ``ganstudio eval``'s feature extraction, and
reports peak memory: CPU RSS (max of the process and its DataLoader workers) and, on CUDA, max allocated.
On CUDA it counts the FLOPs of one training step and reports the fraction of the GPU's dense bf16 peak.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
BATCH = 128
# Dense bf16 tensor-core peaks (no sparsity), from NVIDIA's data sheets, for the "of bf16 peak" column.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}

OURS_VARIANTS = {  # name -> (precision, channels_last)
    "ours fp32 NCHW": ("fp32", False),
    "ours fp32 channels_last": ("fp32", True),
    "ours (default)": ("auto", True),
}


# --- data shared by both sides --------------------------------------------------------------------------------


def fashion_train_images():
    """The uint8 (N, 1, 28, 28) Fashion-MNIST training images, found the way ``ganstudio train`` finds them."""
    from ganstudio.api import DataRequest
    from ganstudio.plugins import load_plugins

    data = load_plugins(entry_points=False).dataset("fashion").load(DataRequest(split="train", quiet=True))
    return data


def make_jpeg_folder(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` CelebA-sized (178x218) JPEGs of smooth random colour fields: what CelebA costs to decode."""
    import numpy as np
    from PIL import Image

    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, size=(14, 12, 3), dtype=np.uint8)  # upsampled: JPEG-friendly, like photos
        image = Image.fromarray(small).resize((178, 218), Image.BILINEAR)
        image.save(folder / f"{i + 1:06d}.jpg", quality=90)
    marker.touch()
    return folder


# --- one row, in a subprocess ------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus its largest joined child (a DataLoader worker), in MB
    (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def step_flops(model, images) -> float:
    """FLOPs of one DCGAN training step (forward + backward of G and D), counted by torch on the real shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    model_copy_state = {k: v.clone() for k, v in model.state_dict().items()}
    from ganstudio.api.model import Batch, Batches, StepContext

    class Once(Batches):
        batch_size = len(images)

        def next(self):
            return Batch(images)

    opts = model.configure_optimizers()
    with FlopCounterMode(display=False) as counter:
        model.training_step(Once(), opts, StepContext(0, 0, 0.0, None))
    model.load_state_dict(model_copy_state)
    return float(counter.get_total_flops())


def run_ours(args, precision: str, channels_last: bool) -> dict:
    """ganstudio's training loop on the shape's data for args.seconds after warm-up; images/s from its own hooks."""
    from ganstudio import hookimpl
    from ganstudio.api import DataRequest, DatasetPlugin
    from ganstudio.config import DataSpec, TrainConfig
    from ganstudio.plugins import load_plugins
    from ganstudio.train.accel import resolve_device
    from ganstudio.train.loop import fit
    from ganstudio.train.run import Run

    data_name = "fashion" if args.shape == 28 else "bench-celeba"

    class BenchData:  # a throwaway dataset plugin: the benchmark's JPEGs through the celeba plugin and its cache
        @hookimpl
        def register_datasets(self, register):
            from ganstudio.builtin.datasets.celeba import load_celeba

            register(
                DatasetPlugin(
                    "bench-celeba",
                    lambda request: load_celeba(
                        DataRequest(split="train", root=Path(args.jpeg_folder), image_size=64, quiet=True)
                    ),
                    "benchmark JPEGs",
                )
            )

    marks: list[tuple[float, int]] = []

    class Clock:
        @hookimpl
        def after_metrics_logged(self, run, step, metrics):
            marks.append((time.perf_counter(), step))

    plugins = load_plugins(entry_points=False)
    plugins.pm.register(BenchData(), name="bench-data")
    plugins.pm.register(Clock(), name="bench-clock")
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            data=DataSpec(data_name),
            model="dcgan",
            name="bench",
            minutes=(args.warmup + args.seconds) / 60,
            batch_size=BATCH,
            device=args.device,
            precision=precision,
            compile=args.compile,
            callbacks=[],
            checkpoints_dir=f"{out}/c",
            samples_dir=f"{out}/s",
            save_every_minutes=1e9,
            model_options={"channels_last": channels_last},
            # Marks come when the loop syncs: every 10 steps on a GPU (as in training), every 2 on the CPU, where a
            # step is synchronous anyway and a 64x64 step takes a third of a second.
            log_every=2 if resolve_device(args.device).type == "cpu" else 10,
        )
        run = Run(config, plugins)
        if run.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        fit(run, plugins)
    start = next((m for m in marks if m[0] - marks[0][0] >= args.warmup), marks[0]) if marks else None
    end = marks[-1] if marks else None
    seconds = (end[0] - start[0]) if start and end else 0.0
    images_per_s = (end[1] - start[1]) * BATCH / seconds if seconds > 0 else 0.0
    result = {"images_per_s": images_per_s, "precision": run.precision.name, "steps": run.step}
    if run.device.type == "cuda":
        result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        x = run.batches.next().images
        flops = step_flops(run.model, x)
        result["tflops"] = flops * images_per_s / BATCH / 1e12
    return result


def run_baseline(args) -> dict:
    """The pytorch/examples dcgan/main.py loop over a DataLoader with per-sample PIL transforms."""
    import torch.nn as nn
    import torch.optim as optim
    import torchvision.datasets as dset
    import torchvision.transforms as transforms
    from PIL import Image

    from ganstudio.builtin.models.dcgan.nets import Discriminator, Generator, init_weights
    from ganstudio.train.accel import resolve_device

    device = resolve_device(args.device)
    if args.shape == 28:
        images = fashion_train_images().images[:, 0].numpy()  # (N, 28, 28) uint8

        class FashionLike(torch.utils.data.Dataset):  # what torchvision.datasets.FashionMNIST.__getitem__ does
            transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

            def __len__(self):
                return len(images)

            def __getitem__(self, i):
                return self.transform(Image.fromarray(images[i], mode="L")), 0

        dataset, channels, side = FashionLike(), 1, 28
    else:
        dataset = dset.ImageFolder(
            root=str(Path(args.jpeg_folder).parent),
            transform=transforms.Compose(
                [
                    transforms.Resize(64),
                    transforms.CenterCrop(64),
                    transforms.ToTensor(),
                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                ]
            ),
        )
        channels, side = 3, 64
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2, drop_last=True)
    nz = 100
    netG = Generator(nz, channels, side, 64).to(device)
    netD = Discriminator(channels, side, 64).to(device)
    netG.apply(init_weights)
    netD.apply(init_weights)
    criterion = nn.BCEWithLogitsLoss()  # our D ends in a logit; examples' Sigmoid + BCELoss is the same maths
    optimizerD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    t_begin = time.perf_counter()
    start_time, start_step, step = None, 0, 0
    while True:
        for data in loader:
            netD.zero_grad()
            real = data[0].to(device)
            b = real.size(0)
            label = torch.full((b,), 1.0, device=device)
            output = netD(real)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.sigmoid().mean().item()
            noise = torch.randn(b, nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(0.0)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.sigmoid().mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()
            netG.zero_grad()
            label.fill_(1.0)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.sigmoid().mean().item()
            optimizerG.step()
            _ = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)  # examples prints these every step
            step += 1
            now = time.perf_counter()
            if start_time is None and now - t_begin >= args.warmup:
                start_time, start_step = now, step
            if start_time is not None and now - start_time >= args.seconds:
                result = {
                    "images_per_s": (step - start_step) * BATCH / (now - start_time),
                    "precision": "fp32",
                    "steps": step,
                }
                if device.type == "cuda":
                    result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
                return result


def run_sampling(args) -> dict:
    """``ganstudio sample``'s generate: 10,000 images from a default-size DCGAN at 28x28."""
    from ganstudio.api import ModelConfig
    from ganstudio.builtin.models.dcgan.nets import DCGAN
    from ganstudio.output.generation import generate_images
    from ganstudio.train.accel import resolve_device

    device = resolve_device(args.device)
    model = DCGAN(ModelConfig((1, 28, 28), 10, {})).to(device)
    generate_images(model, model.sample_latent(1000), device=device)  # warm-up
    n = 10000
    latents = model.sample_latent(n, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    generate_images(model, latents, device=device)
    return {"images_per_s": n / (time.perf_counter() - start)}


def run_features(args) -> dict:
    """``ganstudio eval``'s feature extraction: the classifier's penultimate layer for 10,000 28x28 images."""
    from ganstudio.api import ModelConfig
    from ganstudio.builtin.models.classifier.nets import CNNClassifier
    from ganstudio.scoring.evaluation import predict
    from ganstudio.train.accel import resolve_device

    device = resolve_device(args.device)
    model = CNNClassifier(ModelConfig((1, 28, 28), 10, {})).to(device)
    images = fashion_train_images().images[:10000]
    predict(model, images[:1000], device)  # warm-up
    start = time.perf_counter()
    predict(model, images, device)
    return {"images_per_s": len(images) / (time.perf_counter() - start)}


def one_row(args) -> None:
    if args.row == "baseline":
        result = run_baseline(args)
    elif args.row in OURS_VARIANTS:
        result = run_ours(args, *OURS_VARIANTS[args.row])
    elif args.row == "ours --compile":
        args.compile = True
        result = run_ours(args, "auto", True)
    elif args.row == "sampling":
        result = run_sampling(args)
    elif args.row == "features":
        result = run_features(args)
    else:
        raise SystemExit(f"unknown row {args.row}")
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


# --- the table ---------------------------------------------------------------------------------------------------


def machine_description(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from ganstudio.train.accel import cpu_cores, cpu_has_native_bf16

    bf16 = "yes" if cpu_has_native_bf16() else "no"
    text = f"{cpu}, {cpu_cores()} cores (native bf16: {bf16}), torch {torch.__version__}"
    if device != "cpu" and torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def bf16_peak(name: str) -> float | None:
    for key, value in BF16_PEAK_TFLOPS.items():
        if key in name:
            return value
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per training row (after warm-up)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of each training row not measured")
    parser.add_argument(
        "--shapes", default="28,64", help="comma-separated: 28 (1x28x28 Fashion-MNIST), 64 (3x64x64 JPEGs)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of the training rows; the table shows each row's median"
    )
    parser.add_argument("--jpegs", type=int, default=3000, help="CelebA-sized JPEGs written for the 64x64 rows")
    parser.add_argument(
        "--no-ablation",
        dest="ablation",
        action="store_false",
        help="only the baseline and ours (default): more rounds in the same time",
    )
    parser.add_argument("--compile", action="store_true", help="add an 'ours --compile' row (torch.compile)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as markdown to FILE")
    parser.add_argument(
        "--compare-with",
        metavar="DIR",
        help="another ganstudio checkout (e.g. a git worktree of an older commit): its 'ours (default)' row runs "
        "from its own code and benchmark script in the same rounds",
    )
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row in this process
    parser.add_argument("--shape", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--jpeg-folder", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.row:
        one_row(args)
        return

    work = Path(tempfile.gettempdir()) / "ganstudio-bench"
    env = dict(os.environ, GANSTUDIO_CACHE=str(work / "cache"), PYTHONUNBUFFERED="1")
    shapes = [int(s) for s in args.shapes.split(",")]
    jpeg_dir = work / f"jpegs-{args.jpegs}" / "faces"  # ImageFolder reads every class folder under the parent
    if 64 in shapes:
        t = time.perf_counter()
        make_jpeg_folder(jpeg_dir, args.jpegs)
        print(f"{args.jpegs:,} JPEGs (178x218) in {jpeg_dir} ({time.perf_counter() - t:.1f} s)", file=sys.stderr)

    # Rows of a shape run in rounds (baseline, ours..., baseline, ours..., ...) and each row reports its median
    # round: a machine whose speed drifts (shared cores, turbo) then shifts every row alike, not one.
    plan = []
    for shape in shapes:
        variants = list(OURS_VARIANTS) if args.ablation else ["ours (default)"]
        names = (
            ["baseline", *variants]
            + (["ours --compile"] if args.compile else [])
            + (["compared"] if args.compare_with else [])
        )
        plan += [(f"{shape}", name) for _ in range(args.repeats) for name in names]
    plan += [("28", "sampling"), ("28", "features")]
    results: dict[tuple[str, str], list[dict]] = {}
    for i, (shape, name) in enumerate(plan, 1):
        script, row, row_env = HERE, name, env
        if name == "compared":  # the other checkout's own script and code, on its own import path
            other = Path(args.compare_with).resolve()
            script, row, row_env = (
                other / "benchmarks" / "throughput.py",
                "ours (default)",
                dict(env, PYTHONPATH=str(other)),
            )
        cmd = [
            sys.executable,
            str(script),
            "--row",
            row,
            "--shape",
            shape,
            "--device",
            args.device,
            "--seconds",
            str(args.seconds),
            "--warmup",
            str(args.warmup),
            "--jpeg-folder",
            str(jpeg_dir),
        ]
        print(f"[{i}/{len(plan)}] {name} at {shape}x{shape} ...", end=" ", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=row_env)
        line = next((text for text in proc.stdout.splitlines() if text.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            print("failed:\n    " + "\n    ".join(tail), file=sys.stderr)
            continue
        result = json.loads(line[len("RESULT ") :])
        print(f"{result['images_per_s']:,.0f} images/s", file=sys.stderr)
        results.setdefault((shape, name), []).append(result)

    rows = []
    for (shape, name), runs in results.items():
        runs = sorted(runs, key=lambda r: r["images_per_s"])
        median = runs[len(runs) // 2]
        rows.append({"shape": shape, "row": name, **median, "rounds": [r["images_per_s"] for r in runs]})
    print_table(rows, args)
    for shape in shapes:
        ours = next((r for r in rows if r["shape"] == str(shape) and r["row"] == "ours (default)"), None)
        other = next((r for r in rows if r["shape"] == str(shape) and r["row"] == "compared"), None)
        if ours and other:
            print(
                f"{shape}x{shape}: this checkout / {args.compare_with}: "
                f"{ours['images_per_s'] / other['images_per_s']:.3f}"
            )


def print_table(rows: list[dict], args) -> None:
    gpu = args.device != "cpu" and torch.cuda.is_available()
    peak = bf16_peak(torch.cuda.get_device_name(0)) if gpu else None
    header = ["what", "shape", "precision", "images/s (median)", "vs baseline", "rounds", "peak RSS MB"]
    if gpu:
        header += ["CUDA max alloc MB", "TFLOP/s", "of bf16 peak"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    baseline = {r["shape"]: r["images_per_s"] for r in rows if r["row"] == "baseline"}
    for r in rows:
        training = r["row"] not in ("sampling", "features")
        what = {
            "sampling": "sampling (ganstudio sample)",
            "features": "eval features (classifier)",
            "compared": f"train: ours (default) of {args.compare_with}",
        }.get(r["row"], f"train: {r['row']}")
        shape = "1x28x28" if r["shape"] == "28" else "3x64x64"
        ratio = f"{r['images_per_s'] / baseline[r['shape']]:.2f}x" if training and baseline.get(r["shape"]) else ""
        rounds = " / ".join(f"{v:,.0f}" for v in r["rounds"]) if len(r["rounds"]) > 1 else ""
        cells = [
            what,
            shape,
            r.get("precision", "fp32"),
            f"{r['images_per_s']:,.0f}",
            ratio,
            rounds,
            f"{r['peak_rss_mb']:,.0f}",
        ]
        if gpu:
            tf = r.get("tflops")
            cells += [
                f"{r.get('cuda_max_allocated_mb', 0):,.0f}",
                f"{tf:.1f}" if tf else "",
                f"{tf / peak * 100:.1f}%" if tf and peak else "",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    machine = machine_description(args.device)
    text = (
        f"Machine: {machine}\nDevice: {args.device}; batch {BATCH}; "
        f"each training row {args.seconds:g} s measured after "
        f"{args.warmup:g} s warm-up, {args.repeats} interleaved rounds, median shown\n\n{table}\n"
    )
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
