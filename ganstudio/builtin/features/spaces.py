"""The built-in feature spaces: ``classifier`` (offline, the default: the classifier shipped for the dataset),
``inception`` (torch-fidelity's inception-v3-compat, the network of published FIDs; needs its weights file) and
``dinov2`` (ViT-B/14, Stein et al. 2023; needs its weights and model code in the torch hub cache).

    ganstudio eval --features inception --weights weights-inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

from ganstudio import hookimpl
from ganstudio.api import FeatureExtractor

DINOV2_WEIGHTS = "dinov2_vitb14_pretrain.pth"


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


def load_dinov2(weights=None, download=False, **_):
    from ganstudio.errors import GanstudioError
    from ganstudio.scoring.weights import WeightsFile, find_weights, hub_folder

    file = WeightsFile(
        DINOV2_WEIGHTS,
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth",
        size="about 346 MB",
    )
    found = find_weights(file, "dinov2", weights, bool(download))
    code = hub_folder().parent / "facebookresearch_dinov2_main"
    raise GanstudioError(
        f"--features dinov2: found {found.path}, but scoring in DINOv2 features is not wired up in this version "
        f"(it also needs the model code in {code}); use --features inception or classifier"
    )


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
    register(
        FeatureExtractor(
            "dinov2",
            load_dinov2,
            input_size=224,
            channels=3,
            weights=DINOV2_WEIGHTS,
            description="DINOv2 ViT-B/14 (Stein et al. 2023); needs its weights file, not wired up yet",
        )
    )
