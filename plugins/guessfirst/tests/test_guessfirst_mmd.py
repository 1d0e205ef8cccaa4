"""MMD estimators against closed forms, brute force and exact algebraic identities."""
from __future__ import annotations

import math

import pytest
import torch

from bench.errors import UsageError
from robarena_guessfirst.mmd import gaussian_gram, label_mmd, median_bandwidth, mmd2


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("unbiased", [False, True])
def test_point_masses_give_two_minus_twice_the_kernel(unbiased):
    """P = delta_a, Q = delta_b: MMD^2 = k(a,a) + k(b,b) - 2 k(a,b) = 2 - 2 exp(-|a-b|^2 / (2 s^2))."""
    a, b, sigma = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, -1.0, 2.5]), 1.7
    x, y = a.repeat(5, 1).double(), b.repeat(7, 1).double()
    expected = 2 - 2 * math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma ** 2))
    assert float(mmd2(x, y, sigma=sigma, unbiased=unbiased)) == pytest.approx(expected, rel=1e-12)


def gaussian_mmd2_closed_form(m1, s1, m2, s2, sigma):
    """1-D: E k(X, Y) = sigma / sqrt(sigma^2 + s1^2 + s2^2) exp(-(m1 - m2)^2 / (2 (sigma^2 + s1^2 + s2^2)))."""
    def ek(ma, sa, mb, sb):
        v = sigma ** 2 + sa ** 2 + sb ** 2
        return sigma / math.sqrt(v) * math.exp(-(ma - mb) ** 2 / (2 * v))
    return ek(m1, s1, m1, s1) + ek(m2, s2, m2, s2) - 2 * ek(m1, s1, m2, s2), ek(m1, s1, m1, s1), ek(m2, s2, m2, s2)


def test_unbiased_estimate_of_two_gaussians_matches_the_closed_form():
    """N(0, 1) vs N(1, 0.5^2), sigma = 1; closed form 0.2032...; 3,000 samples a side (fixed seed).

    The estimator's standard deviation here is about 0.004 (sqrt of the variance of the
    U-statistic's kernel, <= 1, times 2 / sqrt(n)), so 0.015 is a 4-sigma band.
    """
    n, sigma = 3000, 1.0
    exact, _, _ = gaussian_mmd2_closed_form(0.0, 1.0, 1.0, 0.5, sigma)
    g = gen(0)
    x = torch.randn(n, 1, generator=g, dtype=torch.float64)
    y = 1.0 + 0.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    assert float(mmd2(x, y, sigma=sigma, unbiased=True)) == pytest.approx(exact, abs=0.015)
    same = torch.randn(n, 1, generator=g, dtype=torch.float64)
    assert abs(float(mmd2(x, same, sigma=sigma, unbiased=True))) < 0.005  # P = Q: MMD^2 = 0


