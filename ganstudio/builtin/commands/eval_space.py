"""Which feature space ``ganstudio eval`` scores in (--features, --weights, --classifier), checked against the images
it scores. A helper of eval.py only, so that file stays short.
"""

from __future__ import annotations

import contextlib
import sys

from ganstudio.errors import GanstudioError


def feature_space(args, source, train, notes: list, device):
    """The encoder of --features (scoring/spaces.py), checked against what is scored; notes what differs."""
    from ganstudio.scoring.spaces import load_space

    if args.features != "classifier" and args.classifier:
        raise GanstudioError(f"--classifier is for --features classifier, not --features {args.features}")
    if args.features == "classifier" and args.weights:
        raise GanstudioError("--weights is for --features inception (or dinov2); a classifier is --classifier PATH")
    # --json keeps stdout for the JSON: a classifier trained on demand (or a download) reports on stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        space = load_space(
            args.plugins,
            args.features,
            spec=source.spec,
            checkpoints_dir=args.checkpoints_dir,
            classifier=args.classifier,
            weights=args.weights,
            download=bool(args.download),
            # the classifier trains on demand with the user's --device setting; a network is moved to the device
            device=args.device if args.features == "classifier" else device,
            classes=train.classes if args.classifier else None,
        )
    if hasattr(space, "found"):
        check_classifier(args, source, train, space.found, notes)
    return space


def check_classifier(args, source, train, found, notes: list) -> None:
    """The classifier's images are the ones scored; a user's own classifier trained elsewhere gets a note."""
    cls_ckpt, path = found.ckpt, found.path
    trained_shape = tuple(cls_ckpt["data"]["image_shape"])
    if source.ckpt is not None and tuple(source.ckpt["data"]["image_shape"]) != trained_shape:
        raise GanstudioError(
            f"{source.checkpoint_path} makes {tuple(source.ckpt['data']['image_shape'])} images but "
            f"classifier {path} was trained on {trained_shape}"
        )
    expected_shape = tuple(cls_ckpt["model"]["config"]["image_shape"])
    if source.images is not None and tuple(source.images.shape[1:]) != expected_shape:
        raise GanstudioError(
            f"--samples {args.samples}: images are {tuple(source.images.shape[1:])} (C, H, W), "
            f"but the '{source.spec.name}' classifier expects {expected_shape}"
        )
    # the shipped classifiers serve their dataset wherever its files are: only a user's own one gets this note
    if not found.shipped and cls_ckpt["data"].get("source") and cls_ckpt["data"]["source"] != train.source:
        notes.append(
            f"note: the classifier was trained on {cls_ckpt['data']['source']}; the real images here are {train.source}"
        )
