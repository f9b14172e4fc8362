"""The ``eval`` callback: ``ganstudio train --eval-every N`` scores the GAN every N steps and keeps the best.

    ganstudio train --data fashion --model dcgan --minutes 10 --eval-every 500
    ganstudio train --data fashion --eval-every 500 --eval-features inception --eval-weights inception.pth

Every N steps: 2,000 samples (``--eval-samples``) from fixed latents (so scores are comparable across steps)
against 2,000 fixed training images, in a feature space (``--eval-features``): the dataset's classifier by default
(the one shipped for fashion, mnist and their -mini subsets; else found under checkpoints/ or trained once), or any
registered space (``inception``: needs its weights file, found or missing at train start). The real images' features
are encoded once per run (and a cacheable space's are read from the cache of ``ganstudio eval``). The scores are
reported into the record of that very step under the space's keys (``fid``, ``kid``, ... in the classifier's;
``fid_inception``, ... in Inception's): the log, the curves and the view show them at their real step, labelled with
their space. The state with the lowest Fréchet distance so far, in the space in use, is kept as
checkpoints/<name>/best.pt beside last.pt (its ``results.eval`` names the space, and the classifier's version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ganstudio import hookimpl
from ganstudio.api import CallbackPlugin, option
from ganstudio.builtin.callbacks.eval_space import (
    DEFAULT,
    check_options,
    declared_metrics,
    describe_space,
    load_training_space,
    space_metrics,
)
from ganstudio.errors import GanstudioError
from ganstudio.scoring.table import BEST, TRAINING_SCORES, labelled, record_key, score

EVAL_SAMPLES = 2000
# The scores reported at their step, declared from the one score table: one label and format everywhere (log line,
# view, curves, ganstudio eval's table); these are the classifier's, declared_metrics() every built-in space's.
SCORES = {key: m for key, m in space_metrics(DEFAULT).items() if key in {s.key for s in TRAINING_SCORES}}
# ... and the floor of the best score: the same score for real training images, a line under it in the curves.
FLOOR = {BEST.floor: space_metrics(DEFAULT)[BEST.floor]}


def describe_scores(scores: dict, space: Optional[str] = DEFAULT) -> str:
    """``FD (classifier) 12.34  KID×10³ 5.67  precision 0.812 ...`` in the declared formats: the first score names
    the space all of them were measured in."""
    return "  ".join(f"{labelled(s, space) if s is BEST else s.label} {s.show(scores[s.key])}" for s in TRAINING_SCORES)


@dataclass
class EvalOptions:
    every: Optional[int] = option(None, "score samples every N steps and keep the best as best.pt", min=1)
    samples: int = option(EVAL_SAMPLES, "samples (and real images) per evaluation", min=10)
    features: str = option(DEFAULT, "feature space (ganstudio plugins lists them)")
    weights: Optional[str] = option(None, "its weights file (None: found in a cache)")


class EvalCallback:
    def __init__(self, options: EvalOptions):
        self.every = options.every  # None: the callback does nothing
        self.n = options.samples
        self.features, self.weights = options.features, options.weights
        self.active = False

    @hookimpl
    def before_training_run(self, run):
        import torch

        from ganstudio.scoring.evaluation import Reference, random_subset

        check_options(self.every, self.features, self.weights)
        self.active = bool(self.every) and run.model.kind == "gan"
        if not self.active:
            return
        c = run.config
        self.space = load_training_space(run, self.features, self.weights)
        self.name = self.space.name
        self.classes = getattr(self.space, "classes", None)
        # the fixed reference set's features: encoded once per run (read from the cache when a space keeps one)
        self.reference = Reference(*self.encode_reals(run, random_subset(run.data.images, self.n, c.seed)))
        self.floor = self.real_floor(run, c.seed)
        noise = torch.Generator().manual_seed(c.seed + 2)
        self.latents = run.model.sample_latent(self.n, generator=noise)
        self.labels = run.model.sample_labels(self.n, generator=noise)
        self.best_path = run.run_dir / "best.pt"
        self.best_fid, other = self._stored_best()
        best = labelled(BEST, self.name)
        floor = f"; floor {best} {BEST.show(self.floor)} (real vs real)" if self.floor is not None else ""
        run.log(
            f"eval every {self.every:,} steps: {self.n:,} samples in the feature space of "
            f"{describe_space(self.space)}{floor}"
        )
        if other:
            run.log(f"best.pt was kept by {labelled(BEST, other)}; from now on it is kept by {best}")

    def encode_reals(self, run, images):
        """(features, probs) of real training images, once; a cacheable space's come from the real-feature cache."""
        from ganstudio.scoring.spaces import cached_encode

        features, probs, _ = cached_encode(self.space, images, run.config.data.name, "train", run.device)
        return features, probs

    def real_floor(self, run, seed: int) -> Optional[float]:
        """FID of n other training images against the reference (the next n rows of the same permutation, so none
        is shared): what a perfect generator would score at this n. Computed once; None when the data is too small.
        (`ganstudio eval` takes its floor from the held-out split instead.)"""
        import torch

        from ganstudio.scoring.evaluation import score_features

        images = run.data.images
        if len(images) < 2 * self.n:
            return None
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        features, probs = self.encode_reals(run, images[order[self.n : 2 * self.n]])
        return float(score_features(self.reference, features, probs, self.classes, kid_subsets=50)[BEST.key])

    def _stored_best(self) -> tuple[float, Optional[str]]:
        """A resumed run keeps improving on the best.pt it already has, if that was kept in the same space; else
        (inf, the space it was kept in)."""
        from ganstudio.store.checkpoint import load_checkpoint

        if not self.best_path.exists():
            return float("inf"), None
        try:
            kept = load_checkpoint(self.best_path)["results"]["eval"]
            space = kept.get("feature_space") or DEFAULT
            if space != self.name:
                return float("inf"), str(space)
            return float(kept[record_key(BEST.key, self.name)]), None
        except (GanstudioError, KeyError, TypeError, ValueError, AttributeError):
            return float("inf"), None

    @hookimpl
    def after_training_step(self, run, step):
        if self.active and step % self.every == 0:
            self.evaluate(run, step)

    def evaluate(self, run, step: int) -> dict:
        from ganstudio.scoring.evaluation import score_features

        images = run.generate(self.latents, self.labels)
        features, probs = self.space.encode(images, run.device)
        scores = score_features(self.reference, features, probs, self.classes, kid_subsets=50)
        for s in TRAINING_SCORES:
            run.report(record_key(s.key, self.name), scores[s.key])
        if self.floor is not None:  # the live view, runs and report show it beside the score
            run.report(record_key(BEST.floor, self.name), self.floor)
        improved = scores[BEST.key] < self.best_fid
        run.log(self.line(step, scores, improved))
        if improved:
            self.best_fid = scores[BEST.key]
            run.save_copy(self.best_path, {"eval": self.kept(scores, step)})
        return scores

    def line(self, step: int, scores: dict, improved: bool) -> str:
        inception = score("inception_score")
        label = labelled(BEST, self.name)
        best = "best so far: saved best.pt" if improved else f"best {label} {BEST.show(self.best_fid)}"
        # a space without classes has no Inception Score; the class shares are the dataset's: the classifier's only
        value = scores.get(inception.key)
        extra = f"  {inception.short} {inception.show(value)}" if value is not None else ""
        if self.name == DEFAULT:
            extra += f"  rarest class {scores['rarest_share'] * 100:.1f}%"
        return f"eval at step {step:,}: {describe_scores(scores, self.name)}{extra}  ({best})"

    def kept(self, scores: dict, step: int) -> dict:
        """best.pt's ``results.eval``: the scores under the space's keys, the step and the space that measured them."""
        from ganstudio.scoring.spaces import describe

        found = getattr(self.space, "found", None)
        where = {"classifier": str(found.path), "classifier_version": found.version} if found is not None else {}
        return {
            **{record_key(k, self.name): v for k, v in scores.items()},
            "step": step,
            **describe(self.space),
            **where,
        }


@hookimpl
def register_callbacks(register):
    register(
        CallbackPlugin(
            "eval",
            EvalCallback,
            "with --eval-every N: FID/KID/precision/recall every N steps (--eval-features: in which feature space), "
            "keeps best.pt",
            options=EvalOptions,
            metrics=declared_metrics(),
        )
    )