def test_biased_minus_unbiased_is_the_exact_diagonal_correction():
    """V_xx = ((m-1)/m) U_xx + k(x,x)/m with k(x,x) = 1: biased - unbiased = (1 - U_xx)/m + (1 - U_yy)/n."""
    g = gen(1)
    x, y = torch.randn(9, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    sigma = 1.3
    def u(z):
        k = gaussian_gram(z, z, sigma)
        return (k.sum() - k.diagonal().sum()) / (z.shape[0] * (z.shape[0] - 1))
    diff = mmd2(x, y, sigma=sigma) - mmd2(x, y, sigma=sigma, unbiased=True)
    torch.testing.assert_close(diff, (1 - u(x)) / 9 + (1 - u(y)) / 6, rtol=1e-12, atol=1e-14)


def test_biased_estimate_equals_a_brute_force_double_loop():
    g = gen(2)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    sigma = 0.9

    def k(a, b):
        return math.exp(-sum((float(p) - float(q)) ** 2 for p, q in zip(a, b)) / (2 * sigma ** 2))

    ref = (sum(k(a, b) for a in x for b in x) / 25 + sum(k(a, b) for a in y for b in y) / 16
           - 2 * sum(k(a, b) for a in x for b in y) / 20)
    assert float(mmd2(x, y, sigma=sigma)) == pytest.approx(ref, rel=1e-12)


def test_median_heuristic_on_known_points():
    x = torch.tensor([[0.0], [1.0], [3.0]])  # distances 1, 3, 2: median 2
    assert float(median_bandwidth(x)) == pytest.approx(2.0)
    assert float(median_bandwidth(torch.zeros(4, 2))) == 1.0  # degenerate: falls back to 1
    # sigma=None uses the pooled median: same value as passing it explicitly
    g = gen(3)
    a, b = torch.randn(6, 2, generator=g), torch.randn(5, 2, generator=g)
    torch.testing.assert_close(mmd2(a, b), mmd2(a, b, sigma=float(median_bandwidth(torch.cat([a, b])))))


def classes_with_equal_counts(c=3, per=4, d=5, seed=4):
    g = gen(seed)
    reps = torch.randn(c * per, d, generator=g, dtype=torch.float64) + torch.arange(c * per).remainder(c).view(-1, 1)
    labels = torch.arange(c * per).remainder(c)
    return reps, labels


def test_label_mmd_is_class_vs_mixture_mmd_averaged_over_classes():
    """Equal class counts: P_R (uniform mixture of the classes) is the pooled sample, so each
    term is the two-sample MMD^2 between class c and the whole batch (computed independently)."""
    reps, labels = classes_with_equal_counts()
    sigma = 1.1
    ref = sum(float(mmd2(reps[labels == c], reps, sigma=sigma)) for c in range(3)) / 3
    assert float(label_mmd(reps, labels, sigma=sigma)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
def test_label_mmd_is_pairwise_class_mmd_over_two_c_squared_for_equal_counts(unbiased):
    """Equal counts (pooled mean = class-balanced mean): 1/C sum_c ||mu_c - mu_R||^2 =
    1/(2 C^2) sum_{c, c'} ||mu_c - mu_c'||^2."""
    reps, labels = classes_with_equal_counts()
    sigma = 0.8
    pair = sum(float(mmd2(reps[labels == a], reps[labels == b], sigma=sigma, unbiased=unbiased))
               for a in range(3) for b in range(3) if a != b)
    assert float(label_mmd(reps, labels, sigma=sigma, unbiased=unbiased)) == pytest.approx(pair / 18, rel=1e-10)


def test_label_mmd_uses_the_pooled_marginal_with_unequal_counts():
    """Unequal counts: each term is the two-sample MMD^2 between class c and the pooled batch
    (the empirical P_R), not the distance to the class-balanced mean 1/C sum_c mu_c."""
    g = gen(5)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    reps = torch.randn(10, 3, generator=g, dtype=torch.float64) + labels.view(-1, 1)
    sigma = 0.8
    pooled = sum(float(mmd2(reps[labels == c], reps, sigma=sigma)) for c in range(3)) / 3
    balanced = sum(float(mmd2(reps[labels == a], reps[labels == b], sigma=sigma))
                   for a in range(3) for b in range(3) if a != b) / 18
    got = float(label_mmd(reps, labels, sigma=sigma))
    assert got == pytest.approx(pooled, rel=1e-12) and abs(got - balanced) > 1e-3


def test_label_mmd_closed_form_orthonormal_embeddings():
    """Three distinct points with a kernel so narrow that k(a, b) = exp(-1/(2 * 0.01^2)) underflows
    to 0 exactly: the embeddings phi_1, phi_2, phi_3 are orthonormal. Class 0 = {x1}, class 1 =
    {x2, x3}: mu_R = (phi_1 + phi_2 + phi_3) / 3, ||mu_0 - mu_R||^2 = 4/9 + 2/9 = 2/3,
    ||mu_1 - mu_R||^2 = 1/9 + 2/36 = 1/6, so L = (2/3 + 1/6) / 2 = 5/12 (the class-balanced
    mean would give 3/8)."""
    reps = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    assert float(label_mmd(reps, labels, sigma=0.01)) == pytest.approx(5 / 12, rel=1e-14)


def test_label_mmd_closed_form_two_points_one_repeated():
    """Class 0 = {0}, class 1 = {1, 1} in 1-D, sigma 1: with a = k(0, 1) = exp(-1/2) and
    ||phi(0) - phi(1)||^2 = 2 (1 - a), mu_R = (phi(0) + 2 phi(1)) / 3 gives
    L = (4/9 + 1/9) * 2 (1 - a) / 2 = 5 (1 - a) / 9."""
    reps = torch.tensor([[0.0], [1.0], [1.0]], dtype=torch.float64)
    a = math.exp(-0.5)
    assert float(label_mmd(reps, torch.tensor([0, 1, 1]), sigma=1.0)) == pytest.approx(5 * (1 - a) / 9, rel=1e-14)


def test_label_mmd_per_hypothesis_and_degenerate_cases():
    reps, labels = classes_with_equal_counts()
    stacked = torch.stack([reps, 2 * reps, reps.flip(0)], dim=1)  # (N, 3, D)
    per = label_mmd(stacked, labels, sigma=1.0)
    assert per.shape == (3,)
    for h in range(3):
        assert float(per[h]) == pytest.approx(float(label_mmd(stacked[:, h], labels, sigma=1.0)), rel=1e-12)
    # identical multisets of representations in every class: no label information
    same = torch.randn(4, 3, generator=gen(6), dtype=torch.float64).repeat(3, 1)
    assert float(label_mmd(same, torch.arange(3).repeat_interleave(4), sigma=1.0)) == pytest.approx(0.0, abs=1e-14)
    assert float(label_mmd(reps, torch.zeros(12, dtype=torch.long))) == 0.0  # one class
    with pytest.raises(UsageError, match="labels"):
        label_mmd(reps, labels[:-1])
    with pytest.raises(UsageError, match="sigma"):
        mmd2(reps, reps, sigma=0.0)


def test_label_mmd_is_differentiable():
    reps, labels = classes_with_equal_counts()
    reps.requires_grad_(True)
    label_mmd(reps, labels).backward()
    assert torch.isfinite(reps.grad).all() and reps.grad.abs().sum() > 0
