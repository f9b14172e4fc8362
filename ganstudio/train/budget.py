"""How long a run trains: a step target, an epoch target (counted in images) and/or a wall-clock deadline.

budget = Budget(config, epoch_images=60_000, steps_per_epoch=469)
budget.reached(step, images)      # a step or epoch target is met
budget.out_of_time()              # --minutes is spent
budget.fraction(step, images)     # 0..1 of the planned length, the furthest of the three; None: open-ended
budget.total_steps                # the planned length in steps (StepContext.total_steps); None: --minutes only
budget.eta(step, images, steps_per_s, images_per_s)
budget.pace.mark(step, images); budget.pace.rates()   # (steps/s, images/s) over the last minute: the view's speed
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Optional

from ganstudio.config import DEFAULT_EPOCHS

# The view's speed and ETA average the last minute of wall time, not the last log window: a window can be a
# fraction of a second on a GPU, and one that held a grid, an eval or a checkpoint save (or a neighbour's burst on a
# shared CPU) read 3,526 then 292 img/s. Wall time rather than N windows, since a window lasts 0.1 s or 10 s
# depending on the machine; a minute smooths those pauses and still follows a real change of speed within a minute.
PACE_SECONDS = 60.0
PACE_RESOLUTION_S = 1.0  # marks closer than this replace the newest one: at most ~62 points, however fast the logs


class Pace:
    """Steps and images per second over the last ``seconds`` of wall time, from (time, step, images) marks."""

    def __init__(self, seconds: float = PACE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.points: deque = deque()

    def mark(self, step: int, images: int) -> None:
        now = self.clock()
        if len(self.points) >= 2 and now - self.points[-2][0] < PACE_RESOLUTION_S:
            self.points.pop()
        self.points.append((now, step, images))
        # Keep one mark at or before the window's start, so that the average spans the whole window.
        while len(self.points) > 2 and self.points[1][0] <= now - self.seconds:
            self.points.popleft()

    def span(self) -> float:
        return self.points[-1][0] - self.points[0][0] if len(self.points) >= 2 else 0.0

    def rates(self) -> Optional[tuple[float, float]]:
        """(steps/s, images/s) over the window; None before two marks."""
        if self.span() <= 0:
            return None
        (t0, s0, i0), (t1, s1, i1) = self.points[0], self.points[-1]
        return (s1 - s0) / (t1 - t0), (i1 - i0) / (t1 - t0)

    def describe(self) -> str:
        """What the rate averages, for the view: ``20 s avg`` in the first minute, then ``1 min avg``."""
        span = self.span()
        return f"{span:.0f} s avg" if span < 59.5 else f"{span / 60:.0f} min avg"


class Budget:
    def __init__(self, config, epoch_images: int, steps_per_epoch: int = 0):
        self.steps = config.steps
        epochs = config.epochs
        if epochs is None and config.steps is None and config.minutes is None:
            epochs = DEFAULT_EPOCHS
        self.images = epochs * epoch_images if epochs is not None else None
        # The nearer of the two targets, counting an epoch at one batch per step (a model that draws k batches a
        # step stops k times sooner); a --minutes deadline has no length in steps.
        targets = [t for t in (self.steps, epochs * steps_per_epoch if epochs is not None else None) if t is not None]
        self.total_steps: Optional[int] = min(targets) if targets else None
        self.seconds = config.minutes * 60 if config.minutes is not None else None
        self.started = time.monotonic()
        self.pace = Pace()

    def start(self, step: int = 0, images: int = 0) -> None:
        self.started = time.monotonic()
        self.pace = Pace()
        self.pace.mark(step, images)

    def describe_target(self) -> str:
        parts = ([f"step {self.steps:,}"] if self.steps is not None else []) + (
            [f"{self.images:,} images"] if self.images is not None else []
        )
        return " / ".join(parts)

    def reached(self, step: int, images: int) -> bool:
        return (self.steps is not None and step >= self.steps) or (self.images is not None and images >= self.images)

    def out_of_time(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds

    def fraction(self, step: int, images: int) -> Optional[float]:
        done = []
        if self.steps:
            done.append(step / self.steps)
        if self.images:
            done.append(images / self.images)
        if self.seconds:
            done.append((time.monotonic() - self.started) / self.seconds)
        return min(1.0, max(done)) if done else None

    def eta(self, step: int, images: int, steps_per_s: float, images_per_s: float) -> Optional[float]:
        left = []
        if self.steps is not None and steps_per_s > 0:
            left.append(max(0, self.steps - step) / steps_per_s)
        if self.images is not None and images_per_s > 0:
            left.append(max(0, self.images - images) / images_per_s)
        if self.seconds is not None:
            left.append(max(0.0, self.seconds - (time.monotonic() - self.started)))
        return min(left) if left else None
