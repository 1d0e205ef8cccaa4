"""Input-gradient penalty (P3 Eq. 3.1): closed-form value on an affine model, gradcheck of double backprop."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.registry import get_registry
from bench.testing.conformance import check_defense
from robarena_recognizability.defenses.gradient_penalty import (GradientPenaltyConfig, gradient_penalty_loss,
                                                                gradient_penalty_terms)


def test_defaults_are_p3s():
    cfg = GradientPenaltyConfig()
    assert (cfg.beta, cfg.eps, cfg.norm, cfg.q) == (64.0, 8 / 255, "Linf", 1)
    assert GradientPenaltyConfig(norm="L2").q == 2 and GradientPenaltyConfig(eps="4/255").eps == 4 / 255


class Affine(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        return x.flatten(1) @ self.w.T + self.b


class TanhMLP(nn.Module):
    """A smooth two-layer network whose weights are plain tensors (so gradcheck can vary them)."""

    def __init__(self, w1, b1, w2, b2):
        super().__init__()
        self.params = (w1, b1, w2, b2)

    def forward(self, x):
        w1, b1, w2, b2 = self.params
        return torch.tanh(x.flatten(1) @ w1.T + b1) @ w2.T + b2


def batch(n=5, shape=(1, 2, 3), k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=g, dtype=torch.float64)
    return x, torch.randint(0, k, (n,), generator=g), g


@pytest.mark.parametrize("norm, q", [("Linf", 1), ("L2", 2)])
def test_value_on_an_affine_model_matches_the_closed_form(norm, q):
    """grad_x CE(Wx + b, y) = W^T (softmax(Wx + b) - e_y) for each example."""
    x, y, g = batch()
    w, b = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    z = x.flatten(1) @ w.T + b
    grads = (F.softmax(z, dim=1) - F.one_hot(y, 4)) @ w
    norms = grads.abs().sum(1) if q == 1 else grads.pow(2).sum(1).sqrt()
    cfg = GradientPenaltyConfig(beta=64.0, eps=0.1, norm=norm)
    ce, got = gradient_penalty_terms(Affine(w, b), x, y, cfg.q)
    torch.testing.assert_close(got, norms, rtol=1e-12, atol=1e-12)
    expected = F.cross_entropy(z, y) + 64.0 * 0.1 * norms.mean()
    torch.testing.assert_close(gradient_penalty_loss(Affine(w, b), x, y, cfg), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_weight_gradient_of_the_penalty_matches_finite_differences(norm):
    """Double backprop: the loss's gradient w.r.t. every weight, against central differences (float64)."""
    x, y, g = batch(seed=1)
    params = [torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
              for shape in [(5, 6), (5,), (4, 5), (4,)]]
    cfg = GradientPenaltyConfig(beta=64.0, eps=0.1, norm=norm)
    assert torch.autograd.gradcheck(lambda *p: gradient_penalty_loss(TanhMLP(*p), x, y, cfg), params,
                                    eps=1e-6, atol=1e-5, rtol=1e-4)


def test_zero_beta_is_plain_cross_entropy_and_the_penalty_is_not_detached():
    x, y, g = batch(seed=2)
    w = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    model = Affine(w, b)
    torch.testing.assert_close(gradient_penalty_loss(model, x, y, GradientPenaltyConfig(beta=0.0)),
                               F.cross_entropy(model(x), y))
    _, norms = gradient_penalty_terms(model, x, y, 1)
    (gw,) = torch.autograd.grad(norms.sum(), w)
    assert float(gw.abs().sum()) > 0


def test_conformance():
    check_defense(get_registry().get("defense", "recognizability/gradient-penalty"))
