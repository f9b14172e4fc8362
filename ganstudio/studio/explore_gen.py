"""The explore page's generators: one loaded per run and checkpoint file (reloaded when the file changes), and the
images they make, through the code `ganstudio sample` uses, so a seed gives the same pixels here as there.

    generators = Generators(checkpoints_dir, plugins)
    loaded = generators.get("fashion-cdcgan", "last")      # cached by the file's (path, mtime, size); or Problem
    png = image_png(loaded, seed=7, truncation=0.7, label=3, scale=8)   # = sample --seeds 7 --truncation 0.7 ...
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ganstudio import limits
from ganstudio.errors import GanstudioError
from ganstudio.store.paths import is_file
from ganstudio.store.runs import check_run_name

CHECKPOINTS = ("last", "best")  # what ?checkpoint= may name: checkpoints/<run>/last.pt or best.pt, never a path
CACHED = 8  # generators kept loaded at once (the least recently used goes first): a few runs' worth of memory


class Problem(Exception):
    """A request the page cannot answer: one line for the page, and the HTTP status it goes with."""

    def __init__(self, line: str, status: int = 400):
        super().__init__(limits.clean_text(line, limits.LINE_CHARS))
        self.status = status


@dataclass
class Loaded:
    """A generator loaded from one checkpoint file, with what the page shows about it; ``lock`` is held while it
    makes images (generate_images switches it to eval mode and back)."""

    run: str
    checkpoint: str  # "last" or "best"
    path: Path
    model: Any
    step: int
    names: list = field(default_factory=list)  # class names of a conditional model, one per class
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def image_shape(self) -> tuple:
        return tuple(int(d) for d in self.model.config.image_shape)


@dataclass
class Slot:
    """One (run, checkpoint)'s cache entry: the file identity it was loaded from and the Loaded or its Problem."""

    identity: Optional[tuple] = None
    value: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def checkpoint_path(checkpoints_dir, run: str, checkpoint: str) -> Path:
    """checkpoints/<run>/<last|best>.pt for a run name and a checkpoint word, or a Problem (400/404)."""
    try:
        check_run_name(run)
    except GanstudioError as e:
        raise Problem(str(e), 400) from None
    if checkpoint not in CHECKPOINTS:
        raise Problem(f"checkpoint '{checkpoint}': expected last or best", 400)
    path = Path(checkpoints_dir) / run / f"{checkpoint}.pt"
    if not is_file(path):
        if checkpoint == "best" and is_file(path.with_name("last.pt")):
            raise Problem(f"run '{run}' has no best.pt (train --eval-every N keeps one); use its last.pt", 404)
        raise Problem(f"no run '{run}' with a checkpoint under {checkpoints_dir}/", 404)
    return path


def identity(path: Path) -> tuple:
    """What says a checkpoint file changed: a newer last.pt (written by replacing the file) reloads."""
    st = os.stat(path)
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


class Generators:
    """Loaded generators keyed by (run, checkpoint), each kept while its file's identity is unchanged; a checkpoint
    that cannot be loaded is remembered as its one-line Problem (a hostile file is read once, not per request)."""

    def __init__(self, checkpoints_dir, plugins):
        self.checkpoints_dir, self.plugins = checkpoints_dir, plugins
        self.lock = threading.Lock()  # guards ``slots`` only, so a slow load holds up no other run's images
        self.slots: OrderedDict = OrderedDict()  # (run, checkpoint) -> Slot, the least recently used first

    def get(self, run: str, checkpoint: str = "last") -> Loaded:
        path = checkpoint_path(self.checkpoints_dir, run, checkpoint)
        try:
            now = identity(path)
        except OSError as e:
            raise Problem(f"{path}: cannot read it ({e.strerror or e})", 404) from None
        with self.lock:
            slot = self.slots.setdefault((run, checkpoint), Slot())
            self.slots.move_to_end((run, checkpoint))
            while len(self.slots) > CACHED:
                self.slots.popitem(last=False)
        with slot.lock:  # two requests for a new checkpoint load it once
            if slot.identity != now:
                slot.value, slot.identity = self.load(run, checkpoint, path), now
            value = slot.value
        if isinstance(value, Problem):
            raise value
        return value

    def load(self, run: str, checkpoint: str, path: Path):
        """The Loaded generator of ``path`` (EMA weights when it has them, as `sample`), or its Problem (422)."""
        from ganstudio.api.runs import load_model
        from ganstudio.output.generation import class_names_of

        try:
            model, ckpt = load_model(path, self.plugins, kind="gan", ema=True)
            names = class_names_of(model) if model.condition == "class" else []
            step = int((ckpt.get("progress") or {}).get("step", 0))
        except GanstudioError as e:
            return Problem(str(e), 422)
        except Exception as e:  # a crafted file can fail inside a model plugin in any way: still one line, no 500
            return Problem(f"{path}: cannot make a generator from it ({type(e).__name__}: {e})", 422)
        return Loaded(run, checkpoint, path, model, step, names)


