"""The training view: a rich live display on a terminal, plain log lines otherwise (CI, pipes, files)."""

from __future__ import annotations

import sys
import time
from collections import deque

from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Column
from rich.text import Text

from ganstudio.limits import clean_lines
from ganstudio.output.termdraw import HalfBlocks, sample_strip, sparkline
from ganstudio.scoring.table import SCORES, SPACE_NAMES, labelled, ordered, record_key

NOT_SHOWN = {"images_per_s", "steps_per_s", "step", "epoch", "elapsed_s"}
SPARK_POINTS = 16  # log records a loss's sparkline shows: enough for a trend, short enough for two on a line


def format_value(value, spec=None) -> str:
    """A metric as the model declared it (``Metric.format``), else 4 significant digits: 0.0002 stays readable."""
    if not isinstance(value, float):
        return str(value)
    return spec.format.format(value * spec.scale) if spec is not None else f"{value:.4g}"


def format_metrics(metrics: dict, specs: dict | None = None, skip=()) -> str:
    """``D loss 0.612  G loss 2.301 ...`` with each model's labels and formats (``TrainableModel.metrics``)."""
    specs = specs or {}
    parts = []
    for key, value in metrics.items():
        if key in NOT_SHOWN or key in skip:
            continue
        spec = specs.get(key)
        parts.append(f"{spec.label if spec else key} {format_value(value, spec)}")
    return "  ".join(parts)


def is_loss(key: str, spec) -> bool:
    return spec.group == "losses" if spec is not None else key.startswith("loss")


def format_scores(record: dict) -> str:
    """``FD (classifier) 61.50 (floor 3.21)  KID×10³ 18.40 ...``: the eval scores of a record, space by space (the
    first of each names its feature space), with the floor of each when it was recorded beside it (the same score
    for held-out real images: as good as the score can get)."""
    parts = []
    for space in ordered(SPACE_NAMES):
        shown_space = False
        for score in SCORES:
            value = record.get(record_key(score.key, space))
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            floor = record.get(record_key(score.floor, space)) if score.floor else None
            shown = f" (floor {score.show(floor)})" if isinstance(floor, (int, float)) else ""
            label = score.label if shown_space else labelled(score, space)
            parts.append(f"{label} {score.show(value)}{shown}")
            shown_space = True
    return "  ".join(parts)


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


class LiveView:
    """``with LiveView(title) as view: view.update(fraction, step, epoch, metrics, eta)``; on a terminal also
    ``view.show_samples(images, cols, step)`` at each grid (a strip of it drawn in half-block pixels)."""

    def __init__(
        self, title: str, console: Console | None = None, plain: bool | None = None, plain_interval: float = 5.0
    ):
        self.console = console or Console(stderr=False)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.title = clean_lines(title)  # a run's name, which may come from a checkpoint
        self.plain_interval = plain_interval
        self._last_plain = 0.0
        self.progress = None
        self.losses: dict[str, deque] = {}  # key -> its recent values, for the sparklines
        self.sparks = None  # the losses with their sparklines
        self.scores = Text("")  # the latest eval scores, kept until the next eval
        self.samples = None  # the newest grid's strip, with its caption

    @property
    def shows_samples(self) -> bool:
        """Whether show_samples draws anything (a terminal): the loop renders no grid just for a plain log."""
        return not self.plain

    def __enter__(self):
        if not self.plain:
            # Two lines: progress (bar, %, step, speed, ETA) and the metrics under it, which wrap on narrow
            # terminals instead of squeezing the bar away.
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(table_column=Column(min_width=12)),  # narrow terminals wrap the text, not the bar
                TaskProgressColumn(),
                TextColumn("{task.fields[position]}"),
                TextColumn("[cyan]{task.fields[speed]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
            )
            self.task = self.progress.add_task(escape(self.title), total=1000, position="", speed="", eta="--:--")
            self.stats = Text("")
            self.live = Live(
                console=self.console,
                refresh_per_second=4,
                get_renderable=self._renderable,
            )
            self.live.__enter__()
        return self

    def _renderable(self):
        # Called by Live's refresh thread 4 times a second: everything in it is built already (the strip once
        # per grid, the text once per log record), so a redraw costs training next to nothing.
        parts = [self.progress.get_renderable(), self.stats]
        if self.sparks is not None:
            parts.append(self.sparks)
        if self.scores:
            parts.append(self.scores)
        if self.samples is not None:
            parts.extend(self.samples)
        return Group(*parts)

    def show_samples(self, images, cols: int, step: int) -> None:
        """The newest fixed-latent grid (uint8 (N, C, H, W), from the generator EMA) as a strip of half-block
        pixels under the progress line; ``cols``: the grid's columns (one sample of each row comes first)."""
        if self.plain or len(images) == 0:
            return
        strip = HalfBlocks(sample_strip(images, cols, self.console.width))
        self.samples = (strip, Text(f"samples at step {step:,} (fixed latents)", style="dim"))

    def _remember(self, step: int, metrics: dict, specs: dict) -> set:
        """Keep the losses' recent values (drawn as sparklines) and the latest scores; returns the losses drawn."""
        drawn = {}
        for key, value in metrics.items():
            spec = specs.get(key)
            if isinstance(value, float) and key not in NOT_SHOWN and is_loss(key, spec):
                values = self.losses.setdefault(key, deque(maxlen=SPARK_POINTS))
                values.append(value)
                if len(values) > 1:  # each "label value line" stays whole: Columns wraps between them
                    drawn[key] = Text(f"{spec.label if spec else key} {format_value(value, spec)} {sparkline(values)}")
        self.sparks = Columns(list(drawn.values()), padding=(0, 2)) if drawn else None
        scores = format_scores(metrics)
        if scores:
            self.scores = Text(f"{scores}  at step {step:,}")
        return set(drawn)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.live.__exit__(*exc)
        return False

    def update(
        self,
        fraction: float,
        step: int,
        epoch: float,
        metrics: dict,
        eta: float | None,
        force: bool = False,
        metric_specs: dict | None = None,
        speed: tuple[float, str] | None = None,
    ):
        """``speed``: (images/s, what it averages), e.g. (412.0, "1 min avg"); else the record's own images/s."""
        if speed is not None:
            speed_text = f"{speed[0]:,.0f} img/s ({speed[1]})"
        else:
            speed_text = f"{metrics['images_per_s']:,.0f} img/s" if "images_per_s" in metrics else ""
        if self.progress is not None:
            stats = format_metrics(metrics, metric_specs, skip=self._remember(step, metrics, metric_specs or {}))
            if speed is not None:  # under the bar: with its "(1 min avg)" the progress line would crowd it out
                stats, speed_text = f"{speed_text}  {stats}", ""
            self.progress.update(
                self.task,
                completed=min(1000, int(fraction * 1000)),
                position=f"step {step:,} ep {epoch:.2f}",
                speed=speed_text,
                eta=format_duration(eta),
            )
            self.stats = Text(stats)
        elif force or time.monotonic() - self._last_plain >= self.plain_interval:
            self._last_plain = time.monotonic()
            print(
                f"[{self.title}] {fraction * 100:5.1f}%  step {step:,}  epoch {epoch:.2f}  "
                f"{speed_text}  ETA {format_duration(eta)}  {format_metrics(metrics, metric_specs)}",
                flush=True,
            )

    def log(self, message: str):
        """A line that stays above the live display (or a plain line)."""
        message = clean_lines(message)
        if self.progress is not None:
            self.console.print(Text(message))  # as written: a message is never read as markup
        else:
            print(message, flush=True)
            sys.stdout.flush()
