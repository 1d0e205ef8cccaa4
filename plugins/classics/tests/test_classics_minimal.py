"""DeepFool and FAB (minimal perturbations, P1's instance-space margin) against closed forms.

Affine model z = W x + b, predicted class y: the region of y is the polyhedron
{(w_k - w_y).x + b_k - b_y <= 0 for all k}, so the distance from x to its complement is
    L2:   min_{k != y} |m_k| / ||w_k - w_y||_2
    Linf: min_{k != y} |m_k| / ||w_k - w_y||_1        (the l1 norm is the dual of Linf)
with m_k = (w_k - w_y).x + b_k - b_y. DeepFool's first linearisation is exact, so one step
lands at (1 + overshoot) * (distance + 1e-4) (the reference code's 1e-4 step slack).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.deepfool import STEP_SLACK, DeepFool
from robarena_classics.attacks.fab import FAB, project_onto_hyperplane_in_box

N = 300


def boundary_distance(model, x, y, norm, classes=None) -> torch.Tensor:
    """Closed-form distance to the decision boundary of an affine model (over ``classes`` rivals)."""
    w = model.head.weight.detach()
    with torch.no_grad():
        z = model(x)
    a = w[None, :, :] - w[y][:, None, :]                          # (N, K, d): w_k - w_y
    dual = a.norm(dim=-1) if norm == "L2" else a.abs().sum(dim=-1)
    d = (z.gather(1, y[:, None]) - z) / dual
    d[torch.arange(len(y)), y] = math.inf
    if classes is not None:
        d = torch.where(classes, d, torch.full_like(d, math.inf))
    return d.min(dim=1).values


@pytest.fixture
def affine():
    model = linear_model(5, seed=3).double()
    x = interior_inputs(N, seed=4).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def test_defaults_are_the_papers():
    cfg = DeepFool.Config()
    assert cfg.overshoot == 0.02 and cfg.max_iter == 50 and cfg.candidates is None
    assert DeepFool.norms == ("Linf", "L2") and not DeepFool.supports_targeted


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_deepfool_is_exact_in_one_step_on_an_affine_model(affine, norm):
    model, x, y = affine
    out = DeepFool()(model, x, y, ThreatModel(norm=norm, eps=10.0 if norm == "L2" else 1.0))
    expected = (1 + 0.02) * (boundary_distance(model, x, y, norm) + STEP_SLACK)
    assert float(out.x_adv.min()) > 0.0 and float(out.x_adv.max()) < 1.0   # the box never bound
    torch.testing.assert_close(out.extras["distance"], expected, rtol=1e-10, atol=0)
    with torch.no_grad():
        assert bool((model(out.x_adv).argmax(1) != y).all())
    # the returned distance is that of the returned example
    delta = (out.x_adv - x).flatten(1)
    size = delta.norm(dim=1) if norm == "L2" else delta.abs().amax(dim=1)
    torch.testing.assert_close(size, out.extras["distance"], rtol=1e-12, atol=0)


def test_float32_affine_model_matches_the_closed_form_to_float_precision():
    model = linear_model(10, shape=(1, 8, 8), seed=5)
    x = interior_inputs(N, shape=(1, 8, 8), seed=6)
    with torch.no_grad():
        y = model(x).argmax(1)
    out = DeepFool()(model, x, y, ThreatModel(norm="L2", eps=10.0))
    expected = 1.02 * (boundary_distance(model, x, y, "L2") + STEP_SLACK)
    ok = torch.isclose(out.extras["distance"], expected, rtol=1e-4, atol=0)
    assert float(ok.float().mean()) >= 0.99   # float32 near-ties between rivals may pick another face


def test_candidates_restrict_the_rivals_to_the_top_clean_logits(affine):
    model, x, y = affine
    with torch.no_grad():
        z = model(x)
    k = 3   # the true class and the 2 largest other logits
    top = z.scatter(1, y[:, None], -math.inf).topk(k - 1, dim=1).indices
    classes = torch.zeros_like(z, dtype=torch.bool).scatter(1, top, True)
    out = DeepFool(DeepFool.Config(candidates=k))(model, x, y, ThreatModel(norm="L2", eps=10.0))
    expected = 1.02 * (boundary_distance(model, x, y, "L2", classes) + STEP_SLACK)
    torch.testing.assert_close(out.extras["distance"], expected, rtol=1e-10, atol=0)


def lipschitz_lower_bound(model: nn.Sequential, x, y) -> torch.Tensor:
    """A certified lower bound on the L2 boundary distance of a 2-layer ReLU net:
    |z_y - z_k| / (||v_y - v_k||_2 ||W1||_2) since ReLU is 1-Lipschitz."""
    w1, v = model[1].weight.detach(), model[3].weight.detach()
    spec = torch.linalg.matrix_norm(w1, ord=2)
    with torch.no_grad():
        z = model(x)
    lip = (v[y][:, None, :] - v[None, :, :]).norm(dim=-1) * spec
    bound = (z.gather(1, y[:, None]) - z) / lip
    bound[torch.arange(len(y)), y] = math.inf
    return bound.min(dim=1).values


def test_deepfool_on_a_nonlinear_model_returns_an_upper_bound_of_the_margin():
    """Tiny ReLU MLP: DeepFool's example is misclassified (so its distance bounds the true
    margin from above), a dense scan along its direction meets the boundary no later than it,
    and no distance falls below the certified Lipschitz lower bound."""
    shape = (1, 4, 4)
    model = tiny_mlp(shape, 4, seed=7, hidden=16)
    x = interior_inputs(100, shape=shape, seed=8)
    with torch.no_grad():
        y = model(x).argmax(1)
    out = DeepFool()(model, x, y, ThreatModel(norm="L2", eps=10.0))
    dist = out.extras["distance"]
    assert bool(torch.isfinite(dist).all())
    with torch.no_grad():
        assert bool((model(out.x_adv).argmax(1) != y).all())
    assert bool((dist >= lipschitz_lower_bound(model, x, y) * (1 - 1e-5)).all())
    direction = (out.x_adv - x) / dist.view(-1, 1, 1, 1)
    ts = torch.linspace(0, 1, 401)                                   # fractions of the distance
    with torch.no_grad():
        pts = x[:, None] + ts.view(1, -1, 1, 1, 1) * dist.view(-1, 1, 1, 1, 1) * direction[:, None]
        pred = model(pts.flatten(0, 1)).argmax(1).view(len(x), -1)
    crossed = pred != y[:, None]
    assert bool(crossed[:, -1].all())
    first = crossed.float().argmax(dim=1)                             # first misclassified sample
    assert bool((ts[first] <= 1.0).all())
    # on a network this small most margins need more than one linearisation, yet DeepFool stays
    # within its overshoot of the first crossing along its own direction for most examples
    assert float((ts[first] >= 1 / 1.02 - 0.05).float().mean()) >= 0.8


def test_failures_and_budgets_are_reported_not_replaced(affine):
    model, x, y = affine
    # a constant model: no gradient, no boundary -> inf, clean input back
    const = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():
        const[1].weight.zero_()
        const[1].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
    y0 = torch.zeros(5, dtype=torch.long)
    for attack in (DeepFool(), FAB(FAB.Config(n_iter=5))):
        out = attack(const.double(), x[:5], y0, ThreatModel(norm="L2", eps=1.0))
        assert bool(torch.isinf(out.extras["distance"]).all()) and torch.equal(out.x_adv, x[:5])
    # an eps below the distance: clean input back, distance still reported
    small = DeepFool()(model, x, y, ThreatModel(norm="L2", eps=0.2))
    big = DeepFool()(model, x, y, ThreatModel(norm="L2", eps=10.0))
    torch.testing.assert_close(small.extras["distance"], big.extras["distance"], rtol=0, atol=0)
    beyond = big.extras["distance"] > 0.2
    assert 0 < int(beyond.sum()) < N
    assert torch.equal(small.x_adv[beyond], x[beyond])
    assert torch.equal(small.x_adv[~beyond], big.x_adv[~beyond])
    # already misclassified: distance 0, returned unchanged
    wrong = (y + 1) % 5
    out = DeepFool()(model, x, wrong, ThreatModel(norm="Linf", eps=0.1))
    assert bool((out.extras["distance"] == 0).all()) and torch.equal(out.x_adv, x)


def test_deepfool_is_deterministic():
    shape = (1, 4, 4)
    model = tiny_mlp(shape, 4, seed=9)
    x = interior_inputs(20, shape=shape, seed=10)
    y = torch.randint(0, 4, (20,), generator=generator(11))
    a = DeepFool()(model, x, y, ThreatModel(norm="Linf", eps=1.0))
    b = DeepFool()(model, x, y, ThreatModel(norm="Linf", eps=1.0))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.extras["distance"], b.extras["distance"])


# ----------------------------------------------------------------------------- FAB
def fab_fixed_point(n_iter=100, alpha_max=0.1, eta=1.05, beta=0.9) -> float:
    """FAB on an affine model, reduced to the line from x (at 0) to its nearest boundary point
    (at 1): every move is a multiple of the same vector, so the smallest adversarial iterate is
    this scalar recursion's minimum (an independent re-derivation of Algorithm 1)."""
    s, best = 0.0, math.inf
    for _ in range(n_iter):
        alpha = min(abs(1 - s) / (abs(1 - s) + 1.0), alpha_max)
        new = (1 - alpha) * (s + eta * (1 - s)) + alpha * eta
        if new > 1:
            best = min(best, new)
            s = beta * new
        else:
            s = new
    return best


