"""Every size limit ganstudio enforces on what a user asks for or a run folder holds, stated once, checked before
anything is allocated. Imports only errors, so any layer (datasets and models included) may import it.

A limit exists so that a typo (``--n 1e9``) or a hostile file (a 3 GB npz in 3 MB, a 400 MB "PNG", a class name of
100,000 characters) gets one line instead of eating the machine's memory. Each is far above real use."""

from __future__ import annotations

from ganstudio.errors import GanstudioError

# What a command may be asked to make.
SAMPLE_IMAGES = 100_000  # sample --n / --per-class x classes / --seeds into .npz or a PNG folder
GRID_IMAGES = 10_000  # images in one PNG grid (100 x 100); more goes to --out DIR/ or .npz
GRID_PIXELS = 2**28  # pixels of one PNG grid (16,384 x 16,384, 800 MB as RGB): 100 x 100 images of 160 px
EVAL_IMAGES = 100_000  # eval --n and the images of eval --samples (the standard FID uses 50,000)
FRAMES = 2_000  # interpolate --frames and gif frames
INTERPOLATE_WALKS = 1_000  # interpolate --n (walks side by side)
SCALE = 32  # interpolate/gif --scale (pixel enlargement)
SHOW_CELLS = 10_000  # show --rows x --cols
GIF_BYTES = 2 * 2**30  # the frames of one interpolate GIF, held before encoding: 1,000 RGB frames of 1024x700

# What a run folder or checkpoint may hold.
TEXT_CHARS = 200  # a string read from a checkpoint or run file: class names, option values, run names
LINE_CHARS = 1_000  # one line shown from a run's strings (all its options, its problems): a few TEXT_CHARS
CLASS_NAMES = 10_000  # class names in one checkpoint
PATH_CHARS = 4_096  # a path recorded in a checkpoint (its data root, source): Linux's PATH_MAX
EMBED_BYTES = 20 * 2**20  # one image a report embeds (curves.png, timeline.gif, a grid)
NPZ_BYTES = 8 * 2**30  # the unpacked arrays of one --samples .npz
STDERR_TAIL_BYTES = 64 * 2**10  # of torchrun's stderr (its failure summary) and of a rank's line: train --nproc
TRACKER_QUEUE = 1_000  # calls waiting for a slow mlflow/wandb (one per log window or grid); beyond it they are dropped
FEATURE_WEIGHTS_BYTES = 6 * 2**30  # a feature extractor's weights file: DINOv2 ViT-L/14 1.2 GB, ViT-g/14 4.5 GB
REAL_FEATURES_BYTES = 2 * 2**30  # one cached real-feature file: 100,000 x (2,048 + 1,008) float32 is 1.2 GB


def at_most(what: str, value: int, limit: int, fix: str = "") -> int:
    """``value`` if it is within ``limit``, else one line: "--n is 1,000,000,000; the most is 100,000 (fix)"."""
    if value > limit:
        hint = f"; {fix}" if fix else ""
        raise GanstudioError(f"{what} is {value:,}; the most is {limit:,}{hint}")
    return value


# C0 and C1 control characters, DEL, and the bidirectional overrides that reorder what a terminal or page shows.
_CONTROL = {c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def clean_text(text, limit: int = TEXT_CHARS) -> str:
    """A string from a run file or checkpoint made inert for a terminal or a page: control characters (escape codes,
    bidi overrides) removed and at most ``limit`` characters kept (then "…"). Markup escaping is the renderer's job."""
    text = str(text).translate(_CONTROL)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_lines(text, limit: int = LINE_CHARS) -> str:
    """``clean_text`` line by line: a message keeps its line breaks, and nothing else reaches the terminal."""
    return "\n".join(clean_text(line, limit) for line in str(text).split("\n"))
