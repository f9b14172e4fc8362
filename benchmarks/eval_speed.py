"""How long ``ganstudio eval`` takes to score n samples on this machine, stage by stage (target: 10,000
samples in under 60 s on a 2-core CPU). Prints a table; asserts nothing.

    flock /tmp/ganstudio-cpu.lock .venv/bin/python benchmarks/eval_speed.py --n 10000
    .venv/bin/python benchmarks/eval_speed.py --checkpoint checkpoints/readme-fashion/last.pt \\
        --classifier checkpoints/fashion-classifier/last.pt --threads 1

Without --checkpoint / --classifier it times freshly initialised DCGAN and classifier networks of the default
sizes: the cost of scoring does not depend on the weights. Real images: Fashion-MNIST as ``train`` finds it.
The stages are the ones ``ganstudio eval`` runs (ganstudio/builtin/commands/eval.py), through the same functions.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from ganstudio.api import DataRequest, ModelConfig
from ganstudio.plugins import load_plugins
from ganstudio.scoring.evaluation import Reference, extract, random_subset, score_features
from ganstudio.scoring.metrics import feature_stats, frechet_distance, inception_score, kid, precision_recall


class Timer:
    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []

    def __call__(self, label: str, fn, note: str = ""):
        start = time.perf_counter()
        out = fn()
        self.rows.append((label, time.perf_counter() - start, note))
        return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))  # the first paragraph
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--checkpoint", help="GAN checkpoint (default: an untrained default-size DCGAN)")
    parser.add_argument("--classifier", help="classifier checkpoint (default: an untrained default-size classifier)")
    parser.add_argument("--data", default="fashion")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    return parser.parse_args()


def load_models(args, plugins):
    """(training images, test images, GAN, classifier): the checkpoints given, else fresh default-size networks."""
    from ganstudio.api.runs import load_model

    train = plugins.dataset(args.data).load(DataRequest(split="train"))
    test = plugins.dataset(args.data).load(DataRequest(split="test", quiet=True))

    def fresh(name):  # a fresh config per model: a plugin records its default options in it
        return plugins.model(name).build(ModelConfig(train.image_shape, len(train.classes or []) or 10, {})).eval()

    gan = load_model(args.checkpoint, plugins, kind="gan")[0] if args.checkpoint else fresh("dcgan")
    classifier = load_model(args.classifier, plugins, kind="classifier")[0] if args.classifier else fresh("classifier")
    return train, test, gan, classifier


def time_eval(args, plugins, timer: Timer, device):
    """The stages of ``ganstudio eval``, each timed: (reference, the samples' features, training images)."""
    from ganstudio.output.generation import generate_images

    train, test, gan, classifier = timer("load data and models", lambda: load_models(args, plugins))
    n = args.n
    samples = timer(
        f"generate {n:,} samples",
        lambda: generate_images(gan, gan.sample_latent(n, generator=torch.Generator().manual_seed(0)), device=device),
    )
    reference_images = random_subset(train.images, n, 0)
    floor_images = random_subset(test.images, n, 0)
    ref = timer(
        f"features: {len(reference_images):,} training images", lambda: extract(classifier, reference_images, device)
    )
    floor = timer(f"features: {len(floor_images):,} held-out images", lambda: extract(classifier, floor_images, device))
    fake = timer(f"features: {n:,} samples", lambda: extract(classifier, samples, device))
    reference = timer("reference statistics + k-NN radii", lambda: Reference(*ref))
    timer("scores of the samples (all)", lambda: score_features(reference, *fake, train.classes))
    timer("scores of the held-out floor (all)", lambda: score_features(reference, *floor, train.classes))
    return reference, fake, train


def time_parts(reference, fake) -> Timer:
    """The parts of one score_features call, for the curious."""
    parts = Timer()
    mu, sigma = parts("  feature mean/covariance", lambda: feature_stats(fake[0]))
    parts("  Fréchet distance (eigh)", lambda: frechet_distance(reference.mu, reference.sigma, mu, sigma))
    parts("  KID (100 subsets of 1,000)", lambda: kid(reference.features, fake[0]))
    parts("  Inception Score", lambda: inception_score(fake[1]))
    parts(
        "  precision/recall (k=3)", lambda: precision_recall(reference.features, fake[0], 3, real_radii=reference.radii)
    )
    return parts


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plugins = load_plugins(entry_points=False)
    timer = Timer()
    total_start = time.perf_counter()
    reference, fake, train = time_eval(args, plugins, timer, torch.device("cpu"))
    total = time.perf_counter() - total_start
    parts = time_parts(reference, fake)

    n = args.n
    print(
        f"ganstudio eval speed: n={n:,}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    print(f"real data: {train.source}; feature size {fake[0].shape[1]}")
    width = max(len(label) for label, _, _ in timer.rows + parts.rows) + 2
    for label, seconds, _ in timer.rows:
        print(f"{label:<{width}}{seconds:8.2f} s")
    print(f"{'TOTAL (what ganstudio eval does)':<{width}}{total:8.2f} s   ({n / total:,.0f} samples/s end to end)")
    print("breakdown of one score_features call:")
    for label, seconds, _ in parts.rows:
        print(f"{label:<{width}}{seconds:8.2f} s")


if __name__ == "__main__":
    main()
