"""The training view: a rich live display on a terminal, plain log lines otherwise (CI, pipes, files)."""

from __future__ import annotations

import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text

from ganstudio.limits import LINE_CHARS, clean_text

NOT_SHOWN = {"images_per_s", "steps_per_s", "step", "epoch", "elapsed_s"}


def format_value(value, spec=None) -> str:
    """A metric as the model declared it (``Metric.format``), else 4 significant digits: 0.0002 stays readable."""
    if not isinstance(value, float):
        return str(value)
    return spec.format.format(value * spec.scale) if spec is not None else f"{value:.4g}"


def format_metrics(metrics: dict, specs: dict | None = None) -> str:
    """``D loss 0.612  G loss 2.301 ...`` with each model's labels and formats (``TrainableModel.metrics``)."""
    specs = specs or {}
    parts = []
    for key, value in metrics.items():
        if key in NOT_SHOWN:
            continue
        spec = specs.get(key)
        parts.append(f"{spec.label if spec else key} {format_value(value, spec)}")
    return "  ".join(parts)


def inert(text) -> str:
    """A line made safe for a terminal: a run's name or a message quoting a run file's strings cannot send escape
    codes (control characters are removed, line by line)."""
    return "\n".join(clean_text(line, LINE_CHARS) for line in str(text).split("\n"))


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


class LiveView:
    """``with LiveView(title) as view: view.update(fraction, step, epoch, metrics, eta)``."""

    def __init__(
        self, title: str, console: Console | None = None, plain: bool | None = None, plain_interval: float = 5.0
    ):
        self.console = console or Console(stderr=False)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.title = inert(title)  # a run's name, which may come from a checkpoint
        self.plain_interval = plain_interval
        self._last_plain = 0.0
        self.progress = None

    def __enter__(self):
        if not self.plain:
            # Two lines: progress (bar, %, step, speed, ETA) and the metrics under it, which wrap on narrow
            # terminals instead of squeezing the bar away.
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
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
                get_renderable=lambda: Group(self.progress.get_renderable(), self.stats),
            )
            self.live.__enter__()
        return self

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
    ):
        speed = f"{metrics['images_per_s']:,.0f} img/s" if "images_per_s" in metrics else ""
        stats = format_metrics(metrics, metric_specs)
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=min(1000, int(fraction * 1000)),
                position=f"step {step:,} ep {epoch:.2f}",
                speed=speed,
                eta=format_duration(eta),
            )
            self.stats = Text(stats)
        elif force or time.monotonic() - self._last_plain >= self.plain_interval:
            self._last_plain = time.monotonic()
            print(
                f"[{self.title}] {fraction * 100:5.1f}%  step {step:,}  epoch {epoch:.2f}  "
                f"{speed}  ETA {format_duration(eta)}  {stats}",
                flush=True,
            )

    def log(self, message: str):
        """A line that stays above the live display (or a plain line)."""
        message = inert(message)
        if self.progress is not None:
            self.console.print(Text(message))  # as written: a message is never read as markup
        else:
            print(message, flush=True)
            sys.stdout.flush()
