"""Carlini-Wagner L2 against the closed-form boundary distance of affine classifiers.

Binary affine model, s(x) = (w_1 - w_0).x + b_1 - b_0 = a.x + beta: the smallest L2
perturbation that makes the other class win by kappa is (|s(x)| + kappa) / ||a||_2 (when the
projection stays inside the box). No successful example can be closer, so every reported
distance is >= it; C&W's optimiser reaches it from above within a tolerance that depends
on the iteration budget (measured: <= 1.3 % with 300 Adam steps per c, so we allow 2 %).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.cw import ABORT_RATIO, CWL2, TANH_SHRINK, _Adam, abort_now

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
    assert (cfg.learning_rate, cfg.confidence, cfg.abort_early) == (1e-2, 0.0, "batch")  # the reference's abort
    assert CWL2.norms == ("L2",) and CWL2.supports_targeted
    assert ABORT_RATIO == 0.9999 and abort_now(1.0, 1.0) and not abort_now(0.9998, 1.0)
    # booleans keep their reference meaning: true = the reference's (batch) abort, false = none
    assert CWL2.Config(abort_early=True).abort_early == "batch" and CWL2.Config(abort_early=False).abort_early == "off"
    assert CWL2.Config(abort_early="example").abort_early == "example"
    with pytest.raises(ValueError, match="abort_early"):
        CWL2.Config(abort_early="sometimes")


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
    """Per-example early abort: an example's result does not depend on its batch."""
    model, x, y = binary
    cfg = CWL2.Config(max_iterations=100, binary_search_steps=4, abort_early="example")
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



# --------------------------------------------------------------------------- against an independent reference
def reference_cw(model, x, y, iterations, binary_search_steps=1, c0=1.0, lr=0.01, kappa=0.0, stop_at=None):
    """Carlini and Wagner's L2 attack (untargeted) written from the paper / reference code with torch.optim.Adam:
    per binary-search step a fresh Adam on w = atanh((2x - 1) * (1 - 1e-6)), every iteration records the
    iterate when it is adversarial and closer, then steps on the batch's summed loss. Returns the best L2
    distance per example (inf when none) and, per search step, the batch's total loss at every iteration.
    ``stop_at``: per search step, the iteration after which it stops (None: run all)."""
    n = x.shape[0]
    best = torch.full((n,), math.inf, dtype=x.dtype)
    lower, upper = torch.zeros(n, dtype=torch.float64), torch.full((n,), 1e10, dtype=torch.float64)
    const = torch.full((n,), c0, dtype=torch.float64)
    totals = []
    for step in range(binary_search_steps):
        w = torch.atanh((x - 0.5) / 0.5 * TANH_SHRINK).clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool)
        totals.append([])
        for it in range(iterations):
            x_new = 0.5 + 0.5 * torch.tanh(w)
            z = model(x_new)
            l2sq = (x_new - x).flatten(1).pow(2).sum(dim=1)
            real = z.gather(1, y[:, None]).squeeze(1)
            other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), -math.inf).amax(dim=1)
            loss = (l2sq + const.to(x.dtype) * (real - other + kappa).clamp_min(0)).sum()
            totals[-1].append(float(loss.detach()))
            adv = (z.detach().argmax(dim=1) != y)
            found |= adv
            best = torch.where(adv & (l2sq.detach() < best), l2sq.detach(), best)
            if stop_at is not None and stop_at[step] == it:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        upper = torch.where(found, torch.minimum(upper, const), upper)
        lower = torch.where(found, lower, torch.maximum(lower, const))
        const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best.sqrt(), totals


def batch_rule_stop(totals, every):
    """The first check iteration (``it % every == 0``) whose batch loss is not below 0.9999 of the previous
    check's (the reference's rule, first check against +inf), or None."""
    prev = math.inf
    for it in range(0, len(totals), every):
        if totals[it] > prev * 0.9999:
            return it
        prev = totals[it]
    return None


class Counting(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def small_problem(seed):
    model = tiny_mlp((1, 4, 4), 3, seed=seed).double()
    x = interior_inputs(12, seed=seed + 10).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("search_steps", [1, 3])
def test_without_abort_cw_equals_the_reference_computation(search_steps):
    """abort_early='off' (c = 1, 200 Adam steps: the setting where C&W's aborts differ) equals the
    reference loop with torch.optim.Adam, to float rounding, also through the binary search on c."""
    model, x, y = small_problem(seed=0)
    expected, _ = reference_cw(model, x, y, 200, binary_search_steps=search_steps)
    cfg = CWL2.Config(binary_search_steps=search_steps, initial_const=1.0, max_iterations=200, abort_early="off")
    got = CWL2(cfg)(model, x, y, L2_BIG).extras["distance"]
    assert bool(torch.isfinite(expected).all())
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_batch_abort_stops_exactly_where_the_batch_loss_rule_does():
    """Seed 2: the batch's total loss stalls at a check before the budget ends; the attack runs exactly the
    iterations the rule allows (forward passes counted) and returns the reference's result truncated there."""
    model, x, y = small_problem(seed=2)
    _, (totals,) = reference_cw(model, x, y, 200)
    stop = batch_rule_stop(totals, 200 // 10)
    assert stop is not None and stop < 199, "the constructed case must abort before the budget ends"
    counting = Counting(model)
    cfg = CWL2.Config(binary_search_steps=1, initial_const=1.0, max_iterations=200, abort_early="batch")
    got = CWL2(cfg)(counting, x, y, L2_BIG).extras["distance"]
    assert counting.calls == 1 + stop + 1   # the clean check, then iterations 0 .. stop
    expected, _ = reference_cw(model, x, y, 200, stop_at=[stop])
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_batch_abort_never_stops_an_example_whose_own_loss_stalls_while_the_batch_improves():
    """Seed 0: the batch's loss falls at every check, so the batch rule never fires and the result is the
    un-aborted one; the per-example rule stops examples whose own loss stalls, which changes their result."""
    model, x, y = small_problem(seed=0)
    _, (totals,) = reference_cw(model, x, y, 200)
    assert batch_rule_stop(totals, 20) is None
    cfg = lambda mode: CWL2.Config(binary_search_steps=1, initial_const=1.0, max_iterations=200,  # noqa: E731
                                   abort_early=mode)
    counting = Counting(model)
    batch = CWL2(cfg("batch"))(counting, x, y, L2_BIG).extras["distance"]
    off = CWL2(cfg("off"))(model, x, y, L2_BIG).extras["distance"]
    example = CWL2(cfg("example"))(model, x, y, L2_BIG).extras["distance"]
    assert counting.calls == 1 + 200 and torch.equal(batch, off)
    assert not torch.equal(example, off)
