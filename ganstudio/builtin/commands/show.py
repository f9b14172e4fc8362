"""``ganstudio show``: a gallery PNG of real images from any dataset plugin (built-in or third-party).

ganstudio show --data mnist --rows 8 --cols 18                # the classic 8x18 digit gallery
ganstudio show --data fashion --labels --out fashion.png      # class names under each image
ganstudio show --data celeba --data-root ~/data --split test --seed 1
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio import hookimpl, limits
from ganstudio.api import ImageData
from ganstudio.api.commands import add_folder_options
from ganstudio.api.data import add_data_options, load_data
from ganstudio.api.options import positive_int
from ganstudio.config import DataSpec
from ganstudio.errors import GanstudioError

if TYPE_CHECKING:  # annotations only: torch is imported where it is used, so `--help` needs none
    import torch


def pick(data: ImageData, count: int, seed: int | None) -> torch.Tensor:
    """Indices of the images to show: the first ``count``, or ``count`` at random when a seed is given."""
    import torch

    count = min(count, len(data))
    if seed is None:
        return torch.arange(count)
    return torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]


def run_show(args) -> int:
    import numpy as np
    import torch

    from ganstudio.output.images import labelled_gallery, make_grid, save_png
    from ganstudio.store.atomic import writing
    from ganstudio.store.ours import check_replaceable

    limits.at_most("--rows x --cols", args.rows * args.cols, limits.SHOW_CELLS, "a gallery is for looking at")
    out = Path(args.out or Path(args.samples_dir) / "show" / f"{args.data}-{args.split}-{args.rows}x{args.cols}.png")
    if out.suffix.lower() != ".png":
        raise GanstudioError(f"--out {out}: the gallery is a PNG; give a name ending in .png")
    check_replaceable(out, "png", overwrite=args.overwrite)
    data = load_data(args.plugins, DataSpec.from_args(args), args.split)
    if args.labels and (data.labels is None or not data.classes):
        raise GanstudioError(f"dataset '{args.data}' has no class labels to put under the images; drop --labels")
    index = pick(data, args.rows * args.cols, args.seed)
    images = data.images[index].clone()  # clone: a memory-mapped dataset is read only for these images
    with writing(out):
        if args.labels:
            names = [data.classes[int(label)] for label in data.labels[index]]
            width, height = labelled_gallery(images, names, args.rows, args.cols, out)
        else:
            grid = make_grid(images, cols=args.cols)
            if len(images) < args.rows * args.cols:  # keep the asked-for shape: pad the missing rows
                full = make_grid(
                    torch.zeros((args.rows * args.cols, *images.shape[1:]), dtype=torch.uint8), cols=args.cols
                )
                full[: grid.shape[0], : grid.shape[1]] = grid
                grid = full
            save_png(np.ascontiguousarray(grid), out)
            height, width = grid.shape[:2]
    shortfall = f" (only {len(images)} images in the split)" if len(images) < args.rows * args.cols else ""
    print(
        f"{out}: {args.rows}x{args.cols} gallery of {args.data} {args.split}{shortfall}, "
        f"{width}x{height} pixels, from {data.source}"
    )
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command("show", help="write a gallery PNG of real images from a dataset", run=run_show)
    add_data_options(p, default_data="mnist")
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split to show (default train)")
    p.add_argument("--rows", type=positive_int, default=8, help="rows of images (default 8)")
    p.add_argument("--cols", type=positive_int, default=18, help="images per row (default 18)")
    p.add_argument("--labels", action="store_true", help="put the class name under each image")
    p.add_argument("--seed", type=int, help="pick images at random with this seed (default: the first rows x cols)")
    p.add_argument(
        "--out", metavar="FILE.png", help="output file (default samples/show/<data>-<split>-<rows>x<cols>.png)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even when it is not a PNG (without it, only a PNG is replaced: docs/export.md)",
    )
    add_folder_options(p, checkpoints=False)
