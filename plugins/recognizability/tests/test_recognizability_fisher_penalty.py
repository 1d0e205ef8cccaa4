"""Fisher/Jacobian penalty (P3 Eq. 3.6): the random-projection estimator against dense Jacobians.

The estimator is random, so its tests average many draws and compare with the exact value
within 4 standard errors of the sample mean (the draws come from a fixed generator, so the
test is deterministic; the standard error is also required to be small, so it can fail).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.api import TrainContext
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from robarena_recognizability.defenses.fisher_penalty import (FisherPenaltyConfig, fisher_jacobian_estimate,
                                                              fisher_penalty_loss, unit_sphere)

DRAWS = 4000
BLOCKS, PER_BLOCK = 40, 200


class TanhMLP(nn.Module):
    def __init__(self, w1, b1, w2, b2):
        super().__init__()
        self.params = (w1, b1, w2, b2)

    def forward(self, x):
        w1, b1, w2, b2 = self.params
        return torch.tanh(x.flatten(1) @ w1.T + b1) @ w2.T + b2


def setup(seed=0, n=3, d=6, h=5, k=4):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in [(h, d), (h,), (k, h), (k,)]]
    x = torch.rand((n, 1, 2, 3), generator=g, dtype=torch.float64)
    return params, x


def exact_penalty(model, x, create_graph=False) -> torch.Tensor:
    """sum_k ||grad_x f_k||^2 / f_k per example from the dense softmax Jacobian (K x d)."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: F.softmax(model(v.unsqueeze(0)), 1)[0], xi,
                                                 create_graph=create_graph).flatten(1)
        p = F.softmax(model(xi.unsqueeze(0)), 1)[0]
        out.append((jac.pow(2).sum(1) / p).sum())
    return torch.stack(out)


def test_defaults():
    cfg = FisherPenaltyConfig()
    assert (cfg.beta, cfg.eps, cfg.n_proj) == (1.0, 8 / 255, 1)


def test_exact_value_is_the_fisher_trace():
    """||F_f^{1/2} J||_F^2 = tr F_x = sum_k f_k ||grad log f_k||^2 (P3 Eq. B.2, B.3): two dense routes agree."""
    params, x = setup()
    model = TanhMLP(*params)
    via_log = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: F.log_softmax(model(v.unsqueeze(0)), 1)[0], xi).flatten(1)
        fisher = jac.T @ torch.diag(F.softmax(model(xi.unsqueeze(0)), 1)[0]) @ jac  # F_x (d x d)
        via_log.append(torch.trace(fisher))
    torch.testing.assert_close(exact_penalty(model, x), torch.stack(via_log).detach(), rtol=1e-10, atol=1e-12)


def test_unit_sphere_rows_have_unit_norm_and_identity_second_moment():
    v = unit_sphere(20000, 4, torch.Generator().manual_seed(0), torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(v.norm(dim=1), torch.ones(20000, dtype=torch.float64))
    torch.testing.assert_close(4 * v.T @ v / 20000, torch.eye(4, dtype=torch.float64), atol=0.03, rtol=0)


def test_estimator_expectation_is_the_exact_penalty():
    params, x = setup(seed=1)
    model = TanhMLP(*params)
    exact = exact_penalty(model, x).detach()
    # DRAWS copies of the batch in one call: every copy of an example gets its own projection
    reps = x.repeat(DRAWS, 1, 1, 1)
    samples = fisher_jacobian_estimate(model, reps, torch.Generator().manual_seed(5), 1)[1].detach()
    samples = samples.view(DRAWS, x.shape[0])
    mean, se = samples.mean(0), samples.std(0) / DRAWS ** 0.5
    assert bool((se < 0.05 * exact).all()), (se, exact)
    assert bool(((mean - exact).abs() < 4 * se).all()), (mean, exact, se)
    # n_proj averages draws: the same stream gives the mean of n_proj single draws
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    singles = torch.stack([fisher_jacobian_estimate(model, x, g1, 1)[1] for _ in range(3)]).mean(0)
    torch.testing.assert_close(fisher_jacobian_estimate(model, x, g2, 3)[1], singles)


def test_weight_gradient_of_the_estimate_is_unbiased():
    """sqrt(f) must stay in the graph: the averaged weight gradient matches the exact penalty's.

    BLOCKS independent block means (each over PER_BLOCK draws in one batched call) give the
    mean gradient and its standard error.
    """
    params, x = setup(seed=2, n=2)
    exact = torch.autograd.grad(exact_penalty(TanhMLP(*params), x, create_graph=True).sum(), params)
    g = torch.Generator().manual_seed(3)
    reps = x.repeat(PER_BLOCK, 1, 1, 1)
    blocks = []
    for _ in range(BLOCKS):
        est = fisher_jacobian_estimate(TanhMLP(*params), reps, g, 1)[1].sum() / PER_BLOCK
        blocks.append(torch.cat([t.flatten() for t in torch.autograd.grad(est, params)]))
    blocks_t = torch.stack(blocks)
    mean, se = blocks_t.mean(0), blocks_t.std(0) / BLOCKS ** 0.5
    exact_flat = torch.cat([t.flatten() for t in exact])
    assert float(se.norm()) < 0.05 * float(exact_flat.norm())
    assert bool(((mean - exact_flat).abs() < 4 * se + 1e-9).all())


def test_loss_is_ce_plus_beta_eps_squared_over_two_times_the_estimate():
    params, x = setup(seed=3)
    model = TanhMLP(*params)
    y = torch.tensor([0, 3, 1])
    cfg = FisherPenaltyConfig(beta=2.0, eps=0.1, n_proj=2)
    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(4))
    loss = fisher_penalty_loss(model, x, y, ctx, cfg)
    logits, est = fisher_jacobian_estimate(model, x, torch.Generator().manual_seed(4), 2)
    torch.testing.assert_close(loss, F.cross_entropy(logits, y) + 2.0 * 0.01 / 2 * est.mean())


def test_conformance():
    check_defense(get_registry().get("defense", "recognizability/fisher-penalty"))
