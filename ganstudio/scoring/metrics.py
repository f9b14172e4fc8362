"""Sample-quality scores computed on classifier features: no internet, no Inception weights.

    import torch
    from ganstudio.scoring.metrics import frechet_distance, feature_stats, kid, precision_recall
    real, fake = torch.randn(2000, 64), torch.randn(2000, 64) + 0.1
    print(frechet_distance(*feature_stats(real), *feature_stats(fake)))   # ~0.64 (= 64 * 0.1**2) plus noise
    print(kid(real, fake))                                                # (mean, std) over subsets
    print(precision_recall(real, fake, k=3))                              # (precision, recall)

All functions take float tensors (N, D) of features (or (N, classes) probabilities) and return floats.
Heavy pairwise work is chunked so 10,000 x 10,000 comparisons stay within a few hundred MB.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Optional

import torch


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) in float64 (unbiased, as numpy.cov)."""
    x = features.double()
    mu = x.mean(0)
    centred = x - mu
    sigma = centred.T @ centred / max(len(x) - 1, 1)
    return mu, sigma


@contextmanager
def one_thread():
    """Run small dense linear algebra on one thread: a 256x256 eigh takes ~15 ms on one core, but up to
    0.4 s on two threads when other processes compete for the cores (threads wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix through its eigendecomposition
    (tiny negative eigenvalues from rounding are clamped to 0)."""
    with one_thread():
        values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), the Fréchet distance of two Gaussians.

    tr((S1 S2)^(1/2)) = tr((A S2 A)^(1/2)) with A = S1^(1/2): A S2 A is symmetric PSD, so its square root's
    trace is the sum of the square roots of its eigenvalues (no scipy.linalg.sqrtm, no complex parts)."""
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    root1 = sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    with one_thread():
        trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    value = diff @ diff + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt
    return max(float(value), 0.0)


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x.y / d + 1)^3, the kernel of the KID paper (Bińkowski et al. 2018); batched over leading dims."""
    return (x @ y.transpose(-1, -2) / x.shape[-1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of MMD^2 with the polynomial kernel (diagonal terms left out); can be < 0.
    x (..., m, d), y (..., n, d): leading dimensions are independent subsets, one estimate each."""
    m, n = x.shape[-2], y.shape[-2]
    # kernels in float32 (the matmuls dominate the cost), sums in float64 (a million terms each)
    x, y = x.float(), y.float()
    f64 = torch.float64
    kxx, kyy, kxy = (polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
    within_x = (kxx.sum((-1, -2), dtype=f64) - kxx.diagonal(dim1=-2, dim2=-1).sum(-1, dtype=f64)) / (m * (m - 1))
    within_y = (kyy.sum((-1, -2), dtype=f64) - kyy.diagonal(dim1=-2, dim2=-1).sum(-1, dtype=f64)) / (n * (n - 1))
    return within_x + within_y - 2 * kxy.sum((-1, -2), dtype=f64) / (m * n)


def kid(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and standard deviation of the unbiased MMD^2 over random subsets."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    g = torch.Generator().manual_seed(seed)
    real_idx = torch.stack([torch.randperm(len(real), generator=g)[:size] for _ in range(subsets)])
    fake_idx = torch.stack([torch.randperm(len(fake), generator=g)[:size] for _ in range(subsets)])
    real, fake = real.float(), fake.float()
    values = []
    for start in range(0, subsets, 2):  # 2 subsets at a time: kernels of 8 MB stay in the allocator's cache
        values.append(mmd2_unbiased(real[real_idx[start : start + 2]], fake[fake_idx[start : start + 2]]))
    t = torch.cat(values)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0


def inception_score(probs: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) from class probabilities (N, classes): mean and std over ``splits`` parts.
    Ranges from 1 (every sample looks alike or undecided) to the number of classes (confident and balanced)."""
    p = probs.double().clamp(min=1e-12)
    scores = []
    for part in torch.tensor_split(p, min(splits, len(p))):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(1).mean()
        scores.append(math.exp(float(kl)))
    t = torch.tensor(scores)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0


def _pairwise_chunks(a: torch.Tensor, b: torch.Tensor, chunk: int = 512):
    """Yield (start, squared distances of a[start:start+chunk] to all of b); small chunks, in-place arithmetic:
    fresh 100 MB buffers per chunk cost more in page faults than the matmul itself."""
    b_sq = (b * b).sum(1)
    b_t = b.T
    for start in range(0, len(a), chunk):
        part = a[start : start + chunk]
        d2 = torch.addmm(b_sq.unsqueeze(0), part, b_t, alpha=-2)  # |b|^2 - 2 a.b
        d2.add_((part * part).sum(1, keepdim=True))
        yield start, d2.clamp_(min=0)


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    radii = torch.empty(len(features), dtype=features.dtype)
    for start, d2 in _pairwise_chunks(features, features):
        # the point itself is at distance 0 and is the first of the k+1 smallest
        radii[start : start + len(d2)] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def manifold_coverage(points: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of ``points`` inside at least one ball (centre in ``manifold``, squared radius ``radii``)."""
    inside = 0
    for _, d2 in _pairwise_chunks(points, manifold):
        inside += int((d2 <= radii.unsqueeze(0)).any(1).sum())
    return inside / len(points)


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, real_radii: Optional[torch.Tensor] = None
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): precision is the share of fake samples
    inside the real manifold (union of k-NN balls of real features); recall the share of real samples
    inside the fake manifold. ``real_radii`` (from knn_radii(real, k)) saves recomputing them."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples in each set")
    real, fake = real.float(), fake.float()
    precision = manifold_coverage(fake, real, knn_radii(real, k) if real_radii is None else real_radii)
    recall = manifold_coverage(real, fake, knn_radii(fake, k))
    return precision, recall


def density_coverage(real: torch.Tensor, fake: torch.Tensor, real_radii: torch.Tensor, k: int) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), over the k-NN balls of the real features (``real_radii`` from
    knn_radii(real, k)). Density: how many real balls hold each sample, divided by k (about 1 for real data; above 1
    where samples crowd the densest real regions); unlike precision it is not fooled by a few real outliers with huge
    balls. Coverage: the share of real balls that hold at least one sample (mode coverage; at most 1)."""
    real, fake = real.float(), fake.float()
    inside_balls = 0
    covered = torch.zeros(len(real), dtype=torch.bool)
    for _, d2 in _pairwise_chunks(fake, real):
        hits = d2 <= real_radii.unsqueeze(0)
        inside_balls += int(hits.sum())
        covered |= hits.any(0)
    return inside_balls / (k * len(fake)), float(covered.double().mean())


def class_histogram(probs: torch.Tensor, num_classes: Optional[int] = None) -> dict:
    """Predicted-class counts and mode coverage: share of the rarest and the commonest class."""
    num_classes = num_classes or probs.shape[1]
    counts = torch.bincount(probs.argmax(1), minlength=num_classes)
    shares = counts.double() / max(len(probs), 1)
    return {
        "counts": counts.tolist(),
        "rarest_share": float(shares.min()),
        "commonest_share": float(shares.max()),
        "rarest_class": int(shares.argmin()),
        "commonest_class": int(shares.argmax()),
    }