def test_fab_defaults_are_the_papers():
    cfg = FAB.Config()
    assert (cfg.n_iter, cfg.alpha_max, cfg.eta, cfg.beta, cfg.restarts) == (100, 0.1, 1.05, 0.9, 1)
    assert FAB.norms == ("Linf", "L2") and not FAB.supports_targeted


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_fab_on_an_affine_model_follows_algorithm_1_exactly(affine, norm):
    """The affine distance times the scalar recursion's minimum (1.0052: FAB ends 0.5 % above
    the boundary, where DeepFool ends 2 % above)."""
    model, x, y = affine
    out = FAB()(model, x, y, ThreatModel(norm=norm, eps=10.0 if norm == "L2" else 1.0))
    factor = fab_fixed_point()
    assert 1.0 < factor < 1.01
    expected = factor * boundary_distance(model, x, y, norm)
    torch.testing.assert_close(out.extras["distance"], expected, rtol=1e-9, atol=0)
    with torch.no_grad():
        assert bool((model(out.x_adv).argmax(1) != y).all())


def test_fab_is_tighter_than_deepfool_on_a_nonlinear_model():
    """Tiny ReLU MLP: FAB's examples are misclassified, above the certified lower bound, and at
    most DeepFool's distance on >= 90 % of the examples (measured: 98 % in both norms)."""
    shape = (1, 4, 4)
    model = tiny_mlp(shape, 4, seed=7, hidden=16)
    x = interior_inputs(100, shape=shape, seed=8)
    with torch.no_grad():
        y = model(x).argmax(1)
    for norm in ("L2", "Linf"):
        threat = ThreatModel(norm=norm, eps=10.0 if norm == "L2" else 1.0)
        fab = FAB()(model, x, y, threat)
        deepfool = DeepFool()(model, x, y, threat).extras["distance"]
        dist = fab.extras["distance"]
        with torch.no_grad():
            assert bool((model(fab.x_adv).argmax(1) != y).all())
        assert float((dist <= deepfool * (1 + 1e-6)).float().mean()) >= 0.9
        if norm == "L2":
            assert bool((dist >= lipschitz_lower_bound(model, x, y) * (1 - 1e-5)).all())


