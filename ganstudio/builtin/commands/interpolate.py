"""``ganstudio interpolate``: a looping walk through latent space, as a GIF.

    ganstudio interpolate                                   # newest GAN checkpoint, 8 walks, 60 frames
    ganstudio interpolate --checkpoint checkpoints/fashion-dcgan/last.pt --n 6 --frames 90 --out walk.gif

Each of the n columns walks through ``--keys`` random latents and back to the first, along great circles
(spherical interpolation, which keeps Gaussian latents at a typical norm where linear mixing would shrink
them towards the blurry centre). Frames are spaced evenly over the closed loop, so the GIF repeats without a
jump. Every frame is one row of n images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio import hookimpl, limits
from ganstudio.api.commands import add_checkpoint_options, add_class_option, add_folder_options
from ganstudio.api.options import frames_per_second, positive_int
from ganstudio.errors import GanstudioError
from ganstudio.store.runs import choose_checkpoint, run_name_of

if TYPE_CHECKING:  # annotations only: torch is imported where it is used, so `--help` needs none
    import torch


def loop_latents(keys: torch.Tensor, frames: int) -> torch.Tensor:
    """``keys`` (K, N, D): K key latents for each of N walks -> (frames, N, D) on the closed loop
    key 0 -> 1 -> ... -> K-1 -> 0, evenly spaced, the first frame at key 0 and no frame repeating it."""
    import torch

    from ganstudio.output.generation import slerp

    k = len(keys)
    out = []
    for f in range(frames):
        position = f * k / frames  # in [0, k)
        segment, t = int(position), position - int(position)
        out.append(slerp(keys[segment], keys[(segment + 1) % k], t))
    return torch.stack(out)


def check_gif_bytes(args, image_shape: tuple) -> None:
    """One line when the frames (held in memory until the GIF is encoded) would pass limits.GIF_BYTES: each frame is
    one row of n images with make_grid's 2-pixel padding, enlarged ``--scale`` times, in RGB at most."""
    _, h, w = image_shape
    frame = (h + 4) * args.scale * (args.n * (w + 2) + 2) * args.scale * 3
    total = args.frames * frame
    if total > limits.GIF_BYTES:
        raise GanstudioError(
            f"--frames {args.frames:,} x --n {args.n:,} x --scale {args.scale}: the GIF's frames would take "
            f"{total / 2**30:,.1f} GiB; the most is {limits.GIF_BYTES / 2**30:,.1f} GiB (fewer frames, walks or scale)"
        )


def run_interpolate(args) -> int:
    import torch  # here, not at the top: `ganstudio --help` imports every command module and needs no torch
    from rich.progress import track

    from ganstudio.api.runs import load_model
    from ganstudio.output.generation import class_labels, generate_images
    from ganstudio.output.images import enlarge, make_grid
    from ganstudio.output.timeline import write_gif
    from ganstudio.store.atomic import writing
    from ganstudio.store.ours import check_replaceable

    if args.frames < 2:
        raise GanstudioError(f"--frames must be at least 2, got {args.frames}")
    if args.keys < 2:
        raise GanstudioError(f"--keys must be at least 2 (a walk needs somewhere to go), got {args.keys}")
    limits.at_most("--frames", args.frames, limits.FRAMES)
    limits.at_most("--n", args.n, limits.INTERPOLATE_WALKS)
    limits.at_most("--scale", args.scale, limits.SCALE)
    limits.at_most("--keys", args.keys, limits.FRAMES)
    path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
    model, ckpt = load_model(path, args.plugins, kind="gan", ema=not args.no_ema)
    check_gif_bytes(args, tuple(model.config.image_shape))
    suffix = f"-{args.class_name}" if args.class_name else ""
    out = (
        Path(args.out)
        if args.out
        else Path(args.samples_dir) / run_name_of(ckpt) / f"interpolate-seed{args.seed}{suffix}.gif"
    )
    if out.suffix.lower() != ".gif":
        raise GanstudioError(f"--out {out}: expected a .gif file name")
    check_replaceable(out, "gif", overwrite=args.overwrite)

    g = torch.Generator().manual_seed(args.seed)
    keys = torch.stack([model.sample_latent(args.n, generator=g) for _ in range(args.keys)])
    latents = loop_latents(keys, args.frames)
    labels = class_labels(model, args.class_name, args.n, generator=g)  # each walk keeps its class
    frames = []
    with torch.no_grad():
        for z in track(latents, description=f"rendering {args.frames} frames", transient=True):
            row = make_grid(generate_images(model, z, labels), cols=args.n)
            frames.append(enlarge(row, args.scale))  # nearest-neighbour: 28 px images are too small to see
    with writing(out):
        write_gif(frames, out, args.fps, hold_last_s=0.0)  # no pause: the loop must be seamless
    h, w = frames[0].shape[:2]
    print(
        f"{out}: {args.frames} frames of {args.n} images ({w}x{h}), {args.keys} key latents per walk, "
        f"from {path} ({chosen}, step {ckpt.get('progress', {}).get('step', '?')})"
    )
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command(
        "interpolate", help="a looping latent-space walk (spherical interpolation) as a GIF", run=run_interpolate
    )
    add_checkpoint_options(p)
    add_class_option(p)
    p.add_argument(
        "--n", type=positive_int, default=8, help="images per frame: independent walks side by side (default 8)"
    )
    p.add_argument("--frames", type=positive_int, default=60, help="frames in the loop (default 60)")
    p.add_argument("--keys", type=positive_int, default=4, help="random latents each walk passes through (default 4)")
    p.add_argument("--fps", type=frames_per_second, default=15.0, help="frames per second (default 15)")
    p.add_argument("--scale", type=positive_int, default=2, help="enlarge each pixel this many times (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the key latents (default 0): same seed, same walk")
    p.add_argument("--out", metavar="FILE.gif", help="output (default samples/<run>/interpolate-seed<seed>.gif)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even when it is not a GIF (without it, only a GIF is replaced: docs/export.md)",
    )
    add_folder_options(p, checkpoints=False)
