"""Carlini-Wagner L2 against the closed-form boundary distance of affine classifiers.

Binary affine model, s(x) = (w_1 - w_0).x + b_1 - b_0 = a.x + beta: the smallest L2
perturbation that makes the other class win by kappa is (|s(x)| + kappa) / ||a||_2 (when the
projection stays inside the box). No successful example can be closer, so every reported
distance is >= it; C&W's optimiser reaches it from above within a tolerance that depends
on the iteration budget (measured: <= 1.3 % with 300 Adam steps per c, so we allow 2 %).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model
from robarena_classics.attacks.cw import CWL2, _Adam

L2_BIG = ThreatModel(norm="L2", eps=10.0)   # larger than any distance here: measure distances only


@pytest.fixture(scope="module")
def binary():
    model = linear_model(2, seed=0).double()
    x = interior_inputs(40, seed=1).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def closed_form(model, x, kappa: float):
    """(distance, projection-inside-the-box mask) for the binary affine model."""
    w, b = model.head.weight.detach(), model.head.bias.detach()
    a = w[1] - w[0]
    s = x.flatten(1) @ a + b[1] - b[0]
    dist = (s.abs() + kappa) / a.norm()
    proj = x.flatten(1) - torch.sign(s)[:, None] * (dist / a.norm())[:, None] * a
    return dist, ((proj >= 0) & (proj <= 1)).all(dim=1)


def test_defaults_are_carlini_wagners():
    cfg = CWL2.Config()
    assert (cfg.binary_search_steps, cfg.initial_const, cfg.max_iterations) == (9, 1e-3, 1000)
    assert (cfg.learning_rate, cfg.confidence, cfg.abort_early) == (1e-2, 0.0, True)
    assert CWL2.norms == ("L2",) and CWL2.supports_targeted


@pytest.mark.parametrize("kappa", [0.0, 0.3])
def test_cw_recovers_the_l2_boundary_distance_of_a_binary_linear_model(binary, kappa):
    model, x, y = binary
    out = CWL2(CWL2.Config(max_iterations=300, confidence=kappa))(model, x, y, L2_BIG)
    dist = out.extras["distance"]
    expected, inside = closed_form(model, x, kappa)
    assert int(inside.sum()) >= 20
    rel = dist[inside] / expected[inside] - 1
    assert float(rel.min()) >= -1e-6, "C&W beat the exact minimum: its example is not adversarial"
    assert float(rel.max()) <= 0.02
    # every returned example is adversarial with margin kappa and sits at the reported distance
    with torch.no_grad():
        z = model(out.x_adv)
    assert bool((z.gather(1, (1 - y)[:, None]).squeeze(1) - z.gather(1, y[:, None]).squeeze(1) > kappa).all())
    torch.testing.assert_close((out.x_adv - x).flatten(1).norm(dim=1), dist, rtol=1e-12, atol=0)


def test_targeted_cw_reaches_the_target_beyond_the_pairwise_bound():
    """5 classes: reaching t needs at least crossing the y/t hyperplane, |m_t| / ||w_t - w_y||."""
    model = linear_model(5, seed=3).double()
    x = interior_inputs(20, seed=4).double()
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    t = (y + 1 + torch.randint(0, 4, (20,), generator=generator(5))) % 5
    threat = ThreatModel(norm="L2", eps=10.0, targeted=True)
    out = CWL2(CWL2.Config(max_iterations=200))(model, x, y, threat, target=t)
    with torch.no_grad():
        assert bool((model(out.x_adv).argmax(1) == t).all())
    w = model.head.weight.detach()
    bound = (z.gather(1, y[:, None]) - z.gather(1, t[:, None])).squeeze(1) / (w[y] - w[t]).norm(dim=1)
    assert bool((out.extras["distance"] >= bound * (1 - 1e-9)).all())


def test_failures_report_inf_and_the_clean_input(binary):
    model, x, y = binary
    x, y = x[:6], y[:6]
    # class 2 of this model can never win: its logit is always 100 below class 0's
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    with torch.no_grad():
        lin[1].weight.zero_()
        lin[1].weight[1].copy_(torch.randn(16, generator=generator(6), dtype=torch.float64))
        lin[1].bias.copy_(torch.tensor([0.0, 0.0, -100.0]))
    y0 = torch.zeros(6, dtype=torch.long)
    threat = ThreatModel(norm="L2", eps=10.0, targeted=True)
    out = CWL2(CWL2.Config(max_iterations=50, binary_search_steps=3))(lin.eval(), x, y0, threat,
                                                                      target=torch.full((6,), 2))
    assert bool(torch.isinf(out.extras["distance"]).all())
    assert torch.equal(out.x_adv, x)


def test_eps_below_the_distance_returns_the_clean_input_and_keeps_the_distance(binary):
    model, x, y = binary
    cfg = CWL2.Config(max_iterations=100, binary_search_steps=5)
    big = CWL2(cfg)(model, x, y, L2_BIG)
    eps = float(big.extras["distance"].median())
    small = CWL2(cfg)(model, x, y, ThreatModel(norm="L2", eps=eps))
    torch.testing.assert_close(small.extras["distance"], big.extras["distance"], rtol=0, atol=0)
    beyond = big.extras["distance"] > eps
    assert 0 < int(beyond.sum()) < len(x)
    assert torch.equal(small.x_adv[beyond], x[beyond])
    assert torch.equal(small.x_adv[~beyond], big.x_adv[~beyond])
    # misclassified inputs are adversarial already: distance 0, returned unchanged
    out = CWL2(cfg)(model, x, 1 - y, L2_BIG)
    assert bool((out.extras["distance"] == 0).all()) and torch.equal(out.x_adv, x)


def test_cw_is_deterministic_and_independent_of_batching(binary):
    """Early abort is per example, so an example's result does not depend on its batch."""
    model, x, y = binary
    cfg = CWL2.Config(max_iterations=100, binary_search_steps=4)
    a = CWL2(cfg, seed=0)(model, x, y, L2_BIG)
    b = CWL2(cfg, seed=1)(model, x, y, L2_BIG)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.extras["distance"], b.extras["distance"])
    half = CWL2(cfg)(model, x[:7], y[:7], L2_BIG)
    torch.testing.assert_close(half.extras["distance"], a.extras["distance"][:7], rtol=1e-9, atol=0)


def test_adam_matches_torch_optim_adam():
    w0 = torch.randn(4, 3, generator=generator(7), dtype=torch.float64)
    ref = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=0.01)
    mine, adam = w0.clone(), _Adam(w0, 0.01)
    everywhere = torch.ones(4, 1, dtype=torch.bool)
    for k in range(20):
        g = torch.randn(4, 3, generator=generator(100 + k), dtype=torch.float64)
        ref.grad = g
        opt.step()
        mine = adam.step(mine, g, everywhere)
    torch.testing.assert_close(mine, ref.detach(), rtol=1e-12, atol=1e-15)
    frozen = adam.step(mine, g, torch.tensor([[True], [False], [True], [False]]))
    assert torch.equal(frozen[1], mine[1]) and not torch.equal(frozen[0], mine[0])

