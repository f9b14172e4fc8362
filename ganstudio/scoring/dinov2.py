"""The DINOv2 feature spaces (Stein et al., NeurIPS 2023: "Exposing flaws of generative model evaluation metrics"):
the CLS token of facebookresearch's DINOv2 ViT-B/14 (``dinov2``) or ViT-L/14 (``dinov2-l``), the feature that
torch-fidelity's ``dinov2-vit-*-14`` extractors and Stein et al.'s dgm-eval score in. The network is timm's DINOv2
ViT (the ``dinov2`` extra: ``pip install 'ganstudio[dinov2]'``), so nothing is fetched from GitHub at run time;
it reads the original facebookresearch weight files (``dinov2_vitb14_pretrain.pth``), found by scoring/weights.py.

Exactly the original network at 224 px: the file's 37x37 position embedding (made for 518 px) is resampled once
the way DINOv2's ``interpolate_pos_encoding`` does it at every forward (bicubic, no antialiasing, scale factor
(16 + 0.1) / 37); timm's own checkpoint filter resamples differently (antialiased, by size) and would not be.

Resize: like the Inception space, each image on its own with PIL's bicubic filter to 224x224, rounded to uint8,
grey repeated to RGB; then /255 and ImageNet's mean and std. DINOv2 has no classes: ``probs`` has no columns, so
the Inception Score and the class rows are absent (scoring/evaluation.py), not faked.

    space = Dinov2Space(VARIANTS["dinov2"], find_weights(VARIANTS["dinov2"].weights, "dinov2"), "cpu")
    features, probs = space.encode(images_uint8, "cpu")          # (N, 768), (N, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ganstudio.errors import GanstudioError
from ganstudio.scoring.weights import Found, WeightsFile, build_checked, read_state_dict

SIDE = 224
PATCH = 14
OFFSET = 0.1  # DINOv2's interpolate_offset: part of its resampling of the position embedding (see the docstring)
MEAN = (0.485, 0.456, 0.406)  # ImageNet's, as DINOv2 was trained and as torch-fidelity and dgm-eval normalise
STD = (0.229, 0.224, 0.225)
RESIZE = "PIL bicubic to 224x224 per image, rounded to uint8; grey repeated to RGB"
BATCH = 32  # images per forward pass: ViT-L/14 on 32 x 257 tokens stays well under 1 GB of activations
URL = "https://dl.fbaipublicfiles.com/dinov2"


@dataclass(frozen=True)
class Variant:
    """One DINOv2 network: its --features name, timm architecture, recorded version and weights file."""

    space: str
    timm_name: str
    version: str
    width: int  # the CLS token's length
    weights: WeightsFile


VARIANTS = {
    "dinov2": Variant(
        "dinov2",
        "vit_base_patch14_dinov2",
        "dinov2-vitb14",
        768,
        # facebookresearch publishes no checksum for these files: the sha256 of the file used is recorded instead
        WeightsFile(
            "dinov2_vitb14_pretrain.pth", f"{URL}/dinov2_vitb14/dinov2_vitb14_pretrain.pth", size="about 346 MB"
        ),
    ),
    "dinov2-l": Variant(
        "dinov2-l",
        "vit_large_patch14_dinov2",
        "dinov2-vitl14",
        1024,
        WeightsFile(
            "dinov2_vitl14_pretrain.pth", f"{URL}/dinov2_vitl14/dinov2_vitl14_pretrain.pth", size="about 1.2 GB"
        ),
    ),
}


def timm_module(space: str):
    """The timm package, or one line saying how to install it."""
    try:
        import timm
    except ImportError:
        raise GanstudioError(f"--features {space} needs the timm package: pip install 'ganstudio[dinov2]'") from None
    return timm


def position_embedding(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """(1, 1 + M*M, D) -> (1, 1 + grid*grid, D), resampled as DINOv2's ``interpolate_pos_encoding`` does."""
    patches = pos_embed.shape[1] - 1
    side = int(round(patches**0.5))
    if side * side != patches:
        raise ValueError(f"pos_embed has {patches} patch positions, not a square grid")
    if side == grid:
        return pos_embed
    dtype, dim = pos_embed.dtype, pos_embed.shape[-1]
    grid_embed = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = (grid + OFFSET) / side
    resampled = torch.nn.functional.interpolate(
        grid_embed, scale_factor=(scale, scale), mode="bicubic", antialias=False
    )
    if tuple(resampled.shape[-2:]) != (grid, grid):
        raise ValueError(f"pos_embed resampled to {tuple(resampled.shape[-2:])}, not {(grid, grid)}")
    resampled = resampled.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((pos_embed[:, :1].float(), resampled), dim=1).to(dtype)


def timm_state(state: dict, grid: int = SIDE // PATCH) -> dict:
    """An original facebookresearch DINOv2 state dict in timm's layout at ``grid`` x ``grid`` patches: the same
    names less the (unused) mask token, the position embedding resampled."""
    state = {k: v for k, v in state.items() if k != "mask_token"}
    if "pos_embed" in state:
        state["pos_embed"] = position_embedding(state["pos_embed"], grid)
    return state


def build_network(variant: Variant, state: Optional[dict] = None):
    """timm's ViT of ``variant`` at 224 px, no head (its output is the CLS token after the final norm), with an
    original DINOv2 ``state`` loaded (strict), or with random weights (None)."""
    timm = timm_module(variant.space)
    state = None if state is None else timm_state(state)  # before the network: a wrong grid fails in no time
    network = timm.create_model(variant.timm_name, pretrained=False, img_size=SIDE, num_classes=0)
    if state is not None:
        network.load_state_dict(state, strict=True)
    return network.eval()


def normalised(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, 224, 224) -> float32 with ImageNet's mean and std."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


class Dinov2Space:
    """An encoder (see scoring/spaces.py): DINOv2 CLS-token features of uint8 images; no class probabilities."""

    cacheable = True  # a ViT at 224 px on the CPU: reals are worth caching
    classes = None

    def __init__(self, variant: Variant, found: Found, device):
        self.name, self.version = variant.space, variant.version
        state = read_state_dict(found, self.name)
        self.network = build_checked(found, f"a DINOv2 {variant.version}", lambda: build_network(variant, state))
        self.network.to(device)
        self.sha256 = found.sha256
        self.weights = f"{found.path} (sha256 {found.sha256[:16]}...; facebookresearch publishes no checksum)"
        self.protocol = {
            "resize": RESIZE,
            "input": "uint8 0..255 / 255, ImageNet mean and std",
            "features": f"{variant.width}-d CLS token after the final norm",
            "network": self.version,
        }

    @torch.no_grad()
    def encode(self, images: torch.Tensor, device, progress: Optional[Callable[[int], None]] = None):
        """(features float32 (N, width), an empty (N, 0) in place of class probabilities), on the CPU."""
        from ganstudio.scoring.inception import resize

        feats = []
        for start in range(0, len(images), BATCH):
            batch = normalised(resize(images[start : start + BATCH].cpu(), SIDE)).to(device)
            feats.append(self.network(batch).float().cpu())
            if progress is not None:
                progress(len(batch))
        features = torch.cat(feats) if feats else torch.empty(0, self.network.num_features)
        return features, torch.empty(len(features), 0)
