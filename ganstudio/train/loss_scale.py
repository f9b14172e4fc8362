"""fp16 loss scaling that says which optimizer steps it skipped: ``TrackingGradScaler`` is the GradScaler every fp16
run gets (accel.Precision.grad_scaler), and ``accel.LossScale`` reads it for the loop.

    scaler = TrackingGradScaler("cuda")
    scaler.skips.clear()                      # at the start of a training step
    ...                                       # the model's scaler.step(opt_d); update(); step(opt_g); update()
    scaler.skips                              # [(id(opt_d), skipped?), (id(opt_g), skipped?)]: bool device tensors

Each flag is the GradScaler's own verdict on that optimizer (its gradients held an inf or a NaN, so ``step`` did not
run it), read on the device without a host sync. A comparison of the scale before and after a whole training step
misses a skip when another update of the same step grew the scale back; the per-step flags do not.
"""

from __future__ import annotations

import torch


class TrackingGradScaler(torch.amp.GradScaler):
    """A GradScaler that records, for every ``step(optimizer)``, whether it skipped that optimizer; its state_dict and
    its scaling are torch's own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skips: list[tuple[int, torch.Tensor]] = []  # (id(optimizer), bool device tensor), until cleared

    def step(self, optimizer, *args, **kwargs):
        result = super().step(optimizer, *args, **kwargs)
        if self.is_enabled():
            # torch's per-optimizer record of this step's inf checks: step() skipped the optimizer when any is set.
            found = list(self._per_optimizer_states[id(optimizer)]["found_inf_per_device"].values())
            if found:
                device = found[0].device
                self.skips.append((id(optimizer), sum(f.to(device) for f in found) > 0))
        return result
