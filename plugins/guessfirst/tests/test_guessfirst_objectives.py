"""JS, DV and energy objectives against their formulas on hand-made scores, and tightness at T*."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.errors import UsageError
from robarena_guessfirst.objectives import dv_objective, energy_objective, js_objective, loss, objective

T = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -2.0], [-0.5, 0.25, 3.0], [1.0, 1.0, -1.0]], dtype=torch.float64)
Y = torch.tensor([0, 1, 1, 2])


def test_js_matches_f_gan_conjugate_form():
    """Nowozin et al. 2016 (JS row): g(v) = log 2 - log(1 + e^-v), f*(t) = -log(2 - e^t);
    bound = E_P[g(T)] - E_Q[f*(g(T))], with P the 4 true pairs and Q all 12 pairs."""
    t = T.numpy()
    g = lambda v: math.log(2) - np.log1p(np.exp(-v))  # noqa: E731
    fstar = lambda s: -np.log(2 - np.exp(s))  # noqa: E731
    joint = np.array([t[i, y] for i, y in enumerate(Y.tolist())])
    expected = g(joint).mean() - fstar(g(t)).mean()
    assert float(js_objective(T, Y)) == pytest.approx(expected, rel=1e-12)


def test_dv_matches_the_donsker_varadhan_formula():
    t = T.numpy()
    joint = np.array([t[i, y] for i, y in enumerate(Y.tolist())])
    expected = joint.mean() - math.log(np.exp(t).mean())
    assert float(dv_objective(T, Y)) == pytest.approx(expected, rel=1e-12)
    # DV is invariant to adding a constant to T (the optimum is log-ratio + any constant)
    assert float(dv_objective(T + 7.0, Y)) == pytest.approx(expected, rel=1e-12)
    assert float(js_objective(T + 7.0, Y)) != pytest.approx(float(js_objective(T, Y)))


def test_energy_is_log_k_minus_cross_entropy():
    assert float(energy_objective(T, Y)) == pytest.approx(math.log(3) - float(F.cross_entropy(T, Y)), rel=1e-12)


def test_loss_is_the_negated_bound_and_names_are_checked():
    for name in ("js", "dv", "energy"):
        assert float(loss(name, T, Y)) == -float(objective(name, T, Y))
    with pytest.raises(UsageError, match="unknown Guess-First objective"):
        objective("kl", T, Y)
    with pytest.raises(UsageError, match="labels"):
        js_objective(T, Y[:2])


def optimal_scores(b: int, k: int, labels: torch.Tensor, far: float = -60.0) -> torch.Tensor:
    """T* = log p/q for a batch of B distinct images: p = 1/B on true pairs, q = 1/(BK) everywhere,
    so log K on true pairs and -inf (here ``far``) elsewhere."""
    t = torch.full((b, k), far, dtype=torch.float64)
    t[torch.arange(b), labels] = math.log(k)
    return t


def test_bounds_are_tight_at_the_log_density_ratio():
    """P = uniform over the B true pairs, Q = uniform over all B x K pairs (the batch estimates).
    At T* the DV bound equals KL(P || Q) = log K and the JS bound equals
    2 JS(P || Q) = KL(P || M) + KL(Q || M), M = (P + Q) / 2, computed from the definitions."""
    b, k = 5, 4
    labels = torch.tensor([0, 3, 1, 1, 2])
    t = optimal_scores(b, k, labels)
    p = np.zeros((b, k))
    p[np.arange(b), labels.numpy()] = 1.0 / b
    q = np.full((b, k), 1.0 / (b * k))
    m = (p + q) / 2
    kl = lambda a, c: float(np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / c), 0.0)))  # noqa: E731
    assert float(dv_objective(t, labels)) == pytest.approx(kl(p, q), abs=1e-12)
    assert kl(p, q) == pytest.approx(math.log(k))
    assert float(js_objective(t, labels)) == pytest.approx(kl(p, m) + kl(q, m), abs=1e-12)
    # and anything else scores lower (a lower bound, maximised at T*)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        other = t + 0.3 * torch.randn(t.shape, generator=g, dtype=torch.float64)
        assert float(js_objective(other, labels)) < float(js_objective(t, labels))
        assert float(dv_objective(other, labels)) < float(dv_objective(t, labels)) + 1e-12


def test_js_gradient_vanishes_only_at_sigmoid_equal_to_p_over_p_plus_q():
    """d/dT[i, k] of the JS bound = w_P 1[k = y_i] (1 - sigma(T)) - w_Q sigma(T), w_P = 1/B, w_Q = 1/(BK):
    its root is sigma(T) = p / (p + q), i.e. T = log(p / q) (checked here at T = 0, sigma = 1/2)."""
    b, k = 3, 2
    labels = torch.tensor([0, 1, 1])
    t = torch.zeros(b, k, dtype=torch.float64, requires_grad=True)
    js_objective(t, labels).backward()
    w_p, w_q = 1.0 / b, 1.0 / (b * k)
    sig = 0.5
    expected = torch.full((b, k), -w_q * sig, dtype=torch.float64)
    expected[torch.arange(b), labels] += w_p * (1 - sig)
    torch.testing.assert_close(t.grad, expected)
