"""``ganstudio sample``: images from a checkpoint, needing nothing but the checkpoint (and its model plugin).

    ganstudio sample --n 144                      # 12x12 grid PNG from the newest GAN run
    ganstudio sample fashion-dcgan --n 144        # from a run by name
    ganstudio sample --n 1000 --out samples.npz   # uint8 images (N, H, W, C)
    ganstudio sample --n 64 --out pngs/           # one PNG per image
    ganstudio sample fashion-cdcgan --class trouser --n 64   # conditional models: a class by name or index
"""

from __future__ import annotations

from pathlib import Path

from ganstudio import hookimpl
from ganstudio.options import positive_int


def add_checkpoint_options(p, what: str = "GAN") -> None:
    """The run to read: a name, --checkpoint PATH, or the newest; shared by sample, eval and interpolate."""
    p.add_argument("run", nargs="?", metavar="RUN", help=f"run name under --checkpoints-dir (default: the newest {what} run)")
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint file instead of a run name")
    p.add_argument("--checkpoints-dir", default="checkpoints", metavar="DIR")


def add_class_option(p) -> None:
    p.add_argument("--class", dest="class_name", metavar="NAME|INDEX", help="class-conditional models: generate this class")


def run_sample(args) -> int:
    import torch  # here, not at the top: `ganstudio --help` imports every command module and needs no torch

    from ganstudio.accel import resolve_device
    from ganstudio.atomic import writing
    from ganstudio.generation import class_labels, generate_images, load_model
    from ganstudio.images import save_images
    from ganstudio.runs import choose_checkpoint, run_name_of

    path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
    model, ckpt = load_model(path, args.plugins, kind="gan")
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(args.seed)
    latents = model.sample_latent(args.n, generator=g)
    labels = class_labels(model, args.class_name, args.n, generator=g)
    images = generate_images(model, latents, labels, device)
    suffix = f"-{args.class_name}" if args.class_name else ""
    out = args.out or str(Path(args.samples_dir) / run_name_of(ckpt) / f"sample-{args.n}-seed{args.seed}{suffix}.png")
    with writing(out):
        written = save_images(images, out, scale=args.scale)
    step = ckpt.get("progress", {}).get("step", "?")
    print(f"{written} from {path} ({chosen}, step {step})")
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command("sample", help="generate images from a checkpoint: grid PNG, .npz or a folder of PNGs", run=run_sample)
    add_checkpoint_options(p)
    p.add_argument("--n", type=positive_int, default=144, help="number of images (default 144: a 12x12 grid)")
    add_class_option(p)
    p.add_argument("--out", metavar="FILE.png|FILE.npz|DIR/", help="output (default samples/<run>/sample-<n>-seed<seed>.png)")
    p.add_argument("--scale", type=positive_int, default=1, help="enlarge each pixel this many times in the PNGs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0): the same seed, the same images")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--samples-dir", default="samples", metavar="DIR")
