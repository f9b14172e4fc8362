"""Rebuild ganstudio/builtin/datasets/files/fashion-mini from the full Fashion-MNIST (Debian's dataset-fashion-mnist).

    python scripts/make_fashion_mini.py /usr/share/datasets/fashion-mnist

Takes the first 400 images of each class from the training set and the first 100 of each class from
the test set, keeping their original order; writes the four IDX .gz files.
"""

import sys
from pathlib import Path

import torch

from ganstudio.builtin.datasets.idx_files import read_idx, write_idx

PER_CLASS = {"train": 400, "t10k": 100}


def main(source: str, dest: str = "ganstudio/builtin/datasets/files/fashion-mini") -> None:
    src, out = Path(source), Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for split, per_class in PER_CLASS.items():
        images = read_idx(src / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(src / f"{split}-labels-idx1-ubyte.gz")
        keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(10)]).sort().values
        write_idx(out / f"{split}-images-idx3-ubyte.gz", images[keep].numpy())
        write_idx(out / f"{split}-labels-idx1-ubyte.gz", labels[keep].numpy())
        print(f"{split}: {len(keep)} images")


if __name__ == "__main__":
    main(*sys.argv[1:])
