"""``ganstudio sample``: images from a checkpoint, needing nothing but the checkpoint (and its model plugin).

    ganstudio sample --n 144                      # 12x12 grid PNG from the newest GAN run
    ganstudio sample fashion-dcgan --n 144        # from a run by name
    ganstudio sample --n 1000 --out samples.npz   # uint8 images (N, H, W, C), with each image's seed
    ganstudio sample --n 64 --out pngs/           # one PNG per image, named by seed: seed000000.png, ...
    ganstudio sample --seeds 12,40-43             # exactly those images again, the same pixels
    ganstudio sample --truncation 0.7             # the truncation trick: latents redrawn into [-0.7, 0.7]
    ganstudio sample fashion-cdcgan --class trouser --n 64   # conditional models: a class by name or index
    ganstudio sample fashion-cdcgan --per-class 8            # a row per class, its name at the left

Image i of ``--seed S --n N`` comes from seed S + i alone (its latent and, without --class, its label), so
``--seeds S+i`` (with the same --truncation) makes it again.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from ganstudio import hookimpl
from ganstudio.api.commands import add_checkpoint_options, add_class_option, add_folder_options
from ganstudio.api.options import positive_int, seed_number
from ganstudio.errors import GanstudioError

MAX_SEED = 2**63 - 1  # what torch.manual_seed takes
MAX_SEEDS = 1_000_000  # images one --seeds may ask for (a typo such as 100-1310000 is caught, not generated)


def parse_seeds(text: str) -> list[int]:
    """``--seeds 123,456,100-131``: seeds and inclusive ranges, comma-separated, in the order given."""
    seeds: list[int] = []
    for item in text.split(","):
        item = item.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not match:
            raise argparse.ArgumentTypeError(f"expected seeds and ranges such as 123,456,100-131, got '{item or text}'")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise argparse.ArgumentTypeError(f"range {item} runs backwards (write {high}-{low})")
        if high > MAX_SEED:
            raise argparse.ArgumentTypeError(f"seed {high} is too large (at most {MAX_SEED})")
        if len(seeds) + high - low + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"'{text}' asks for more than {MAX_SEEDS:,} images")
        seeds.extend(range(low, high + 1))
    twice = next((seed for seed, count in Counter(seeds).items() if count > 1), None)
    if twice is not None:
        raise argparse.ArgumentTypeError(f"seed {twice} is asked for twice in '{text}'")
    return seeds


def truncation_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a threshold greater than 0 (e.g. 0.7: latent values redrawn until |z| <= 0.7), got '{text}'"
        )
    return value


def describe_seeds(seeds: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5,9': the --seeds that makes these images again."""
    parts, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            low, high = seeds[start], seeds[i - 1]
            parts.append(str(low) if low == high else f"{low}-{high}")
            start = i
    return ",".join(parts)


