"""How ``ganstudio eval`` shows and records its result: the score table, the printed report and the line appended
to metrics.jsonl. A helper of eval.py only (so that file stays short), not a plugin: it is this command's
presentation, not scoring, so it stays next to its command rather than in ganstudio/scoring/.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ganstudio.errors import GanstudioError
from ganstudio.scoring.table import SCORES, labelled, record_key


def append_to_metrics_file(path: Path, result: dict, ckpt: dict) -> Path:
    """One JSON line like the training log's, with the scores under the same names the eval callback uses."""
    s, space = result["samples"], result.get("feature_space")
    record = {
        "step": result["step"],
        "epoch": round(result["step"] / max(ckpt["progress"].get("steps_per_epoch", 1), 1), 4),
        "event": "eval",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "eval_samples": result["n"],
        "weights": result["weights"],
        # scores of a space other than the classifier's under their own keys (fid_inception): never mixed
        # a score the space has not (DINOv2: no Inception Score, no classes) is left out, never recorded as null
        **{
            record_key(k, space): s[k]
            for k in (*(score.key for score in SCORES), "rarest_share", "commonest_share")
            if s[k] is not None
        },
        **{record_key(score.floor, space): result["real"][score.key] for score in SCORES if score.floor},
        "classifier": result["classifier"],
        "classifier_version": result.get("classifier_version"),  # equal versions: comparable scores
        **{k: result.get(k) for k in ("feature_space", "feature_space_version", "feature_weights_sha256", "protocol")},
        "reference_split": result.get("reference_split"),
        "reference_images": result.get("reference_images"),
    }
    if result.get("class_consistency") is not None:
        record["class_consistency"] = result["class_consistency"]["mean"]
    if result["real"].get("class_consistency") is not None:
        record["floor_class_consistency"] = result["real"]["class_consistency"]["mean"]
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise GanstudioError(f"could not append the scores to {path}: {e.strerror or e}") from None
    return path


WEIGHTS = {"ema": "averaged (EMA) generator", "raw": "raw generator weights", None: ""}


def score_table(result: dict, floor_name: str) -> Table:
    """Each score of the table for the samples and the floor, then class coverage and class consistency."""
    samples, real = result["samples"], result["real"]
    table = Table(show_edge=False)
    table.add_column("score")
    table.add_column("samples", justify="right")
    table.add_column(floor_name, justify="right")
    table.add_column("better")
    space = result.get("feature_space")
    for score in SCORES:
        if samples.get(score.key) is None and real.get(score.key) is None:
            continue  # a space without class probabilities (DINOv2) has no Inception Score: no row, not a dash
        label = labelled(score, space)
        table.add_row(label, score.show(samples[score.key]), score.show(real[score.key]), score.better)
    if space not in (None, "classifier"):
        return table  # the class rows are the dataset's classes: the classifier's space only
    for which in ("rarest", "commonest"):
        cells = (f"{r[which + '_class']} {r[which + '_share'] * 100:.1f}%" for r in (samples, real))
        table.add_row(f"{which} class", *cells, "closer to 10%" if len(samples["class_counts"]) == 10 else "")
    consistency, floor = result.get("class_consistency"), real.get("class_consistency") or {}
    if consistency is not None:
        table.add_row(
            "class consistency",
            f"{consistency['mean'] * 100:.1f}%",
            f"{floor['mean'] * 100:.1f}%" if floor else "",
            "higher",
        )
        table.add_row(
            "least consistent class",
            f"{consistency['worst_class']} {consistency['worst'] * 100:.1f}%",
            f"{floor['worst_class']} {floor['worst'] * 100:.1f}%" if floor else "",
            "higher",
        )
    return table


def feature_space(result: dict) -> str:
    """``fashion-cnn-v1 (shipped with ganstudio; test accuracy 93.10%)``, a user's own classifier's path, or another
    space's version and weights file."""
    if result.get("feature_space") not in (None, "classifier"):
        return f"{result['feature_space']} ({result['feature_space_version']}; weights {result['feature_weights']})"
    acc = result["classifier_test_accuracy"]
    accuracy = f"test accuracy {acc * 100:.2f}%" if acc is not None else ""
    if result.get("classifier_shipped"):
        return f"{result['classifier_version']} (shipped with ganstudio; {accuracy})"
    version = result.get("classifier_version")
    details = "; ".join(part for part in (accuracy, f"version {version}" if version else "") if part)
    return result["classifier"] + (f" ({details})" if details else "")


def shares(per_class: dict) -> str:
    return ", ".join(f"{name} {share * 100:.1f}%" for name, share in per_class.items())


def print_report(result: dict, floor_name: str) -> None:
    what = result["checkpoint"] or result["samples_file"]
    step = f" (step {result['step']:,}, {WEIGHTS[result['weights']]})" if result["step"] is not None else ""
    print(
        f"scored {result['n']:,} images from {what}{step} against {result['reference_images']:,} training images of "
        f"{result['data_source']}"
    )
    print(f"feature space: {feature_space(result)}")
    print("protocol: " + "; ".join(f"{k} {v}" for k, v in result["protocol"].items()))
    Console().print(score_table(result, floor_name))
    below_zero = [(name, r["kid"]) for name, r in (("samples", result["samples"]), (floor_name, result["real"]))]
    for name, value in below_zero:
        if value < 0:
            print(
                f"KID×10³ ≈0 for {name}: the unbiased estimate is {value * 1000:.2f}, below 0, which means "
                f"indistinguishable from the training images at this many images (--json keeps the estimate)"
            )
    if result.get("feature_space") not in (None, "classifier"):
        return print_end(result)
    counts = result["samples"]["class_counts"]
    names = result["classes"] or [str(i) for i in range(len(counts))]
    print("samples per class: " + ", ".join(f"{name} {count}" for name, count in zip(names, counts)))
    consistency, floor = result.get("class_consistency"), result["real"].get("class_consistency")
    if consistency is not None:
        print("seen as the class asked for: " + shares(consistency["per_class"]))
        if floor:
            print("real held-out images seen as their class: " + shares(floor["per_class"]))
    print_end(result)


def print_end(result: dict) -> None:
    cached = "; real features read from the cache" if result.get("real_features_cached") else ""
    appended = f"appended to {result['metrics_file']}  " if result["metrics_file"] else ""
    print(f"{appended}({result['seconds']:.1f} s{cached})")
