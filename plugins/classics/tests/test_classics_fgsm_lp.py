"""The generic Lp FGSM step (P3 Appendix E) against Hoelder's inequality on affine models.

For an affine binary classifier the cross-entropy gradient is a positive multiple of
a = w_other - w_y, so the margin z_y - z_other is affine with gradient -a and one step
delta = eps * u(p) changes it by exactly -eps * <u, a>. The best any ||delta||_p <= eps can
do is -eps * ||a||_q (1/p + 1/q = 1, Hoelder), and the one-step attack must attain it.
"""
from __future__ import annotations

import math

import pytest
import torch

from bench.errors import UsageError
from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model
from robarena_classics.attacks.core import input_gradient, margin
from robarena_classics.attacks.fgsm import FGSM, lp_fgsm_delta, lp_steepest_direction

N = 200
P_VALUES = [1.0, 1.25, 1.5, 2.0, 3.0, 7.0, math.inf]


def dual(p: float) -> float:
    if p == 1.0:
        return math.inf
    return 1.0 if math.isinf(p) else p / (p - 1.0)


@pytest.fixture
def binary():
    model = linear_model(2, seed=10).double()
    x = interior_inputs(N, seed=11).double()
    y = torch.randint(0, 2, (N,), generator=generator(12))
    return model, x, y


@pytest.mark.parametrize("p", P_VALUES)
def test_one_step_lp_attack_attains_the_dual_norm_bound(binary, p):
    model, x, y = binary
    eps = 0.05  # interior inputs in [0.3, 0.7]: the box never binds (||delta||_inf <= ||delta||_p <= eps)
    grad, _, _ = input_gradient(model, x, y, "ce", None)
    delta = lp_fgsm_delta(grad, p, eps)
    w = model.head.weight.detach()
    a = (w[1 - y] - w[y])                                    # (N, d): gradient of -margin
    with torch.no_grad():
        drop = margin(model(x), y) - margin(model(x + delta), y)
    expected = eps * torch.linalg.vector_norm(a, ord=dual(p), dim=1)
    torch.testing.assert_close(drop, expected, rtol=1e-9, atol=1e-12)
    # the step lies on the sphere ||delta||_p = eps
    size = torch.linalg.vector_norm(delta.flatten(1), ord=p, dim=1)
    torch.testing.assert_close(size, torch.full_like(size, eps), rtol=1e-9, atol=0)


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_no_random_point_of_the_lp_ball_beats_the_one_step_direction(p):
    """1000 random points on the unit Lp sphere never exceed <u*, g> = ||g||_q."""
    g = torch.randn(1, 1, 4, 4, generator=generator(3), dtype=torch.float64)
    best = float((lp_steepest_direction(g, p) * g).sum())
    assert best == pytest.approx(float(torch.linalg.vector_norm(g.flatten(), ord=dual(p))), rel=1e-12)
    r = torch.randn(1000, 16, generator=generator(4), dtype=torch.float64)
    r = r / torch.linalg.vector_norm(r, ord=p, dim=1, keepdim=True)
    assert float((r @ g.flatten()).max()) < best


def test_named_norms_are_the_classic_fgsm_steps():
    g = torch.randn(5, 1, 4, 4, generator=generator(5))
    g[0] = 0.0
    torch.testing.assert_close(lp_steepest_direction(g, "Linf"), g.sign(), rtol=0, atol=0)
    l2 = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    torch.testing.assert_close(lp_steepest_direction(g, "L2"), l2, rtol=0, atol=0)
    for p in (1.5, 3.0, 1.0):  # a zero gradient gives no step in every norm
        assert torch.equal(lp_steepest_direction(g, p)[0], torch.zeros_like(g[0]))


def test_generic_form_tends_to_its_limits():
    """p -> inf approaches sign(g); p -> 1 concentrates on the largest |g_i|."""
    g = torch.randn(3, 16, generator=generator(6), dtype=torch.float64)
    near_inf = lp_steepest_direction(g, 1e4)
    torch.testing.assert_close(near_inf, g.sign(), rtol=0, atol=2e-3)
    near_one = lp_steepest_direction(g, 1.0 + 1e-3)
    torch.testing.assert_close(near_one, lp_steepest_direction(g, 1.0), rtol=0, atol=1e-6)
    torch.testing.assert_close(lp_steepest_direction(g, 2.0 + 1e-12), lp_steepest_direction(g, 2.0),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("norm, p", [("Linf", math.inf), ("L2", 2.0)])
def test_fgsm_attack_is_the_generic_form_for_its_norms(binary, norm, p):
    model, x, y = binary
    eps = 0.05
    threat = ThreatModel(norm=norm, eps=eps)
    x_adv = FGSM()(model, x, y, threat).x_adv
    grad, _, _ = input_gradient(model, x, y, "ce", None)
    assert torch.equal(x_adv, threat.project(x + lp_fgsm_delta(grad, p, eps), x))


@pytest.mark.parametrize("p", [0.5, -1.0, float("nan"), "L1"])
def test_invalid_p_is_rejected(p):
    with pytest.raises(UsageError):
        lp_steepest_direction(torch.ones(1, 3), p)
    with pytest.raises(UsageError):
        lp_fgsm_delta(torch.ones(1, 3), 2.0, -0.1)
