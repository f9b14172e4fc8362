"""Classifier model plugins: ``classifier`` (a small CNN) and ``mlp`` (the classic beginner's network).

    ganstudio train --data fashion --model classifier --minutes 10   # >= 93% test accuracy on 2 CPU cores
    ganstudio train --data fashion --model mlp                       # 784-512-10, RMSprop, 5 epochs

Both have kind "classifier": ``ganstudio eval`` scores GAN samples in their penultimate feature space.
Augmentation runs on the device, on whole batches, with tensor ops (the loop hands over float batches in
[-1, 1]; there is no per-sample PIL step): random shifts of up to ``shift`` pixels, optional mirror flips.
The learning rate follows a cosine schedule over the run's length (``context.fraction``: steps, epochs or
--minutes), so a time-budgeted run ends annealed. Test accuracy is measured at the end and stored in the checkpoint.
The networks are in ganstudio/builtin/models/classifier/nets.py, imported when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio import hookimpl
from ganstudio.api import ModelPlugin, option


@dataclass
class CNNOptions:
    width: int = option(32, "channels of the first conv block; the next two have 2x and 4x", min=1)
    hidden: int = option(256, "size of the penultimate layer: the feature space ganstudio eval measures in", min=1)
    dropout: float = option(0.3, "dropout before the last layer", min=0, below=1)
    lr: float = option(2e-3, "peak AdamW learning rate (cosine decay over the run)", above=0)
    weight_decay: float = option(5e-4, "AdamW weight decay", min=0)
    shift: int = option(
        2, "random translation of up to this many pixels (label-preserving for digits and garments)", min=0
    )
    flip: bool = option(False, "random mirror flips; off because a mirrored 2, 5 or 7 is not a digit")


@dataclass
class MLPOptions:
    hidden: int = option(512, "hidden units", min=1)
    lr: float = option(1e-3, "RMSprop learning rate (Keras defaults: lr 1e-3, rho 0.9, eps 1e-7)", above=0)
    rho: float = option(0.9, "RMSprop smoothing constant", min=0, below=1)


@hookimpl
def register_models(register):
    nets = "ganstudio.builtin.models.classifier.nets"
    register(
        ModelPlugin(
            "classifier",
            f"{nets}:CNNClassifier",
            kind="classifier",
            options=CNNOptions,
            description="small CNN classifier (3 conv blocks, shift augmentation); the feature space of ganstudio eval",
        )
    )
    register(
        ModelPlugin(
            "mlp",
            f"{nets}:MLPClassifier",
            kind="classifier",
            options=MLPOptions,
            description="784-512-10 MLP with RMSprop: the classic beginner's network, for comparison",
        )
    )
