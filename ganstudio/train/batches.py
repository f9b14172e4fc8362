"""Real batches for training steps: the whole split on the device as one uint8 tensor, batches gathered by index.

The order of an epoch depends only on (seed, epoch), and the position is the number of batches drawn, so a
resumed run continues the exact data order with no sampler state. The last partial batch is dropped.

Under torchrun each of the W ranks takes its own slice of every global batch of W x batch_size images, so the
union of the ranks' batches is the single-process epoch at batch size W x batch_size, in the same order.
"""

from __future__ import annotations

import torch

from ganstudio.api import Batches, ImageData
from ganstudio.api.images import to_float
from ganstudio.api.model import Batch


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


class DeviceBatches(Batches):
    def __init__(
        self, data: ImageData, batch_size: int, seed: int, device: torch.device, rank: int = 0, ranks: int = 1
    ):
        self.batch_size = batch_size  # per rank: what one batches.next() gives
        self.seed = seed
        self.device = device
        self.rank, self.ranks = rank, ranks
        self.global_batch = batch_size * ranks  # images one draw takes over all ranks
        self.size = len(data)
        self.per_epoch = len(data) // self.global_batch  # (global) batches in an epoch
        # Device copies of the whole split, made once.
        self.images = data.images.to(device)
        self.labels = data.labels.to(device) if data.labels is not None else None
        self.attributes = data.attributes.to(device) if data.attributes is not None else None
        self.drawn = 0  # batches drawn over the whole run
        self._order = None  # (epoch, permutation on the device)

    @property
    def images_drawn(self) -> int:
        """Over all ranks."""
        return self.drawn * self.global_batch

    @property
    def epochs_completed(self) -> int:
        return self.drawn // self.per_epoch

    @property
    def epoch(self) -> float:
        return self.drawn / self.per_epoch

    @property
    def epoch_images(self) -> int:
        """Images in one epoch as the loop counts them (whole batches)."""
        return self.per_epoch * self.global_batch

    def next(self) -> Batch:
        epoch, position = divmod(self.drawn, self.per_epoch)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_permutation(self.seed, epoch, self.size).to(self.device))
        start = position * self.global_batch + self.rank * self.batch_size
        index = self._order[1][start : start + self.batch_size]
        self.drawn += 1
        return Batch(
            images=to_float(self.images[index]),
            labels=self.labels[index] if self.labels is not None else None,
            attributes=self.attributes[index].float() if self.attributes is not None else None,
        )
