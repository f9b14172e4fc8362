"""The ``eval`` callback: ``ganstudio train --eval-every N`` scores the GAN every N steps and keeps the best.

    ganstudio train --data fashion --model dcgan --minutes 10 --eval-every 500

Every N steps: 2,000 samples (``--eval-samples``) from fixed latents (so scores are comparable across steps)
against 2,000 fixed training images, in the feature space of the dataset's classifier (the one shipped for fashion,
mnist and their -mini subsets; else found under checkpoints/ or trained once). The scores are reported into the
record of that very step (``fid``, ``kid``, ``precision``, ``recall``): the log, the curves and the view all show
them at their real step. The state with the lowest FID so far is kept as checkpoints/<name>/best.pt beside last.pt
(its ``results.eval`` names the classifier's version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, Metric, option
from ganstudio.errors import GanstudioError
from ganstudio.scoring.table import BEST, TRAINING_SCORES, score

EVAL_SAMPLES = 2000
# The scores reported at their step, declared from the one score table: one label and format everywhere (log line,
# view, curves, ganstudio eval's table).
SCORES = {
    s.key: Metric(s.label, s.group, format=s.format, range=s.range, points=True, scale=s.scale) for s in TRAINING_SCORES
}
# ... and the floor of the best score: the same score for real training images, a line under it in the curves.
FLOOR = {BEST.floor: Metric(f"{BEST.label} of real images", BEST.group, format=BEST.format, points=True)}


def describe_scores(scores: dict) -> str:
    """``FID 12.34  KID×10³ 5.67  precision 0.812 ...`` in the declared formats."""
    return "  ".join(f"{s.label} {s.show(scores[s.key])}" for s in TRAINING_SCORES)


@dataclass
class EvalOptions:
    every: Optional[int] = option(
        None, "score samples every N steps (FID, KID, precision, recall) and keep best.pt", min=1
    )
    samples: int = option(EVAL_SAMPLES, "samples (and real images) per evaluation", min=10)


class EvalCallback:
    def __init__(self, options: EvalOptions):
        self.every = options.every  # None: the callback does nothing
        self.n = options.samples
        self.active = False

    @hookimpl
    def before_training_run(self, run):
        import torch

        from ganstudio.scoring.evaluation import Reference, extract, random_subset
        from ganstudio.train.classifier import ensure_classifier

        self.active = bool(self.every) and run.model.kind == "gan"
        if not self.active:
            return
        c = run.config
        # plain progress lines: the training run's own live display is already on screen
        found = ensure_classifier(run.plugins, c.data, c.checkpoints_dir, device=c.device, plain=True)
        self.classifier, self.classifier_path, self.version = found.model, found.path, found.version
        self.feature_space = f"{found.version} (shipped with ganstudio)" if found.shipped else str(found.path)
        expected = tuple(self.classifier.config.image_shape)
        if expected != tuple(run.data.image_shape):
            raise GanstudioError(
                f"--eval-every: classifier {self.classifier_path} expects {expected} "
                f"images, this run makes {tuple(run.data.image_shape)}"
            )
        self.classifier.to(run.device)
        real = random_subset(run.data.images, self.n, c.seed)
        self.reference = Reference(*extract(self.classifier, real, run.device))
        self.classes = list(run.data.classes or []) or None
        self.floor = self.real_floor(run, c.seed)
        noise = torch.Generator().manual_seed(c.seed + 2)
        self.latents = run.model.sample_latent(self.n, generator=noise)
        self.labels = run.model.sample_labels(self.n, generator=noise)
        self.best_path = run.run_dir / "best.pt"
        self.best_fid = self._stored_best()
        floor = f"; floor {BEST.label} {BEST.show(self.floor)} (real vs real)" if self.floor is not None else ""
        run.log(
            f"eval every {self.every:,} steps: {self.n:,} samples in the feature space of {self.feature_space}{floor}"
        )

    def real_floor(self, run, seed: int) -> Optional[float]:
        """FID of n other training images against the reference (the next n rows of the same permutation, so none
        is shared): what a perfect generator would score at this n. Computed once; None when the data is too small.
        (`ganstudio eval` takes its floor from the held-out split instead.)"""
        import torch

        from ganstudio.scoring.evaluation import extract, score_features

        images = run.data.images
        if len(images) < 2 * self.n:
            return None
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        features, probs = extract(self.classifier, images[order[self.n : 2 * self.n]], run.device)
        return float(score_features(self.reference, features, probs, self.classes, kid_subsets=50)[BEST.key])

    def _stored_best(self) -> float:
        """A resumed run keeps improving on the best.pt it already has."""
        from ganstudio.store.checkpoint import load_checkpoint

        if not self.best_path.exists():
            return float("inf")
        try:
            return float(load_checkpoint(self.best_path)["results"]["eval"][BEST.key])
        except (GanstudioError, KeyError, TypeError):
            return float("inf")

    @hookimpl
    def after_training_step(self, run, step):
        if self.active and step % self.every == 0:
            self.evaluate(run, step)

    def evaluate(self, run, step: int) -> dict:
        from ganstudio.scoring.evaluation import extract, score_features

        images = run.generate(self.latents, self.labels)
        features, probs = extract(self.classifier, images, run.device)
        scores = score_features(self.reference, features, probs, self.classes, kid_subsets=50)
        for key in SCORES:
            run.report(key, scores[key])
        if self.floor is not None:
            run.report(BEST.floor, self.floor)  # the live view, runs and report show it beside the score
        improved = scores[BEST.key] < self.best_fid
        inception = score("inception_score")
        best = "best so far: saved best.pt" if improved else f"best {BEST.label} {BEST.show(self.best_fid)}"
        run.log(
            f"eval at step {step:,}: {describe_scores(scores)}  "
            f"{inception.short} {inception.show(scores[inception.key])}  "
            f"rarest class {scores['rarest_share'] * 100:.1f}%  ({best})"
        )
        if improved:
            self.best_fid = scores[BEST.key]
            kept = {**scores, "step": step, "classifier": str(self.classifier_path), "classifier_version": self.version}
            run.save_copy(self.best_path, {"eval": kept})
        return scores


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "eval",
            EvalCallback,
            "with --eval-every N: FID/KID/precision/recall every N steps, keeps best.pt",
            options=EvalOptions,
            metrics={**SCORES, **FLOOR},
        )
    )
