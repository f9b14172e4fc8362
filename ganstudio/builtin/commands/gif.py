"""``ganstudio gif``: rebuild a training timeline GIF from the grids a run saved.

    ganstudio gif samples/fashion-dcgan                  # -> samples/fashion-dcgan/timeline.gif
    ganstudio gif checkpoints/fashion-dcgan --fps 8 --out fashion.gif
    ganstudio gif fashion-dcgan --max-frames 30          # a run name works too

The grids are the step_*.png / epoch_*.png files of the ``grid`` callback, in step order (from its
grids.jsonl index; for older folders without one, from the file names and the run's checkpoint). Each frame
is captioned with its step and epoch; beyond --max-frames the grids are thinned evenly.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from ganstudio import hookimpl, limits
from ganstudio.api.commands import add_folder_options
from ganstudio.api.options import frames_per_second, positive_int
from ganstudio.errors import GanstudioError
from ganstudio.store.atomic import writing
from ganstudio.store.ours import check_replaceable
from ganstudio.store.rundir import read_embedded_image, read_grid_index
from ganstudio.store.runs import run_name_of

GRID_FILE = re.compile(r"^(step|epoch)_(\d+)\.png$")


def find_run(target: str, samples_dir: str, checkpoints_dir: str) -> tuple[Path, dict | None]:
    """(folder of grids, checkpoint or None) for a samples folder, a checkpoint folder or file, or a run name."""
    from ganstudio.store.checkpoint import load_checkpoint

    path = Path(target)
    checkpoint_file = None
    if path.is_file() and path.suffix == ".pt":
        checkpoint_file = path
    elif path.is_dir() and (path / "last.pt").is_file() and not _has_grids(path):
        checkpoint_file = path / "last.pt"
    elif path.is_dir():
        guess = Path(checkpoints_dir) / path.name / "last.pt"
        return path, (load_checkpoint(guess) if guess.is_file() else None)
    elif not path.exists() and (Path(samples_dir) / target).is_dir():
        guess = Path(checkpoints_dir) / target / "last.pt"
        return Path(samples_dir) / target, (load_checkpoint(guess) if guess.is_file() else None)
    else:
        raise GanstudioError(
            f"{target}: no such run, samples folder or checkpoint "
            f"(looked for it as a path and as {Path(samples_dir) / target})"
        )
    ckpt = load_checkpoint(checkpoint_file)
    return Path(ckpt.get("config", {}).get("samples_dir") or samples_dir) / run_name_of(ckpt), ckpt


def _has_grids(folder: Path) -> bool:
    return any(GRID_FILE.match(p.name) for p in folder.iterdir())


def list_grids(folder: Path, ckpt: dict | None) -> list[dict]:
    """[{file, step, epoch}] of the grids in ``folder``, oldest first."""
    indexed = [e for e in read_grid_index(folder) if (folder / e["file"]).is_file()]
    if indexed:
        return indexed
    steps_per_epoch = (ckpt or {}).get("progress", {}).get("steps_per_epoch")
    grids = []
    for p in folder.iterdir():
        match = GRID_FILE.match(p.name)
        if not match:
            continue
        kind, number = match.group(1), int(match.group(2))
        if kind == "step":
            epoch = number / steps_per_epoch if steps_per_epoch else None
            grids.append({"file": p.name, "step": number, "epoch": epoch, "mtime": p.stat().st_mtime})
        else:
            grids.append(
                {
                    "file": p.name,
                    "step": number * steps_per_epoch if steps_per_epoch else None,
                    "epoch": number,
                    "mtime": p.stat().st_mtime,
                }
            )
    # Without a checkpoint, epoch grids have no step: order by when the files were written.
    key = (lambda g: g["step"]) if steps_per_epoch else (lambda g: g["mtime"])
    return sorted(grids, key=key)


def grid_caption(entry: dict) -> str:
    parts = []
    if entry.get("step") is not None:
        parts.append(f"step {entry['step']:,}")
    if entry.get("epoch") is not None:
        parts.append(f"epoch {entry['epoch']:.2f}")
    return "  ".join(parts)


def read_grid(folder: Path, name: str) -> bytes:
    """A grid's PNG bytes through the run folder's one reader (no links, inside the folder, a PNG, size-limited)."""
    data = read_embedded_image(folder, name, "png")
    if data is None or len(data) < 24:
        raise GanstudioError(f"{folder / name}: listed as a grid but missing or empty; delete grids.jsonl to rebuild")
    width, height = struct.unpack(">II", data[16:24])  # the PNG's IHDR, read before decoding anything
    limits.at_most(f"{folder / name} (pixels)", width * height, limits.GRID_PIXELS, "it is not a grid ganstudio made")
    return data


def run_gif(args) -> int:
    import imageio.v3 as iio
    import numpy as np
    from rich.progress import track

    from ganstudio.output.timeline import add_caption, write_gif

    folder, ckpt = find_run(args.run, args.samples_dir, args.checkpoints_dir)
    if not folder.is_dir():
        raise GanstudioError(f"{folder}: no such folder (the run has not written any grids yet)")
    if args.max_frames < 2:
        raise GanstudioError(f"--max-frames must be at least 2 (the first and the last grid), got {args.max_frames}")
    grids = list_grids(folder, ckpt)
    if not grids:
        raise GanstudioError(
            f"{folder}: no step_*.png or epoch_*.png grids to make a timeline from (train with the grid callback on)"
        )
    # All grids are known up front, so pick exactly --max-frames of them evenly (first and last included).
    kept = sorted(set(np.linspace(0, len(grids) - 1, min(args.max_frames, len(grids))).round().astype(int).tolist()))
    limits.at_most("--max-frames", args.max_frames, limits.FRAMES)
    frames, held = [], 0
    for i in track(kept, description="reading grids", transient=True, disable=len(kept) < 20):
        entry = grids[i]
        data = read_grid(folder, entry["file"])
        width, height = struct.unpack(">II", data[16:24])
        held += width * height * 4  # RGBA at most
        limits.at_most("the timeline's frames (bytes)", held, limits.GIF_BYTES, "pass a smaller --max-frames")
        frames.append(add_caption(iio.imread(data), grid_caption(entry)))
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise GanstudioError(
            f"{folder}: the grids differ in size ({', '.join(str(s) for s in sorted(shapes))}); "
            "were they made by different runs?"
        )
    out = Path(args.out) if args.out else folder / "timeline.gif"
    if out.suffix.lower() != ".gif":
        raise GanstudioError(f"--out {out}: expected a .gif file name")
    check_replaceable(out, "gif", overwrite=args.overwrite)
    with writing(out):
        write_gif(frames, out, args.fps)
    h, w = frames[0].shape[:2]
    thinned = f" from {len(grids)} grids" + (" (thinned evenly)" if len(kept) < len(grids) else "")
    print(f"{out}: {len(frames)} frames{thinned}, {w}x{h}, {args.fps:g} fps")
    return 0


@hookimpl
def register_commands(cli):
    from ganstudio.output.timeline import DEFAULT_FPS, DEFAULT_MAX_FRAMES

    p = cli.command("gif", help="rebuild the training timeline GIF from a run's saved grids", run=run_gif)
    p.add_argument(
        "run",
        metavar="RUN_OR_CHECKPOINT_DIR",
        help="samples/<name>, checkpoints/<name> (or its last.pt), or a run name",
    )
    p.add_argument(
        "--fps", type=frames_per_second, default=DEFAULT_FPS, help=f"frames per second (default {DEFAULT_FPS:g})"
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=DEFAULT_MAX_FRAMES,
        help=f"thin the grids evenly down to this many frames (default {DEFAULT_MAX_FRAMES})",
    )
    p.add_argument("--out", metavar="FILE.gif", help="output file (default: timeline.gif in the samples folder)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even when it is not a GIF (without it, only a GIF is replaced: docs/export.md)",
    )
    add_folder_options(p)
