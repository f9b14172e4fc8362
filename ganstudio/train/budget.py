"""How long a run trains: a step target, an epoch target (counted in images) and/or a wall-clock deadline.

budget = Budget(config, epoch_images=60_000, steps_per_epoch=469)
budget.reached(step, images)      # a step or epoch target is met
budget.out_of_time()              # --minutes is spent
budget.fraction(step, images)     # 0..1 of the planned length, the furthest of the three; None: open-ended
budget.total_steps                # the planned length in steps (StepContext.total_steps); None: --minutes only
budget.eta(step, images, steps_per_s, images_per_s)
"""

from __future__ import annotations

import time
from typing import Optional

from ganstudio.config import DEFAULT_EPOCHS


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

    def start(self) -> None:
        self.started = time.monotonic()

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
