"""The built-in feature spaces: ``classifier`` (offline, the default: the classifier shipped for the dataset),
``inception`` (torch-fidelity's inception-v3-compat, the network of published FIDs; needs its weights file) and
``dinov2`` / ``dinov2-l`` (DINOv2 ViT-B/14 and ViT-L/14, Stein et al. 2023; need timm and their weights file).

    ganstudio eval --features inception --weights weights-inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api import FeatureExtractor


def load_classifier(plugins, spec, checkpoints_dir, classifier=None, device="cpu", classes=None, plain=False, **_):
    from ganstudio.scoring.spaces import ClassifierSpace
    from ganstudio.train.classifier import ensure_classifier

    found = ensure_classifier(plugins, spec, checkpoints_dir, classifier, device=device, classes=classes, plain=plain)
    return ClassifierSpace(found)


def load_inception(weights=None, download=False, device="cpu", **_):
    from ganstudio.scoring.inception import INCEPTION_WEIGHTS, InceptionSpace, fidelity_network
    from ganstudio.scoring.weights import find_weights

    fidelity_network()  # says how to install torch-fidelity before looking for a file it cannot use
    return InceptionSpace(find_weights(INCEPTION_WEIGHTS, "inception", weights, bool(download)), device)


def dinov2_loader(space: str):
    """The loader of the DINOv2 space ``space`` (``dinov2``: ViT-B/14, ``dinov2-l``: ViT-L/14)."""

    def load_dinov2(weights=None, download=False, device="cpu", **_):
        from ganstudio.scoring.dinov2 import VARIANTS, Dinov2Space, timm_module
        from ganstudio.scoring.weights import find_weights

        variant = VARIANTS[space]
        timm_module(space)  # says how to install timm before looking for a file it cannot use
        return Dinov2Space(variant, find_weights(variant.weights, space, weights, bool(download)), device)

    return load_dinov2


@hookimpl
def register_feature_extractors(register):
    register(
        FeatureExtractor(
            "classifier",
            load_classifier,
            input_range="float -1..1",
            description="the classifier shipped for the dataset (offline; what to watch while training)",
        )
    )
    register(
        FeatureExtractor(
            "inception",
            load_inception,
            input_size=299,
            channels=3,
            weights="weights-inception-2015-12-05-6726825d.pth",
            description="Inception-V3 (torch-fidelity inception-v3-compat): FID/KID/IS comparable with papers",
        )
    )
    for space, file, what in (
        ("dinov2", "dinov2_vitb14_pretrain.pth", "DINOv2 ViT-B/14 (Stein et al. 2023): cheaper, for tracking"),
        ("dinov2-l", "dinov2_vitl14_pretrain.pth", "DINOv2 ViT-L/14 (Stein et al. 2023): the one to quote"),
    ):
        register(
            FeatureExtractor(
                space, dinov2_loader(space), input_size=224, channels=3, weights=file, description=f"{what}; needs timm"
            )
        )