def file_part(name: str) -> str:
    """A class name as part of a file name: 'T-shirt/top' -> 't-shirt-top', 'Ankle boot' -> 'ankle-boot'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "class"


def seed_file_name(seed: int, class_name: str | None = None) -> str:
    """'seed000123' or, with its class, 'seed000123-trouser'."""
    return f"seed{seed:06d}" + (f"-{file_part(class_name)}" if class_name is not None else "")


def check_combinations(args) -> None:
    """One-line errors for options that contradict each other, before anything is loaded."""
    if args.seeds is not None and (args.n is not None or args.seed is not None):
        raise GanstudioError(
            "--seeds names the images itself: drop "
            + " and ".join(flag for flag, value in (("--n", args.n), ("--seed", args.seed)) if value is not None)
        )
    if args.per_class is not None:
        if args.seeds is not None:
            raise GanstudioError(
                "--per-class makes seeds S to S+K-1 for every class (--seed S); it does not go with --seeds "
                "(for given seeds of one class: --seeds LIST --class NAME)"
            )
        if args.class_name is not None:
            raise GanstudioError(
                "--per-class draws every class, one row each: drop --class (or use --class NAME --n K)"
            )
        if args.n is not None:
            raise GanstudioError("--per-class K makes K images per class: drop --n")


def run_sample(args) -> int:
    from ganstudio.api.runs import load_model
    from ganstudio.builtin.commands.sample_checks import check_grid_size, check_sizes, targets
    from ganstudio.output.generation import class_names_of, generate_images
    from ganstudio.output.images import output_kind
    from ganstudio.store.ours import check_replaceable
    from ganstudio.store.runs import choose_checkpoint, run_name_of
    from ganstudio.train.accel import resolve_device

    check_combinations(args)
    kind = output_kind(args.out) if args.out is not None else "png"  # a bad --out: one line before loading
    check_sizes(args, kind)
    if args.out is not None and kind != "dir":
        check_replaceable(args.out, kind, overwrite=args.overwrite)
    path, chosen = choose_checkpoint(args.checkpoint, args.run, args.checkpoints_dir, kind="gan")
    model, ckpt = load_model(path, args.plugins, kind="gan", ema=not args.no_ema)
    names = class_names_of(model) if model.condition == "class" else []
    check_grid_size(args, kind, model, len(names))
    latents, labels, seeds, default_name = choose_inputs(args, model, names)
    out = args.out or str(Path(args.samples_dir) / run_name_of(ckpt) / default_name)
    for target in targets(args, out, kind, labels, seeds, names):  # each file, before any image is made
        check_replaceable(target, "png" if kind == "dir" else kind, overwrite=args.overwrite)
    images = generate_images(model, latents, labels, resolve_device(args.device))
    written = write_samples(args, out, images, labels, seeds, names)
    step = ckpt.get("progress", {}).get("step", "?")
    print(f"{written} from {path} ({chosen}, step {step})")
    print_how_to_repeat(args, seeds[: args.per_class] if args.per_class is not None else seeds)
    return 0


def choose_inputs(args, model, names: list[str]):
    """(latents, labels or None, the seed of each image, the default file name) for what args ask."""
    from ganstudio.output.generation import per_class_inputs, seeded_inputs

    seed = args.seed if args.seed is not None else 0
    trunc = f"-trunc{args.truncation:g}" if args.truncation is not None else ""
    if args.per_class is not None:
        if model.condition != "class":
            raise GanstudioError(
                f"--per-class: model '{model.config.model}' is not class-conditional (it generates without "
                f"a class); use --n"
            )
        if seed + args.per_class - 1 > MAX_SEED:
            raise GanstudioError(f"--seed {seed} --per-class {args.per_class}: the seeds run past {MAX_SEED}")
        # Column c is seed S + c in every row: one latent per column, the class changing down it. Row r, column c
        # is `sample --seeds S+c --class r`.
        column_seeds = list(range(seed, seed + args.per_class))
        latents, labels = per_class_inputs(model, column_seeds, args.truncation)
        return latents, labels, column_seeds * len(names), f"per-class-{args.per_class}-seed{seed}{trunc}.png"
    if args.seeds is not None:
        seeds = args.seeds
        default_name = (f"seed{seeds[0]:06d}" if len(seeds) == 1 else f"seeds-{short_seeds(seeds)}") + ".png"
    else:
        n = args.n if args.n is not None else 144
        if seed + n - 1 > MAX_SEED:
            raise GanstudioError(f"--seed {seed} --n {n}: the seeds run past {MAX_SEED}")
        seeds = list(range(seed, seed + n))
        default_name = f"sample-{n}-seed{seed}.png"
    latents, labels = seeded_inputs(model, seeds, args.truncation, args.class_name)
    suffix = f"-{file_part(args.class_name)}" if args.class_name else ""
    return latents, labels, seeds, default_name[: -len(".png")] + suffix + trunc + ".png"


def write_samples(args, out: str, images, labels, seeds: list[int], names: list[str]) -> str:
    """Write the images as --out asks (a labelled grid for --per-class PNGs); what was written, in words."""
    import numpy as np

    from ganstudio.output.images import labelled_rows, output_kind, save_images, save_png
    from ganstudio.store.atomic import writing

    label_names = [names[int(y)] for y in labels] if names and labels is not None else None
    with writing(out):
        if args.per_class is not None and output_kind(out) == "png":
            grid = labelled_rows(images, args.per_class, names, scale=args.scale)
            save_png(grid, out)
            return f"{out} ({len(names)} classes x {args.per_class} grid, {grid.shape[1]}x{grid.shape[0]} px)"
        arrays = {"seeds": np.array(seeds, dtype=np.uint64)}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        file_names = [seed_file_name(s, label_names[i] if label_names else None) for i, s in enumerate(seeds)]
        return save_images(images, out, scale=args.scale, names=file_names, arrays=arrays, cols=args.per_class)


def print_how_to_repeat(args, seeds: list[int]) -> None:
    """The seeds made (one per column with --per-class) and the option that makes any of them again."""
    seed = args.seed if args.seed is not None else 0
    seeds_text = describe_seeds(seeds)
    seeds_text = seeds_text if len(seeds_text) <= 60 else seeds_text[:57] + "..."
    again = "--seeds N" + (f" --truncation {args.truncation:g}" if args.truncation is not None else "")
    if args.per_class is not None:
        print(f"seeds {seeds_text}, one per column: row r, column c again with `{again} --class NAME` (N = {seed} + c)")
    else:
        print(
            f"seeds {seeds_text}"
            + (f", class {args.class_name}" if args.class_name else "")
            + f": any of these images again with `{again}"
            + (f" --class {args.class_name}`" if args.class_name else "`")
        )


def short_seeds(seeds: list[int]) -> str:
    """Seeds as part of a default file name: '100-131', '3,9,12'; a long list by its first and last seed and count."""
    text = describe_seeds(seeds)
    return text if len(text) <= 40 else f"{seeds[0]}-to-{seeds[-1]}-{len(seeds)}-images"


@hookimpl
def register_commands(cli):
    p = cli.command(
        "sample", help="generate images from a checkpoint: grid PNG, .npz or a folder of PNGs", run=run_sample
    )
    add_checkpoint_options(p)
    p.add_argument("--n", type=positive_int, default=None, help="number of images (default 144: a 12x12 grid)")
    p.add_argument(
        "--seed",
        type=seed_number,
        default=None,
        help="first seed (default 0): image i is made from seed + i alone, so --seeds can make it again",
    )
    p.add_argument(
        "--seeds",
        type=parse_seeds,
        metavar="LIST",
        help="make exactly these images again: seeds and ranges, e.g. 123,456,100-131 (not with --n/--seed)",
    )
    p.add_argument(
        "--truncation",
        type=truncation_value,
        metavar="T",
        help="truncation trick: latent values with |z| > T redrawn until |z| <= T (e.g. 0.7; smaller: "
        "more typical images, less variety)",
    )
    add_class_option(p)
    p.add_argument(
        "--per-class",
        type=positive_int,
        metavar="K",
        help="class-conditional models: K images per class, one row per class named at its left "
        "(column c: seed S+c in every row)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.png|FILE.npz|DIR/",
        help="output (default samples/<run>/sample-<n>-seed<seed>.png); DIR/ names files by seed: "
        "seed000123.png, with the class: seed000123-trouser.png",
    )
    p.add_argument(
        "--scale", type=positive_int, default=1, help="enlarge each pixel this many times in the PNGs (default 1)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even when it is not of the kind sample writes (PNG, an .npz of images); without it "
        "only those are replaced (docs/export.md)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    add_folder_options(p, checkpoints=False)
