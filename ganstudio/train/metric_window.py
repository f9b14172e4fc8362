"""The metric window: the metrics of the steps since the last log line, summed on the device and synced once.

    window.add(model_metrics, skipped)           # every step, no host sync
    window.report("swd", value)                  # a callback's metric, by name, into the current record
    record = window.flush(step, images, epoch)   # one host sync: averages, divergence check, images/s

A step whose fp16 gradients overflowed (the GradScaler skipped it) does not count: its metrics are dropped, the
record says how many were skipped, and non-finite values in it are not called divergence. When the skip is known per
metric (one phase of the step skipped, say D's update, and not G's), only the skipped phase's metrics are dropped.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import torch

from ganstudio.errors import DivergenceError, GanstudioError


class MetricWindow:
    def __init__(self, step: int, images: int, reduce=None, ranks: int = 1):
        # Under torchrun: ``reduce(tensor) -> tensor`` sums over the ``ranks`` processes, so every rank logs the
        # same averages (and stops on the same divergence); the loop flushes every rank at the same steps.
        self.reduce, self.ranks = reduce, ranks
        self._reset(step, images)

    def _reset(self, step: int, images: int) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.kept: Optional[torch.Tensor] = None  # masked steps that counted (a tensor: no sync to know it)
        self.kept_by_key: dict = {}  # steps each metric counted in (tensors once masked)
        self.per_key = False  # a step's skip came per metric: the record averages each over its own count
        self.steps = 0
        self.unmasked = 0  # steps added without a skip mask (no GradScaler): they always count
        self.reported: dict[str, list] = {}  # callback tensors: name -> [sum, count]
        self.values: dict[str, float] = {}  # callback floats, logged at this step
        self.step0, self.images0, self.t0 = step, images, time.monotonic()

    @property
    def urgent(self) -> bool:
        """A callback reported a value for this very step (an eval score): log now, not at the next interval."""
        return bool(self.values)

    def add(self, metrics: dict, skipped=None) -> None:
        """``skipped``: None (no loss scaling), a bool tensor (the step was skipped), or {key: bool tensor} (which
        metrics a skipped phase voids; the step counts as skipped when any is)."""
        per_key = skipped if isinstance(skipped, dict) else None
        if per_key is not None:
            skipped = None
            for flag in per_key.values():
                skipped = flag if skipped is None else skipped | flag
            if skipped is None:  # a step that returned no metrics
                skipped = torch.zeros((), dtype=torch.bool)
        keep = None if skipped is None else (~skipped).float()
        for key, value in metrics.items():
            value = value.detach().float()
            kept = keep if per_key is None or key not in per_key else (~per_key[key]).float()
            if kept is not None:
                value = torch.where(kept > 0, value, torch.zeros_like(value))
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.kept_by_key[key] = self.kept_by_key.get(key, 0) + (kept if kept is not None else 1)
        self.per_key = self.per_key or per_key is not None
        if keep is not None:
            self.kept = keep if self.kept is None else self.kept + keep
        else:
            self.unmasked += 1
        self.steps += 1

    def report(self, name: str, value) -> None:
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not isinstance(value, bool):
            total = self.reported.setdefault(name, [torch.zeros((), device=value.device), 0])
            total[0] = total[0] + value.detach().float()
            total[1] += 1
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.values[name] = float(value)
        else:
            raise GanstudioError(
                f"report('{name}', ...): expected a number or a one-element tensor, got {type(value).__name__}"
            )

    def flush(self, step: int, images: int, epoch: float) -> Optional[dict]:
        """The record of the window (None when no step was taken since the last one), then a fresh window. With
        ``reduce`` every rank must call this at the same steps: the model's metrics are averaged over all ranks."""
        if self.reduce is None and self.steps == 0 and not self.values:
            return None
        keys = list(self.sums)
        device = self.sums[keys[0]].device if keys else torch.device("cpu")
        counted_here = (
            self.kept.to(device) if self.kept is not None else torch.zeros((), device=device)
        ) + self.unmasked
        # Per-metric counts only when a skip came per metric: otherwise every metric counts the steps that counted.
        by_key = [torch.as_tensor(self.kept_by_key[k], dtype=torch.float32).to(device) for k in keys if self.per_key]
        totals = torch.stack([self.sums[k].to(device) for k in keys] + [counted_here] + by_key)
        if self.reduce is not None:
            totals = self.reduce(totals)  # the sums and counts of every rank
        reported = [r[0].to(totals.device) for r in self.reported.values()]  # this rank's callbacks only
        synced = torch.cat([totals] + ([torch.stack(reported)] if reported else [])).cpu().tolist()  # the one host sync
        if self.steps == 0 and not self.values:
            self._reset(step, images)
            return None
        counted = int(round(synced[len(keys)]))
        counts = [round(c) for c in synced[len(keys) + 1 : len(keys) + 1 + len(by_key)]] or [counted] * len(keys)
        now = time.monotonic()
        metrics = {k: v / n for k, v, n in zip(keys, synced, counts) if n}  # a metric no step counted is left out
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise DivergenceError(
                f"training diverged: {', '.join(f'{k}={metrics[k]}' for k in bad)} in steps {self.step0 + 1}-{step}"
            )
        for (name, (_, n)), total in zip(self.reported.items(), synced[len(keys) + 1 + len(by_key) :]):
            metrics[name] = total / n
        metrics.update(self.values)
        if self.steps * self.ranks - counted:
            metrics["fp16_skipped_steps"] = self.steps * self.ranks - counted
        seconds = max(now - self.t0, 1e-9)
        metrics["images_per_s"] = (images - self.images0) / seconds
        metrics["steps_per_s"] = (step - self.step0) / seconds
        record = {"step": step, "epoch": round(epoch, 4), **metrics}
        self._reset(step, images)
        return record