def class_of(loaded: Loaded, text: Optional[str]) -> Optional[int]:
    """The class index ``text`` names (an index or a name, as `sample --class`), None for none, or a Problem."""
    from ganstudio.output.generation import class_index

    if text is None or text == "":
        return None
    try:
        return class_index(loaded.model, text)
    except GanstudioError as e:
        raise Problem(str(e).removeprefix("--"), 400) from None


def images_of(loaded: Loaded, seeds: list[int], truncation: Optional[float], label: Optional[int]):
    """uint8 (N, C, H, W): image i is `sample --seeds seeds[i] [--truncation T] [--class label]`."""
    from ganstudio.output.generation import generate_images, seeded_inputs

    with generating(loaded):
        latents, labels = seeded_inputs(loaded.model, seeds, truncation, None if label is None else str(label))
        return generate_images(loaded.model, latents, labels, "cpu")


@contextmanager
def generating(loaded: Loaded):
    """Hold the generator's lock while it makes images; a model that fails there (a crafted checkpoint can load and
    still fail) is one line (422), not a 500."""
    with loaded.lock:
        try:
            yield
        except (GanstudioError, Problem):
            raise
        except Exception as e:
            line = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise Problem(f"{loaded.path}: the generator failed ({type(e).__name__}: {line[:200]})", 422) from None


def as_png(images, scale: int, cols: Optional[int] = None) -> bytes:
    """The PNG `sample --out FILE.png --scale S` writes for these images (save_images' grid, made in memory)."""
    from ganstudio.output.images import enlarge, make_grid, png_bytes

    return png_bytes(enlarge(make_grid(images, cols=cols), scale))


def image_png(loaded: Loaded, seed: int, truncation: Optional[float], label: Optional[int], scale: int) -> bytes:
    """One image as `ganstudio sample RUN --seeds SEED [--truncation T] [--class C] --scale S --out X.png` writes it."""
    return as_png(images_of(loaded, [seed], truncation, label), scale)


def per_class_png(loaded: Loaded, seed: int, columns: int, truncation: Optional[float], scale: int) -> bytes:
    """A row per class, column c from seed + c, its class named at the left: `sample --per-class K --seed S`."""
    from ganstudio.output.generation import generate_images, per_class_inputs
    from ganstudio.output.images import labelled_rows

    if not loaded.names:
        raise Problem(f"run '{loaded.run}': model '{loaded.model.config.model}' is not class-conditional", 400)
    limits.at_most(f"{columns} columns x {len(loaded.names)} classes", columns * len(loaded.names), limits.GRID_IMAGES)
    _, h, w = loaded.image_shape
    pixels = (len(loaded.names) * (h + 2) + 2) * scale * (columns * (w + 2) + 2) * scale
    limits.at_most("the grid's pixels", pixels, limits.GRID_PIXELS, "fewer columns or a smaller scale")
    with generating(loaded):
        latents, labels = per_class_inputs(loaded.model, list(range(seed, seed + columns)), truncation)
        images = generate_images(loaded.model, latents, labels, "cpu")
    from ganstudio.output.images import png_bytes

    return png_bytes(labelled_rows(images, columns, loaded.names, scale=scale))


def between_png(
    loaded: Loaded, a: int, b: int, t: float, truncation: Optional[float], label: Optional[int], scale: int
) -> bytes:
    """The image a fraction t of the way from seed a's latent to seed b's, along the great circle (as `ganstudio
    interpolate` walks); t=0 is seed a's image, t=1 seed b's. Without a class, a conditional model keeps seed a's
    drawn class up to the middle and seed b's after it (a class has no in-between)."""
    from ganstudio.output.generation import generate_images, seeded_inputs, slerp

    with generating(loaded):
        chosen = None if label is None else str(label)
        za, la = seeded_inputs(loaded.model, [a], truncation, chosen)
        zb, lb = seeded_inputs(loaded.model, [b], truncation, chosen)
        labels = la if t < 0.5 else lb
        images = generate_images(loaded.model, slerp(za, zb, t), labels, "cpu")
    return as_png(images, scale)
