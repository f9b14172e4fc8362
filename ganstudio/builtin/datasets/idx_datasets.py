"""MNIST and Fashion-MNIST from the standard IDX .gz files, plus the small subsets shipped in the package.

    ganstudio train --data fashion --data-root /usr/share/datasets/fashion-mnist

Search order for the full data (the first that holds all four files wins, and is named to the user):
--data-root, $GANSTUDIO_DATA, ~/.cache/ganstudio/<name>, system locations, then --download (torchvision).
Without --download and with nothing found, the embedded subset is used, with a warning.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ganstudio import hookimpl
from ganstudio.api import DataRequest, DatasetPlugin, ImageData
from ganstudio.builtin.datasets import cache_root, download_failure, remove_empty_folders
from ganstudio.errors import GanstudioError

EMBEDDED = Path(__file__).resolve().parent / "files"
SPLIT_PREFIX = {"train": "train", "test": "t10k"}

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DIGITS = [str(i) for i in range(10)]


@dataclass
class IdxDataset:
    name: str
    title: str
    torchvision_name: str  # folder name in torchvision's layout, and the class to download with
    system_dirs: tuple[str, ...]
    classes: list[str]
    mini: str  # name of the embedded subset

    # -- where the files are -------------------------------------------------------------------

    def files(self, split: str) -> tuple[str, str]:
        prefix = SPLIT_PREFIX[split]
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def find_in(self, base: Path, split: str):
        """The folder under ``base`` (itself, <name>/, or torchvision's <Name>/raw/) holding the split's files."""
        for folder in (base, base / self.name, base / self.torchvision_name / "raw"):
            found = []
            for stem in self.files(split):
                hit = next(
                    (folder / f"{stem}{ext}" for ext in (".gz", "") if (folder / f"{stem}{ext}").is_file()), None
                )
                found.append(hit)
            if all(found):
                return found
        return None

    def candidates(self) -> list[tuple[str, Path]]:
        places = []
        if os.environ.get("GANSTUDIO_DATA"):
            places.append(("$GANSTUDIO_DATA", Path(os.environ["GANSTUDIO_DATA"])))
        places.append(("cache", cache_root() / self.name))
        places += [("system", Path(d)) for d in self.system_dirs]
        return places

    # -- loading -------------------------------------------------------------------------------

    def check_request(self, request: DataRequest) -> None:
        if request.image_size not in (None, 28):
            raise GanstudioError(
                f"{self.title} images are 28x28; --image-size {request.image_size} "
                "is for datasets that resize (folder, celeba)"
            )
        if request.channels not in (None, 1):
            raise GanstudioError(
                f"{self.title} images are grayscale; --channels {request.channels} "
                "is for datasets that convert (folder, celeba)"
            )

    def load_mini(self, request: DataRequest) -> ImageData:
        """``--data fashion-mini`` / ``mnist-mini``: the embedded subset, asked for by name (no warning)."""
        self.check_request(request)
        return self.load_embedded(request.split)

    def load(self, request: DataRequest) -> ImageData:
        self.check_request(request)
        if request.root is not None:
            root = Path(request.root).expanduser()
            files = self.find_in(root, request.split)
            if files is None:
                stems = ", ".join(f"{s}.gz" for s in self.files(request.split))
                raise GanstudioError(
                    f"--data-root {root} does not hold {self.title} "
                    f"({stems}, directly or under {self.torchvision_name}/raw/)"
                )
            return self.read(files, f"{self.title} from {files[0].parent} (--data-root)")
        looked = []
        for label, base in self.candidates():
            files = self.find_in(base, request.split)
            if files:
                return self.read(files, f"{self.title} from {files[0].parent} ({label})")
            looked.append(str(base))
        if request.download:
            return self.download(request)
        mini = self.load_embedded(request.split)
        if not request.quiet:
            print(
                f"warning: full {self.title} not found (looked in {', '.join(looked)}); using the embedded subset "
                f"'{self.mini}' ({len(mini)} {request.split} images). For the full data pass --data-root DIR, set "
                f"$GANSTUDIO_DATA, or add --download"
                + (" (or: apt-get install dataset-fashion-mnist)" if self.name == "fashion" else ""),
                file=sys.stderr,
            )
        return mini

    def load_embedded(self, split: str) -> ImageData:
        files = self.find_in(EMBEDDED / self.mini, split)
        data = self.read(files, f"embedded subset '{self.mini}'")
        return data

    def download(self, request: DataRequest) -> ImageData:
        import torchvision.datasets as tvd

        target = cache_root() / self.name
        existed = target.exists()
        if not request.quiet:
            print(f"downloading {self.title} into {target} (through torchvision) ...", file=sys.stderr)
        try:
            getattr(tvd, self.torchvision_name)(root=str(target), train=request.split == "train", download=True)
        except Exception as e:  # network errors come in many types; all mean the same to the user
            if not existed:
                remove_empty_folders(target, keep=cache_root())
            raise GanstudioError(
                f"could not download {self.title} ({download_failure(e)}): put the four IDX .gz files in a "
                f"folder and pass --data-root DIR"
            ) from None
        files = self.find_in(target, request.split)
        if files is None:
            raise GanstudioError(f"download finished but the IDX files are not under {target}")
        return self.read(files, f"{self.title} from {files[0].parent} (downloaded)")

    def read(self, files, source: str) -> ImageData:
        from ganstudio.builtin.datasets.idx_files import read_idx

        images = read_idx(files[0], expect_ndim=3)
        labels = read_idx(files[1], expect_ndim=1)
        if len(images) != len(labels):
            raise GanstudioError(f"{files[0]} has {len(images)} images but {files[1]} has {len(labels)} labels")
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise GanstudioError(
                f"{files[1]}: label {int(labels.max())} is out of range for {self.title} ({len(self.classes)} classes)"
            )
        return ImageData(images=images.unsqueeze(1), labels=labels.long(), classes=list(self.classes), source=source)


FASHION = IdxDataset(
    "fashion", "Fashion-MNIST", "FashionMNIST", ("/usr/share/datasets/fashion-mnist",), FASHION_CLASSES, "fashion-mini"
)
MNIST = IdxDataset("mnist", "MNIST", "MNIST", ("/usr/share/datasets/mnist",), DIGITS, "mnist-mini")


@hookimpl
def register_datasets(register):
    # cdcgan: the best row of docs/models.md on Fashion-MNIST (10 CPU-minutes, full data and the embedded subset).
    # MNIST keeps dcgan until it is measured the same way.
    register(
        DatasetPlugin(
            "fashion",
            FASHION.load,
            "Fashion-MNIST, 1x28x28, 10 classes (full data; embedded subset as fallback)",
            default_model="cdcgan",
        )
    )
    register(
        DatasetPlugin("mnist", MNIST.load, "MNIST digits, 1x28x28, 10 classes (full data; embedded subset as fallback)")
    )
    # The 4,000 images train cdcgan with BCE, not the hinge: FD 63.57 against 70.75 in one pair at 10 CPU-minutes
    # (EMA weights; 0.55x against 0.61x DCGAN's in the rounds before), docs/models.md, fourth round
    register(
        DatasetPlugin(
            "fashion-mini",
            FASHION.load_mini,
            "embedded Fashion-MNIST subset: 4,000 train / 1,000 test",
            default_model="cdcgan",
            default_model_options={"hinge": "false"},
        )
    )
    register(DatasetPlugin("mnist-mini", MNIST.load_mini, "embedded MNIST subset: 4,000 train / 1,000 test"))
