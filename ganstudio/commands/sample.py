"""``ganstudio sample``: images from a checkpoint, needing nothing but the checkpoint (and its model plugin).

    ganstudio sample --n 144                      # 12x12 grid PNG from the newest checkpoint
    ganstudio sample --n 1000 --out samples.npz   # uint8 images (N, H, W, C)
    ganstudio sample --n 64 --out pngs/           # one PNG per image
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganstudio import hookimpl
from ganstudio.api import ModelConfig
from ganstudio.checkpoint import find_latest_checkpoint, load_checkpoint
from ganstudio.commands.train import positive_int
from ganstudio.errors import GanstudioError
from ganstudio.images import save_images, to_uint8


def load_model(path, plugins, kind: str | None = None):
    """(model, checkpoint) rebuilt from a checkpoint through its model plugin, on the CPU, in eval mode."""
    ckpt = load_checkpoint(path)
    try:
        info = ckpt["model"]
        name, plugin = info["name"], info.get("plugin", "")
        if name not in plugins.models:
            raise GanstudioError(f"{path}: model '{name}' comes from plugin '{plugin}', which is not installed here")
        model = plugins.models[name].build(ModelConfig(**info["config"]))
        model.load_state_dict(ckpt["state"]["model"])
    except (KeyError, TypeError) as e:
        raise GanstudioError(f"{path}: checkpoint is missing or has malformed entry {e}") from None
    except RuntimeError as e:
        raise GanstudioError(f"{path}: weights do not fit model '{name}': {str(e).splitlines()[0]}") from None
    if kind is not None and model.kind != kind:
        raise GanstudioError(f"{path}: holds a {model.kind} ('{name}'), not a {kind}")
    return model.eval(), ckpt


@torch.no_grad()
def generate(model, n: int, seed: int, device: torch.device, batch_size: int = 500) -> torch.Tensor:
    """n uint8 images (N, C, H, W); the same seed gives the same images whatever the batch size."""
    g = torch.Generator().manual_seed(seed)
    z = model.sample_latent(n, generator=g)
    model.to(device)
    return torch.cat([to_uint8(model.generate(z[i : i + batch_size].to(device))) for i in range(0, n, batch_size)])


def run_sample(args) -> int:
    from ganstudio.accel import resolve_device

    path = Path(args.checkpoint) if args.checkpoint else find_latest_checkpoint(args.checkpoints_dir, kind="gan")
    model, ckpt = load_model(path, args.plugins, kind="gan")
    device = resolve_device(args.device)
    images = generate(model, args.n, args.seed, device)
    run_name = ckpt["config"].get("name") or f"{ckpt['config']['data']}-{ckpt['config']['model']}"
    out = args.out or str(Path(args.samples_dir) / run_name / f"sample-{args.n}-seed{args.seed}.png")
    try:
        written = save_images(images, out)
    except OSError as e:
        raise GanstudioError(f"could not write {out}: {e.strerror or e}") from None
    step = ckpt.get("progress", {}).get("step", "?")
    print(f"{written} from {path} (step {step})")
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command("sample", help="generate images from a checkpoint: grid PNG, .npz or a folder of PNGs", run=run_sample)
    p.add_argument("--n", type=positive_int, default=144, help="number of images (144 -> a 12x12 grid)")
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (default: the newest GAN checkpoint under checkpoints/)")
    p.add_argument("--out", metavar="FILE.png|FILE.npz|DIR/", help="output (default samples/<run>/sample-<n>-seed<seed>.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--checkpoints-dir", default="checkpoints", metavar="DIR")
    p.add_argument("--samples-dir", default="samples", metavar="DIR")
