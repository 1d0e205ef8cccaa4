"""fisher-approx's two directions are adversarial: checked on models whose loss-ascent direction and
Fisher eigenvector are known in closed form.

Two-class linear model ``z = W x + b``: ``grad_x CE = (1 - p_y) (w_o - w_y)`` (o the other class)
has the same sign everywhere, so the Linf loss-ascent direction is ``s = sign(w_o - w_y)`` from any
point of the ball, misclassified or not; ``F_x = p_0 p_1 (w_0 - w_1)(w_0 - w_1)^T`` has rank one with
leading eigenvector ``+-(w_o - w_y)``. Along ``eta = eps s`` the margin ``z_y - z_o`` falls by
``eps ||w_y - w_o||_1``: the prediction flips once eps exceeds ``margin / ||w_y - w_o||_1``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.api.probe import AttackRecord
from bench.errors import UsageError
from bench.threat import ThreatModel
from bench.toolkit import pgd_steps
from disentangle_helpers import closed_form_fisher, linf_record, probe_input, softmax_linear
from robarena_disentangle.fisher import FisherOperator, input_gradients_only
from robarena_disentangle.probes.fisher_approx import (FisherApprox, FisherApproxConfig, leading_eigenvector,
                                                       pgd_directions)

EPS = 0.1


def two_class_linear(d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, 2)).double().eval()
    with torch.no_grad():
        model[1].weight.copy_(2 * torch.randn(2, d, generator=g, dtype=torch.float64))
        model[1].bias.copy_(0.5 * torch.randn(2, generator=g, dtype=torch.float64))
    return model


def inside_box(n=40, seed=1):
    """Inputs in [0.3, 0.7]: steps of EPS stay inside the [0, 1] box (no clipping)."""
    return 0.3 + 0.4 * torch.rand(n, 1, 3, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def half_misclassified(model, x):
    """Labels: the prediction for even examples, the other class for odd ones (misclassified)."""
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    return torch.where(torch.arange(x.shape[0]) % 2 == 0, pred, 1 - pred)


def ascent_sign(model, y):
    """sign(w_o - w_y) per example (N, 1, 3, 4): the closed-form Linf loss-ascent direction."""
    w = model[1].weight.detach()
    return torch.sign(w[1 - y] - w[y]).view(-1, 1, 3, 4)


@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_direction_is_the_closed_form_ascent_also_at_misclassified_points(random_start):
    model, x = two_class_linear(), inside_box()
    y = half_misclassified(model, x)
    threat = ThreatModel(norm="Linf", eps=EPS)
    config = FisherApproxConfig(random_start=random_start)
    x_adv = pgd_directions(model, x, y, threat, config, torch.Generator().manual_seed(0), batch_size=16)
    # every example ends on the face of the ball the loss rises towards: x + EPS * sign(w_o - w_y)
    np.testing.assert_allclose(x_adv - x, EPS * ascent_sign(model, y), atol=1e-12)
    # an early-stopped PGD returns a misclassified example's random start: its sign is noise
    early = pgd_steps(model, x, y, threat, steps=20, step_size=EPS / 4, generator=torch.Generator().manual_seed(0),
                      early_stop=True)
    wrong = (torch.arange(x.shape[0]) % 2 == 1)
    agree = (torch.sign(early - x) == ascent_sign(model, y))[wrong].double().mean().item()
    assert agree < 0.75  # about 1/2; the full run agrees everywhere


def test_probe_kl_and_g1_along_the_pgd_direction_match_the_closed_form_and_flip_the_prediction():
    model, x = two_class_linear(seed=3), inside_box(seed=4)
    y = half_misclassified(model, x)
    radii = [0.02, 0.05, 0.1]
    # the attack's x_adv is x itself: the direction must come from the probe's own PGD
    pin = probe_input(x, y, num_classes=2, batch_size=16, attacks={"PGD-20 Linf 0.1": linf_record(x.clone())})
    result = FisherApprox(FisherApproxConfig(eps=radii, power_iters=200, tol=1e-10), seed=5)(model, pin)
    w = model[1].weight.detach()
    with torch.no_grad():
        z = model(x)
    idx = torch.arange(x.shape[0])
    margin = (z[idx, y] - z[idx, 1 - y]).numpy()  # z_y - z_o; negative where misclassified
    l1 = (w[y] - w[1 - y]).abs().sum(dim=1).numpy()  # ||w_y - w_o||_1
    p = 1 / (1 + np.exp(-margin))  # f_y(x)
    s = ascent_sign(model, y)
    for k, eps in enumerate(radii):
        q = 1 / (1 + np.exp(-(margin - eps * l1)))  # f_y(x + eps s)
        kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
        g1 = 0.5 * p * (1 - p) * (eps * l1) ** 2
        for suffix in ("", "_eig"):  # rank-one F: its oriented eigenvector has the same sign pattern
            np.testing.assert_allclose(result.arrays[f"kl{suffix}"][k], kl, rtol=1e-9)
            np.testing.assert_allclose(result.arrays[f"g1{suffix}"][k], g1, rtol=1e-9)
        assert result.scalars[f"rel_error@{eps}"] == pytest.approx(np.mean(np.abs(kl - g1) / kl), rel=1e-9)
        assert result.scalars[f"eig_rel_error@{eps}"] == pytest.approx(result.scalars[f"rel_error@{eps}"], rel=1e-9)
        with torch.no_grad():
            moved = model(x + eps * s)
        ce_before = F.cross_entropy(z, y, reduction="none")
        assert (F.cross_entropy(moved, y, reduction="none") > ce_before).all()  # the loss rises everywhere
        flips = (moved.argmax(dim=1) != z.argmax(dim=1)).numpy()
        crosses = (margin > 0) & (margin < eps * l1)  # correct examples within eps of the boundary
        assert (flips == crosses).all()
    assert (result.arrays["misclassified"] == (idx % 2 == 1).numpy()).all()
    assert result.arrays["eigval"] == pytest.approx(p * (1 - p) * ((w[0] - w[1]) ** 2).sum().item(), rel=1e-9)
    # the attack stage's x_adv (here x itself) gives no direction: every example is left out
    assert math.isnan(FisherApprox(FisherApproxConfig(eps=radii, source="attack"))(model, pin).scalars["rel_error"])


def test_eigen_direction_is_the_dense_leading_eigenvector_oriented_up_the_loss():
    model, x = softmax_linear(seed=7), inside_box(n=10, seed=8)
    y = torch.arange(10) % 5
    dense = closed_form_fisher(model, x)
    evals, evecs = torch.linalg.eigh(dense)
    with torch.no_grad():
        p = model(x).softmax(dim=1)
    grad = (p - F.one_hot(y, 5).double()) @ model[1].weight.detach()  # grad_x CE = W^T (p - e_y)
    v_dense = evecs[:, :, -1]
    v_dense = v_dense * torch.sign((grad * v_dense).sum(dim=1, keepdim=True))
    with input_gradients_only(model):
        value, vec, steps = leading_eigenvector(FisherOperator(model, x), y, 3000, 1e-12, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(vec.flatten(1), v_dense, atol=1e-6)  # the same vector, the same sign
    np.testing.assert_allclose(value, evals[:, -1], rtol=1e-10)
    assert ((grad * vec.flatten(1)).sum(dim=1) > 0).all()
    # the probe's eig_ columns along eta = eps v / ||v||_inf, against the dense Fisher and direct KL
    pin = probe_input(x, y, batch_size=4, attacks={"PGD Linf 0.1": linf_record(x.clone())})
    config = FisherApproxConfig(eps=[0.05], direction="normalized", power_iters=3000, tol=1e-12)
    result = FisherApprox(config, seed=2)(model, pin)
    eta = 0.05 * v_dense / v_dense.abs().amax(dim=1, keepdim=True)
    with torch.no_grad():
        q = model(x + eta.view_as(x)).log_softmax(dim=1)
    kl = (p * (p.log() - q)).sum(dim=1).numpy()
    g1 = 0.5 * torch.einsum("na,nab,nb->n", eta, dense, eta).numpy()
    np.testing.assert_allclose(result.arrays["kl_eig"][0], kl, rtol=1e-6)
    np.testing.assert_allclose(result.arrays["g1_eig"][0], g1, rtol=1e-6)


def test_defaults_are_p0s_pgd_20_and_bad_settings_are_refused():
    c = FisherApprox.Config()
    assert (c.source, c.steps, c.step_fraction, c.loss, c.random_start) == ("pgd", 20, 0.25, "ce", True)  # 2/255 of 8/255
    assert (c.eigenvector, c.power_iters, c.tol) == (True, 100, 1e-3)
    with pytest.raises(ValueError, match="cannot cross the ball"):
        FisherApproxConfig(steps=4, step_fraction=0.25)
    assert FisherApproxConfig(steps=4, step_fraction=0.25, random_start=False).steps == 4
    assert FisherApproxConfig(steps=4, step_fraction=0.25, source="attack").steps == 4
    model, x = two_class_linear(), inside_box(n=6)
    y = half_misclassified(model, x)
    unbounded = ThreatModel(norm="unbounded")
    pin = probe_input(x, y, num_classes=2, attacks={"spsa unbounded": AttackRecord(x.clone(), unbounded)})
    with pytest.raises(UsageError, match="needs a Linf or L2 attack"):
        FisherApprox(FisherApproxConfig(attack="spsa", direction="normalized"))(model, pin)
    pin = probe_input(x, y, num_classes=2, attacks={"PGD Linf 0.1": linf_record(x.clone())})
    off = FisherApprox(FisherApproxConfig(eps=[0.05], eigenvector=False))(model, pin)
    assert math.isnan(off.scalars["eig_rel_error"]) and "eig_rel_error@0.05" not in off.scalars
    assert "kl_eig" not in off.arrays and math.isfinite(off.scalars["rel_error@0.05"])
