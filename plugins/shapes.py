"""Example local plugin: a synthetic `shapes` dataset (squares, discs and crosses, 1x28x28, 3 classes).

Every ``*.py`` file in ./plugins (or in --plugins-dir DIR) is loaded as a plugin. This one shows the whole
contract for a dataset: a ``register_datasets`` hook that registers a DatasetPlugin whose ``load`` returns
ImageData (uint8 images (N, C, H, W), optional labels and class names, and a ``source`` string).

    ganstudio plugins                           # lists plugins/shapes.py as "plugins folder"
    ganstudio train --data shapes --steps 200   # a GAN that learns three shapes in a minute on a CPU
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
    register(DatasetPlugin("shapes", load_shapes, "example plugin: synthetic squares/discs/crosses, 1x28x28, 3 classes"))
