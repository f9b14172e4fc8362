"""The ``gif`` callback: samples/<name>/timeline.gif, the fixed-noise grid over training, one frame per grid.

    ganstudio train --data fashion --minutes 10 --grid-every 100 --gif-fps 4 --gif-max-frames 60

A frame is added whenever the loop renders the grid (start, every --grid-every steps, every epoch end, the end),
captioned with its step and epoch, and the GIF is rewritten there and then (atomically: a viewer never sees half
a file). The frames live in samples/<name>/timeline/ (one PNG each plus frames.json), so a resumed run continues
the same timeline. Past --gif-max-frames the timeline is thinned evenly: it keeps every 2nd, then every 4th, ...
frame (plus the newest), so the GIF always spans the whole run at an even pace and never grows without bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, option
from ganstudio.errors import GanstudioError
from ganstudio.output.timeline import DEFAULT_FPS, DEFAULT_MAX_FRAMES, add_caption, caption, write_gif
from ganstudio.store.atomic import atomic_write_text, writing

if TYPE_CHECKING:  # annotations only: numpy is imported where it is used, so `--help` needs none
    import numpy as np


# --- thinning ---------------------------------------------------------------------------------------


def thin_evenly(seqs: list[int], stride: int, max_frames: int) -> tuple[list[int], int]:
    """Which frames to keep: those whose sequence number is a multiple of ``stride`` plus the newest;
    the stride doubles until at most ``max_frames`` remain. Returns (kept sequence numbers, stride)."""
    if max_frames < 2:  # the first and the newest frame are always kept
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    if not seqs:
        return [], stride
    while True:
        kept = [s for s in seqs[:-1] if s % stride == 0] + [seqs[-1]]
        if len(kept) <= max_frames:
            return kept, stride
        stride *= 2


# --- the frames store -------------------------------------------------------------------------------


@dataclass
class Timeline:
    """samples/<name>/timeline/: frame_<seq>.png files and frames.json (what they show, the thinning stride)."""

    folder: Path
    stride: int = 1
    next_seq: int = 0
    frames: list = field(default_factory=list)  # [{"seq", "step", "epoch", "caption"}], oldest first

    @property
    def index_path(self) -> Path:
        return self.folder / "frames.json"

    def frame_path(self, seq: int) -> Path:
        return self.folder / f"frame_{seq:06d}.png"

    @classmethod
    def open(cls, folder: Path, keep_up_to_step: int, saved: dict | None = None) -> "Timeline":
        """The stored timeline without frames made after ``keep_up_to_step`` (a resumed run makes them again).
        ``saved``: the position kept in the checkpoint at that step ({"next_seq", "stride"}), so the frames made
        again get the numbers, and the thinning the pace, of an uninterrupted run.
        Crash-consistent: frames.json is the truth; a frame it lists whose file is gone (a kill mid-thinning in an
        older version) is dropped, and frame files it does not list (a kill after writing one) are deleted."""
        timeline = cls(Path(folder))
        if keep_up_to_step == 0 or not timeline.index_path.is_file():
            timeline.clear()
            return timeline
        try:
            state = json.loads(timeline.index_path.read_text())
            timeline.stride, frames = int(state["stride"]), list(state["frames"])
        except (ValueError, KeyError, TypeError) as e:
            raise GanstudioError(
                f"{timeline.index_path} is damaged ({e}); delete {timeline.folder} to start the timeline afresh"
            ) from None
        next_seq = int(saved["next_seq"]) if saved else None
        timeline.frames = [
            f
            for f in frames
            if f["step"] <= keep_up_to_step
            and (next_seq is None or f["seq"] < next_seq)
            and timeline.frame_path(f["seq"]).is_file()
        ]
        timeline.next_seq = (
            next_seq if next_seq is not None else max((f["seq"] for f in timeline.frames), default=-1) + 1
        )
        timeline.stride = int(saved["stride"]) if saved else timeline.stride
        timeline._save_index()
        timeline._delete_unlisted()
        return timeline

    def clear(self) -> None:
        self.index_path.unlink(missing_ok=True)
        self.stride, self.next_seq, self.frames = 1, 0, []
        self._delete_unlisted()

    def add(self, grid: np.ndarray, step: int, epoch: float, text: str, max_frames: int) -> None:
        from ganstudio.output.images import save_png

        seq = self.next_seq
        with writing(self.frame_path(seq)):
            save_png(grid, self.frame_path(seq))  # new file first; frames.json switches to it; old files go last
        self.frames.append({"seq": seq, "step": step, "epoch": round(epoch, 4), "caption": text})
        self.next_seq += 1
        self.thin(max_frames)

    def thin(self, max_frames: int) -> None:
        kept, self.stride = thin_evenly([f["seq"] for f in self.frames], self.stride, max_frames)
        keep = set(kept)
        self.frames = [f for f in self.frames if f["seq"] in keep]
        self._save_index()
        self._delete_unlisted()

    def _save_index(self) -> None:
        with writing(self.index_path):
            atomic_write_text(self.index_path, json.dumps({"stride": self.stride, "frames": self.frames}, indent=1))

    def _delete_unlisted(self) -> None:
        listed = {self.frame_path(f["seq"]).name for f in self.frames}
        if self.folder.is_dir():
            for path in self.folder.glob("frame_*.png"):
                if path.name not in listed:
                    path.unlink(missing_ok=True)

    def load_frame(self, seq: int) -> np.ndarray:
        import imageio.v3 as iio

        return iio.imread(self.frame_path(seq))


# --- the callback -----------------------------------------------------------------------------------


@dataclass
class GifOptions:
    fps: float = option(
        DEFAULT_FPS, "frames per second of samples/<name>/timeline.gif (GIF delays are in 1/100 s)", min=0.1, max=50
    )
    max_frames: int = option(
        DEFAULT_MAX_FRAMES, "most frames kept in the timeline GIF; older ones are thinned evenly", min=2
    )


class GifCallback:
    def __init__(self, options: GifOptions):
        self.fps = options.fps
        self.max_frames = options.max_frames
        self.timeline: Timeline | None = None
        self.saved: dict | None = None  # the timeline's position at the checkpoint a run resumes from
        self.pictures: dict[int, np.ndarray] = {}  # seq -> captioned frame, so each PNG is read at most once

    def state_dict(self) -> dict:
        return {"next_seq": self.timeline.next_seq, "stride": self.timeline.stride} if self.timeline else {}

    def load_state_dict(self, state: dict) -> None:
        self.saved = dict(state) or None

    def path(self, run) -> Path:
        return run.samples_dir / "timeline.gif"

    @hookimpl
    def before_training_run(self, run):
        self.timeline = Timeline.open(run.samples_dir / "timeline", keep_up_to_step=run.step, saved=self.saved)
        self.timeline.thin(self.max_frames)  # --gif-max-frames may be lower than last time
        if run.step > 0 and self.timeline.frames:
            self.write(run)

    @hookimpl
    def after_grid_rendered(self, run, grid, step):
        text = caption(step, run.epoch)
        self.timeline.add(grid, step, run.epoch, text, self.max_frames)
        self.pictures[self.timeline.frames[-1]["seq"]] = add_caption(grid, text)
        self.write(run)

    def write(self, run) -> None:
        frames = []
        for f in self.timeline.frames:
            if f["seq"] not in self.pictures:
                self.pictures[f["seq"]] = add_caption(self.timeline.load_frame(f["seq"]), f["caption"])
            frames.append(self.pictures[f["seq"]])
        self.pictures = {f["seq"]: self.pictures[f["seq"]] for f in self.timeline.frames}
        with writing(self.path(run)):  # a full disk: one line naming the file; the previous GIF stays
            write_gif(frames, self.path(run), self.fps)


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "gif",
            GifCallback,
            "samples/<name>/timeline.gif: one captioned frame per grid, kept to --gif-max-frames",
            options=GifOptions,
        )
    )