def test_fab_restarts_only_improve_and_are_seeded():
    shape = (1, 4, 4)
    model = tiny_mlp(shape, 4, seed=12, hidden=16)
    x = interior_inputs(30, shape=shape, seed=13)
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="L2", eps=10.0)
    one = FAB(FAB.Config(n_iter=20))(model, x, y, threat).extras["distance"]
    three = FAB(FAB.Config(n_iter=20, restarts=3), seed=1)(model, x, y, threat)
    again = FAB(FAB.Config(n_iter=20, restarts=3), seed=1)(model, x, y, threat)
    assert bool((three.extras["distance"] <= one).all())    # the first run is the same run
    assert torch.equal(three.x_adv, again.x_adv) and torch.equal(three.extras["distance"], again.extras["distance"])


@pytest.mark.parametrize("route", ["sorted knots", "bisection"])
@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_box_constrained_projection_matches_scipy(norm, route, monkeypatch):
    """min ||d|| s.t. <w, d> = r and 0 <= p + d <= 1, against SLSQP (L2) and an LP (Linf); every
    fourth r is scaled up so that the hyperplane misses the box."""
    import numpy as np
    from scipy.optimize import linprog, minimize

    import robarena_classics.attacks.fab as fab

    big = 10**9 if route == "sorted knots" else 0
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", {"Linf": big, "L2": big})

    g = generator(20)
    p = torch.rand(12, 6, generator=g, dtype=torch.float64)
    w = torch.randn(12, 6, generator=g, dtype=torch.float64)
    r = 0.5 * torch.randn(12, generator=g, dtype=torch.float64)
    r[::4] *= 20
    d = project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    top = (w * torch.where(w > 0, 1 - p, -p)).sum(1)          # the range of <w, d> over the box
    bottom = (w * torch.where(w > 0, -p, 1 - p)).sum(1)
    feasible = (bottom <= r) & (r <= top)
    assert 0 < int(feasible.sum()) < 12
    for i in range(12):
        pi, wi, ri = p[i].numpy(), w[i].numpy(), float(r[i])
        di = d[i]
        assert bool(((p[i] + di) >= -1e-12).all() and ((p[i] + di) <= 1 + 1e-12).all())
        if not feasible[i]:   # the box point closest to the hyperplane
            assert float(w[i] @ di) == pytest.approx(float(top[i] if ri > 0 else bottom[i]), abs=1e-9)
            continue
        bounds = list(zip(-pi, 1 - pi))
        if norm == "L2":
            res = minimize(lambda v: v @ v, np.zeros(6), jac=lambda v: 2 * v, method="SLSQP", bounds=bounds,
                           constraints=[{"type": "eq", "fun": lambda v: wi @ v - ri, "jac": lambda v: wi}],
                           options={"ftol": 1e-12, "maxiter": 500})
            best = float(np.sqrt(res.fun))
        else:                 # variables (d, t): minimise t subject to -t <= d_j <= t
            eye = np.eye(6)
            a_ub = np.vstack([np.hstack([eye, -np.ones((6, 1))]), np.hstack([-eye, -np.ones((6, 1))])])
            res = linprog(np.r_[np.zeros(6), 1.0], A_ub=a_ub, b_ub=np.zeros(12), A_eq=np.r_[wi, 0.0][None],
                          b_eq=[ri], bounds=bounds + [(0, None)])
            best = float(res.fun)
        assert res.success
        assert float(w[i] @ di) == pytest.approx(ri, abs=1e-9)
        size = float(di.norm()) if norm == "L2" else float(di.abs().max())
        assert size == pytest.approx(best, rel=1e-6, abs=1e-10)
