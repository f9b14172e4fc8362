"""What ``ganstudio sample`` checks before it makes anything: the sizes asked for, against limits.py (one line, before
any allocation), and the files it will write. A helper of sample.py only, so that file stays short."""

from __future__ import annotations

from pathlib import Path


def check_sizes(args, kind: str) -> None:
    """--n, --per-class, --seeds and --scale within limits.py's, before anything is loaded or allocated."""
    from ganstudio import limits

    grid = kind == "png"
    most = limits.GRID_IMAGES if grid else limits.SAMPLE_IMAGES
    fix = (
        f"for more images write --out DIR/ or FILE.npz (up to {limits.SAMPLE_IMAGES:,})"
        if grid
        else "make them in parts with --seed"
    )
    for flag, value in (("--n", args.n), ("--per-class", args.per_class)):
        if value is not None:
            limits.at_most(flag, value, most, fix)
    if args.seeds is not None:
        limits.at_most("--seeds", len(args.seeds), most, fix)
    limits.at_most("--scale", args.scale, limits.SCALE, "each pixel is drawn as a --scale x --scale block")


def check_grid_size(args, kind: str, model, classes: int) -> None:
    """--per-class K x the model's classes, and the pixels of a PNG grid, within limits, before anything is made."""
    from ganstudio import limits
    from ganstudio.output.images import grid_shape

    grid = kind == "png"
    if args.per_class is not None and model.condition == "class":
        limits.at_most(
            f"--per-class {args.per_class:,} x {classes:,} classes",
            args.per_class * classes,
            limits.GRID_IMAGES if grid else limits.SAMPLE_IMAGES,
            "a smaller --per-class" + (", or --out DIR/ or FILE.npz" if grid else ""),
        )
    if not grid:
        return
    n = len(args.seeds) if args.seeds is not None else (args.n if args.n is not None else 144)
    rows, cols = (classes, args.per_class) if args.per_class is not None else grid_shape(n)
    _, h, w = (int(d) for d in model.config.image_shape)
    pixels = ((rows * (h + 2) + 2) * args.scale) * ((cols * (w + 2) + 2) * args.scale)
    limits.at_most(
        f"a {rows:,}x{cols:,} grid at --scale {args.scale} in pixels",
        pixels,
        limits.GRID_PIXELS,
        "fewer images, a smaller --scale, or --out DIR/",
    )


def targets(args, out: str, kind: str, labels, seeds: list[int], names: list[str]) -> list[str]:
    """The files ``write_samples`` will write: ``out`` itself, or one PNG per image in the folder ``out``."""
    from ganstudio.builtin.commands.sample import seed_file_name

    if kind != "dir":
        return [out]
    label_names = [names[int(y)] for y in labels] if names and labels is not None else None
    return [
        str(Path(out) / f"{seed_file_name(s, label_names[i] if label_names else None)}.png")
        for i, s in enumerate(seeds)
    ]
