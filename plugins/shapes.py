"""Example local plugin: a synthetic `shapes` dataset (squares, discs and crosses, 1x28x28, 3 classes).

The ``*.py`` files of ./plugins are loaded once you trust the folder (``ganstudio plugins --trust``), or of any
folder with --plugins-dir DIR. This one shows the whole contract for a dataset: a ``register_datasets`` hook that
registers a DatasetPlugin whose ``load`` returns ImageData (uint8 images (N, C, H, W), optional labels and class
names, and a ``source`` string).

    ganstudio plugins --trust                   # then `ganstudio plugins` lists plugins/shapes.py as "plugins folder"
    ganstudio train --data shapes --steps 200   # about 45 s on 2 quiet CPU cores (beside another job: 77 s with
                                                # OMP_NUM_THREADS=1, 302 s on torch's 2 threads; 2026-12-06)

What it makes, looked at (2026-11-23, 2-core CPU, fp32): after 200 steps, bright blobs where the shapes sit; after
1,233 steps (90 s, --model-option width=32 --batch-size 64) solid white blobs, some square, few clear discs or
crosses. It is an example of a dataset plugin, not a showcase of the GAN: Fashion-MNIST is (see the README).
"""

import torch

from ganstudio import hookimpl
from ganstudio.api import DatasetPlugin, ImageData

CLASSES = ["square", "disc", "cross"]


def make_shapes(n: int, seed: int, side: int = 28) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(CLASSES), (n,), generator=g)
    centre = torch.randint(9, side - 9, (n, 2), generator=g).float()
    radius = torch.randint(4, 8, (n,), generator=g).float()
    ys, xs = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    dy = (ys[None] - centre[:, 0, None, None]).abs()
    dx = (xs[None] - centre[:, 1, None, None]).abs()
    r = radius[:, None, None]
    square = (dx <= r) & (dy <= r)
    disc = dx**2 + dy**2 <= r**2
    cross = ((dx <= r) & (dy <= 1.5)) | ((dy <= r) & (dx <= 1.5))
    masks = torch.stack([square, disc, cross], 1)[torch.arange(n), labels]
    images = (masks.to(torch.uint8) * 255).unsqueeze(1)
    return ImageData(images=images, labels=labels, classes=list(CLASSES), source=f"synthetic shapes (seed {seed})")


def load_shapes(request):
    return make_shapes(6000 if request.split == "train" else 1000, seed=0 if request.split == "train" else 1)


@hookimpl
def register_datasets(register):
    register(
        DatasetPlugin("shapes", load_shapes, "example plugin: synthetic squares/discs/crosses, 1x28x28, 3 classes")
    )
