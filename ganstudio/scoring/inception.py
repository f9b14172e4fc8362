"""The Inception feature space of published FIDs: torch-fidelity's ``inception-v3-compat`` network (the TensorFlow
FID graph, ported exactly), its 2048-d pool features and its logits (for the Inception Score). Needs the
``torch-fidelity`` package (a dependency of ganstudio) and the weights file (scoring/weights.py).

Resize: every image is resized on its own with PIL's bicubic filter to 299x299 and rounded to uint8, grey repeated
to RGB, before the network sees it (clean-fid's argument: one well-defined resize, the same in every library; the
network's own TF1-style bilinear resize is then the identity at 299).

    space = InceptionSpace(find_weights(INCEPTION_WEIGHTS, "inception"), "cpu")
    features, probs = space.encode(images_uint8, "cpu")          # (N, 2048), (N, 1008)
"""

from __future__ import annotations

import io
from typing import Callable, Optional

import numpy as np
import torch

from ganstudio.errors import GanstudioError
from ganstudio.scoring.weights import Found, WeightsFile, build_checked, read_state_dict

SIDE = 299
INCEPTION_WEIGHTS = WeightsFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    sha256_prefix="6726825d",
    size="about 96 MB",
)
RESIZE = "PIL bicubic to 299x299 per image, rounded to uint8; grey repeated to RGB"
BATCH = 32  # images per forward pass: 32 x 3 x 299 x 299 float32 activations stay near 1 GB on the CPU


def fidelity_network():
    """torch-fidelity's FeatureExtractorInceptionV3 class, or one line saying how to install it."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise GanstudioError(
            "--features inception needs torch-fidelity, a dependency of ganstudio: pip install torch-fidelity"
        ) from None
    return FeatureExtractorInceptionV3


def build_network(state: Optional[dict] = None):
    """The inception-v3-compat network with ``state`` loaded (strict), or with its random initial weights (None)."""
    base = fidelity_network()

    class Network(base):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            if not state_dict:  # the constructor's own load of an empty dict: ganstudio loads the weights itself
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    network = Network("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=empty)
    if state is not None:
        network.load_state_dict(state)
    return network


def resize(images: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """uint8 (N, C, H, W), C in 1/3 -> uint8 (N, 3, side, side), by PIL bicubic (see the module's docstring); the
    DINOv2 spaces resize the same way to 224."""
    from PIL import Image

    out = np.empty((len(images), side, side, 3), dtype=np.uint8)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        picture = Image.fromarray(image[..., 0], "L") if image.shape[-1] == 1 else Image.fromarray(image, "RGB")
        out[i] = np.asarray(picture.convert("RGB").resize((side, side), Image.BICUBIC))
    return torch.from_numpy(out).permute(0, 3, 1, 2)


class InceptionSpace:
    """An encoder (see scoring/spaces.py): Inception pool features and class probabilities of uint8 images."""

    name = "inception"
    version = "inception-v3-compat"
    cacheable = True  # 299 px on the CPU: reals are worth caching
    classes = None

    def __init__(self, found: Found, device):
        state = read_state_dict(found, self.name)
        self.network = build_checked(found, "an inception-v3-compat", lambda: build_network(state))
        self.network.to(device)
        self.sha256 = found.sha256
        official = "the published inception-2015-12-05 weights" if found.official else "NOT the published weights"
        self.weights = f"{found.path} (sha256 {found.sha256[:16]}..., {official})"
        self.protocol = {"resize": RESIZE, "input": "uint8 0..255", "features": "2048-d pool3", "network": self.version}

    @torch.no_grad()
    def encode(self, images: torch.Tensor, device, progress: Optional[Callable[[int], None]] = None):
        """(features float32 (N, 2048), softmax of the unbiased logits (N, 1008)), on the CPU."""
        feats, probs = [], []
        for start in range(0, len(images), BATCH):
            batch = resize(images[start : start + BATCH].cpu()).to(device)
            features, logits = self.network(batch)
            feats.append(features.float().cpu())
            probs.append(torch.softmax(logits.double(), dim=1).float().cpu())
            if progress is not None:
                progress(len(batch))
        return torch.cat(feats), torch.cat(probs)
