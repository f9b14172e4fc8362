"""The scores of ganstudio eval against closed forms and constructed cases."""

import math

import pytest
import torch

from ganstudio.scoring.metrics import (
    class_histogram,
    feature_stats,
    frechet_distance,
    inception_score,
    kid,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
    sqrt_psd,
)


def random_rotation(d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_sqrt_psd_squares_back():
    a = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s = a @ a.T
    root = sqrt_psd(s)
    assert torch.allclose(root @ root, s, atol=1e-9)
    assert torch.allclose(root, root.T)


def test_frechet_distance_closed_form_for_commuting_covariances():
    # Same eigenvectors (a shared rotation of diagonal covariances): FD = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    d = 8
    q = random_rotation(d, 1)
    a = torch.linspace(0.5, 3.0, d, dtype=torch.float64)
    b = torch.linspace(2.0, 0.1, d, dtype=torch.float64)
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.full((d,), 0.5, dtype=torch.float64)
    expected = float(((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    got = frechet_distance(mu1, q @ torch.diag(a) @ q.T, mu2, q @ torch.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_closed_form_for_non_commuting_2x2():
    # For 2x2 M with non-negative eigenvalues: tr(sqrt(M)) = sqrt(tr M + 2 sqrt(det M)).
    s1 = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    s2 = torch.tensor([[1.0, 0.6], [0.6, 3.0]], dtype=torch.float64)
    assert not torch.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, -1.0], dtype=torch.float64)
    m = s1 @ s2
    trace_sqrt = math.sqrt(float(torch.trace(m)) + 2 * math.sqrt(float(torch.det(s1) * torch.det(s2))))
    expected = float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2)) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_from_samples_approaches_the_gaussians_value():
    g = torch.Generator().manual_seed(2)
    d, n = 4, 200_000
    a = torch.tensor([1.0, 2.0, 0.5, 1.5])
    x = torch.randn(n, d, generator=g) * a.sqrt()
    y = torch.randn(n, d, generator=g) + 1.0
    expected = d * 1.0 + float(((a.sqrt() - 1) ** 2).sum())
    assert frechet_distance(*feature_stats(x), *feature_stats(y)) == pytest.approx(expected, abs=0.05)


def test_identical_sets_score_zero():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(3))
    assert frechet_distance(*feature_stats(x), *feature_stats(x)) < 1e-8
    assert precision_recall(x, x, k=3) == (1.0, 1.0)
    assert abs(kid(x, x, subsets=10, subset_size=200)[0]) < 0.05 * kid(x, x + 3.0, subsets=10, subset_size=200)[0]


def test_kid_is_unbiased_where_the_plug_in_estimate_is_not():
    # Independent samples of one distribution: the unbiased MMD^2 averages to 0, the biased one (with the
    # diagonal k(x, x) terms) stays clearly positive.
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(400, 50, 8, generator=g), torch.randn(400, 50, 8, generator=g)  # 400 independent trials
    u = mmd2_unbiased(x, y)
    biased = (
        polynomial_kernel(x, x).mean((1, 2))
        + polynomial_kernel(y, y).mean((1, 2))
        - 2 * polynomial_kernel(x, y).mean((1, 2))
    )
    assert u.shape == (400,)
    assert abs(u.mean()) < 3 * u.std() / math.sqrt(len(u))
    assert biased.mean() > 10 * u.std() / math.sqrt(len(u))
    assert (u < 0).any(), "an unbiased estimate of a zero MMD must sometimes be negative"


def test_kid_grows_with_the_shift_between_sets():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    small = kid(x, y + 0.2, subsets=20, subset_size=300)[0]
    large = kid(x, y + 1.0, subsets=20, subset_size=300)[0]
    assert 0 < small < large


def grid(n, offset=(0.0, 0.0)):
    xs, ys = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
    return torch.stack([xs.flatten() + offset[0], ys.flatten() + offset[1]], 1)


def test_precision_drops_with_samples_off_the_real_manifold():
    real = grid(10)
    fake = torch.cat([grid(10), grid(10, offset=(1000.0, 0.0))])  # half the samples nowhere near real data
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 0.5
    assert recall == 1.0


def test_recall_drops_when_a_mode_is_missing():
    real = torch.cat([grid(8), grid(8, offset=(0.0, 500.0))])  # two modes of 64 points
    fake = grid(8) + 0.1  # only the first mode, slightly displaced
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 1.0
    assert recall == 0.5


def test_inception_score_bounds():
    classes = 10
    confident_balanced = torch.eye(classes).repeat(50, 1)
    assert inception_score(confident_balanced, splits=5)[0] == pytest.approx(classes, rel=1e-6)
    assert inception_score(torch.full((500, classes), 1 / classes))[0] == pytest.approx(1.0)
    one_class = torch.zeros(500, classes)
    one_class[:, 3] = 1
    assert inception_score(one_class)[0] == pytest.approx(1.0)


def test_class_histogram_reports_rarest_and_commonest():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    hist = class_histogram(torch.nn.functional.one_hot(labels, 4).float())
    assert hist["counts"] == [5, 3, 2, 0]
    assert hist["rarest_class"] == 3 and hist["rarest_share"] == 0.0
    assert hist["commonest_class"] == 0 and hist["commonest_share"] == 0.5


def test_density_and_coverage_follow_naeem_et_al():
    from ganstudio.scoring.metrics import density_coverage, knn_radii

    g = torch.Generator().manual_seed(0)
    real = torch.randn(600, 8, generator=g)
    radii = knn_radii(real, 5)
    same = torch.randn(600, 8, generator=g)
    density, coverage = density_coverage(real, same, radii, 5)
    assert 0.8 < density < 1.2 and coverage > 0.9, "samples from the real distribution: density about 1, full coverage"
    collapsed = torch.zeros(600, 8)  # every sample at the densest point
    density_c, coverage_c = density_coverage(real, collapsed, radii, 5)
    assert density_c > 1.5 and coverage_c < 0.2, "mode collapse: crowded, little coverage"
    far = torch.randn(600, 8, generator=g) + 10
    assert density_coverage(real, far, radii, 5) == (0.0, 0.0)
    # One real outlier with a huge ball fools precision-like counting far less for density: a single ball, divided by k.
    with_outlier = torch.cat([real, torch.full((1, 8), 30.0)])
    outlier_radii = knn_radii(with_outlier, 5)
    density_o, _ = density_coverage(with_outlier, far, outlier_radii, 5)
    assert density_o <= 0.2


def test_kid_reads_the_same_everywhere():
    from ganstudio.builtin.callbacks.eval import SCORES, describe_scores
    from ganstudio.output.live import format_metrics

    scores = {"fid": 12.3456, "kid": 0.0281234, "precision": 0.5, "recall": 0.25, "density": 0.75, "coverage": 0.5}
    line = describe_scores(scores)
    assert "KID×10³ 28.12" in line and "FD (classifier) 12.35" in line
    assert "KID×10³ (classifier) 28.12" in format_metrics({"kid": 0.0281234}, SCORES)  # labelled: issue 32
