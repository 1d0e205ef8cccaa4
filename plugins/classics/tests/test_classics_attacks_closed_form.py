"""Attacks against known answers on affine classifiers z = W x + b.

For labels y and a rival j, the margin z_y - z_j is affine in x with gradient a = w_y - w_j,
so away from the box edges its minimum over the ball is
    Linf: (z_y - z_j)(x) - eps * ||a||_1     at delta = -eps * sign(a)
    L2:   (z_y - z_j)(x) - eps * ||a||_2     at delta = -eps * a / ||a||_2
and the multiclass worst-case margin is the minimum of these over j != y. Inputs are drawn
in [0.3, 0.7] and eps <= 0.3 per coordinate, so the box never binds.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from bench.threat import ThreatModel
from classics_helpers import interior_inputs, linear_model
from robarena_classics.attacks.core import margin
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD

N = 300


def worst_case_margin(model, x, y, norm: str, eps: float) -> torch.Tensor:
    """Closed-form minimum over the eps-ball of z_y - max_{j != y} z_j, shape (N,)."""
    w = model.head.weight.detach()
    with torch.no_grad():
        z = model(x)
    diff = w[y][:, None, :] - w[None, :, :]                     # (N, K, d): w_y - w_j
    dual = diff.abs().sum(-1) if norm == "Linf" else diff.norm(dim=-1)
    per_rival = z.gather(1, y[:, None]) - z - eps * dual
    per_rival[torch.arange(len(y)), y] = float("inf")
    return per_rival.min(dim=1).values


def attacked_margin(model, x_adv, y) -> torch.Tensor:
    with torch.no_grad():
        return margin(model(x_adv), y)


@pytest.fixture
def binary():
    model = linear_model(2, seed=0)
    x = interior_inputs(N, seed=1)
    y = torch.randint(0, 2, (N,), generator=torch.Generator().manual_seed(2))
    return model, x, y


def test_fgsm_is_exactly_optimal_on_a_binary_linear_model(binary):
    model, x, y = binary
    eps = 0.1
    x_adv = FGSM()(model, x, y, ThreatModel(norm="Linf", eps=eps)).x_adv
    expected = worst_case_margin(model, x, y, "Linf", eps)
    torch.testing.assert_close(attacked_margin(model, x_adv, y), expected, rtol=0, atol=1e-5)
    # and the perturbation is the optimal vertex -eps * sign(w_y - w_other)
    w = model.head.weight.detach()
    optimal = -eps * torch.sign(w[y] - w[1 - y]).view_as(x)
    torch.testing.assert_close(x_adv - x, optimal, rtol=0, atol=1e-6)


def test_l2_fgsm_is_exactly_optimal_on_a_binary_linear_model(binary):
    model, x, y = binary
    eps = 0.3
    x_adv = FGSM()(model, x, y, ThreatModel(norm="L2", eps=eps)).x_adv
    expected = worst_case_margin(model, x, y, "L2", eps)
    torch.testing.assert_close(attacked_margin(model, x_adv, y), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 0.3)])
def test_pgd_reaches_the_closed_form_worst_case_margin_binary(binary, norm, eps):
    """Tolerance 1e-4 (margins are O(1)): Linf lands on the vertex exactly; L2 converges
    geometrically to the optimal boundary point (100 steps of eps/4)."""
    model, x, y = binary
    attack = PGD(PGD.Config(steps=100, step_size=eps / 4, early_stop=False), seed=0)
    x_adv = attack(model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv
    expected = worst_case_margin(model, x, y, norm, eps)
    torch.testing.assert_close(attacked_margin(model, x_adv, y), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 0.3)])
def test_pgd_with_early_stop_fools_exactly_the_attackable_examples(binary, norm, eps):
    model, x, y = binary
    x_adv = PGD(PGD.Config(steps=100, step_size=eps / 4), seed=0)(model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv
    worst = worst_case_margin(model, x, y, norm, eps)
    clear = worst.abs() > 1e-3  # leave out examples within rounding of the boundary
    fooled = attacked_margin(model, x_adv, y) < 0
    assert clear.sum() > 0.9 * N
    assert torch.equal(fooled[clear], (worst < 0)[clear])


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 0.3)])
def test_pgd_cw_on_a_multiclass_linear_model(norm, eps):
    """Multiclass: maximising max_j (z_j - z_y) is a convex maximisation, so PGD can stop
    at a rival that is not the worst; it can never beat the closed-form optimum, and with
    the CW loss and 5 restarts it reaches it (to 1e-3) on at least 90 % of the examples."""
    model = linear_model(5, seed=3)
    x = interior_inputs(N, seed=4)
    y = torch.randint(0, 5, (N,), generator=torch.Generator().manual_seed(5))
    cfg = PGD.Config(steps=100, step_size=eps / 10, restarts=5, loss="cw", early_stop=False)
    got = attacked_margin(model, PGD(cfg, seed=0)(model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv, y)
    expected = worst_case_margin(model, x, y, norm, eps)
    assert bool((got >= expected - 1e-4).all()), "an attack beat the optimum: it left the ball"
    assert float((got - expected <= 1e-3).float().mean()) >= 0.9


def minimal_targeted_linf_eps(model, x, target, slack=1e-3) -> np.ndarray:
    """Smallest Linf eps with z_t - z_j >= slack for all j != t inside the box (an LP per example)."""
    w = model.head.weight.detach().double().numpy()
    with torch.no_grad():
        z = model(x).double().numpy()
    xs = x.flatten(1).double().numpy()
    k, d = w.shape
    out = []
    for i, t in enumerate(target.tolist()):
        rivals = [j for j in range(k) if j != t]
        # variables (delta_1..delta_d, e); minimise e
        a_ub = [np.append(w[j] - w[t], 0.0) for j in rivals]
        b_ub = [z[i, t] - z[i, j] - slack for j in rivals]
        for s in (1.0, -1.0):
            block = np.zeros((d, d + 1))
            block[:, :d] = s * np.eye(d)
            block[:, d] = -1.0
            a_ub.extend(block)
            b_ub.extend([0.0] * d)
        bounds = [(-xs[i, m], 1.0 - xs[i, m]) for m in range(d)] + [(0, None)]
        res = linprog(np.append(np.zeros(d), 1.0), A_ub=np.array(a_ub), b_ub=np.array(b_ub), bounds=bounds)
        assert res.status == 0, res.message
        out.append(res.x[-1])
    return np.array(out)


@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_targeted_pgd_reaches_the_target_when_the_budget_allows(loss):
    """The LP gives each example's minimal Linf budget eps*; targeted PGD at 1.1 eps* + 0.005
    reaches the target on every example, and at 0.9 eps* (where no attack can) on none."""
    model = linear_model(4, seed=6)
    x = interior_inputs(40, seed=7, lo=0.2, hi=0.8)
    with torch.no_grad():
        y = model(x).argmax(1)
    target = (y + 1 + torch.randint(0, 3, y.shape, generator=torch.Generator().manual_seed(8))) % 4
    eps_star = minimal_targeted_linf_eps(model, x, target)
    for i in range(len(y)):
        for scale, offset, reach in [(1.1, 0.005, True), (0.9, 0.0, False)]:
            eps = float(eps_star[i] * scale + offset)
            threat = ThreatModel(norm="Linf", eps=eps, targeted=True)
            cfg = PGD.Config(steps=60, step_size=eps / 10, loss=loss)
            x_adv = PGD(cfg, seed=0)(model, x[i:i + 1], y[i:i + 1], threat, target=target[i:i + 1]).x_adv
            with torch.no_grad():
                hit = int(model(x_adv).argmax(1)) == int(target[i])
            assert hit == reach, f"example {i}: eps*={eps_star[i]:.4f}, eps={eps:.4f}, reached={hit}"


def test_targeted_fgsm_and_pgd_l2_binary_threshold(binary):
    """Binary L2: the target is reachable iff eps > margin / ||w_y - w_t||_2 (closed form)."""
    model, x, _ = binary
    with torch.no_grad():
        y = model(x).argmax(1)
    t = 1 - y
    w = model.head.weight.detach()
    needed = attacked_margin(model, x, y) / (w[y] - w[t]).norm(dim=1)
    eps = 0.3
    clear = (needed - eps).abs() > 1e-3
    threat = ThreatModel(norm="L2", eps=eps, targeted=True)
    for attack in (FGSM(), PGD(PGD.Config(steps=50, step_size=eps / 5), seed=0)):
        with torch.no_grad():
            hit = model(attack(model, x, y, threat, target=t).x_adv).argmax(1) == t
        assert torch.equal(hit[clear], (needed < eps)[clear]), type(attack).__name__


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_step_on_a_multiclass_linear_model(targeted):
    """grad_x CE(z, c) = W^T (softmax(z) - e_c) for z = W x + b, so FGSM moves by
    +eps * sign(W^T (p - e_y)) (untargeted) or -eps * sign(W^T (p - e_t)) (targeted)."""
    model = linear_model(4, seed=9)
    x = interior_inputs(50, seed=10)
    y = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(11))
    t = (y + 1) % 4
    eps = 0.05
    w = model.head.weight.detach()
    with torch.no_grad():
        p = model(x).softmax(1)
    c = t if targeted else y
    grad = (p - torch.nn.functional.one_hot(c, 4).float()) @ w
    expected = (-1.0 if targeted else 1.0) * eps * torch.sign(grad)
    threat = ThreatModel(norm="Linf", eps=eps, targeted=targeted)
    x_adv = FGSM()(model, x, y, threat, target=t if targeted else None).x_adv
    torch.testing.assert_close((x_adv - x).flatten(1), expected, rtol=0, atol=1e-6)
