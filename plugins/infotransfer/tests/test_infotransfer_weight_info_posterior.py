"""Fisher of the weights and the optimal Gaussian posterior (P2 Def. 0.5) against closed forms and brute force."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from torch import nn

from bench.errors import UsageError
from bench.testing.tiny import TinyConv, TinyLinear, tiny_batch
from robarena_infotransfer.posterior import (DEFAULT_BETA, DEFAULT_PRIOR_STD, diagonal_fisher, optimal_log_variance,
                                             perturbed_copy, sample_weight_noise, weight_information)


def brute_force_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """Diagonal Fisher by a plain loop: one autograd.grad per (example, label)."""
    params = dict(model.named_parameters())
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    for i in range(x.shape[0]):
        log_p = F.log_softmax(model(x[i:i + 1]), dim=-1)[0]
        labels = range(log_p.shape[0]) if kind == "true" else [int(y[i])]
        for k in labels:
            weight = float(log_p[k].detach().exp()) if kind == "true" else 1.0
            grads = torch.autograd.grad(log_p[k], list(params.values()), retain_graph=True)
            for (name, _), g in zip(params.items(), grads):
                total[name] += weight * g * g
    return {k: v / x.shape[0] for k, v in total.items()}


@pytest.mark.parametrize("kind", ["true", "empirical"])
def test_diagonal_fisher_matches_a_per_example_gradient_loop(kind):
    torch.manual_seed(0)
    model = TinyConv((1, 8, 8), 10).eval()
    with torch.no_grad():  # non-trivial running statistics, so eval-mode batch norm matters
        model.body[1].running_mean.uniform_(-0.2, 0.2)
        model.body[1].running_var.uniform_(0.5, 2.0)
    x, y = tiny_batch((1, 8, 8), n=7, seed=1)
    fast = diagonal_fisher(model, x, y, kind=kind, batch_size=3)  # chunks of 3, 3, 1
    slow = brute_force_fisher(model, x, y, kind)
    assert fast.keys() == slow.keys()
    for name in slow:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-4, atol=1e-9)


def test_true_fisher_of_softmax_regression_has_its_closed_form():
    # logits = W x + b: d log p_k / d W_jd = (1[j = k] - p_j) x_d, so E_{k ~ p}[(.)^2] = p_j (1 - p_j) x_d^2
    model = TinyLinear((1, 8, 8), 10, seed=3).eval()
    x, _ = tiny_batch((1, 8, 8), n=9, seed=4)
    fisher = diagonal_fisher(model, x, kind="true")
    p = F.softmax(model(x), dim=1).detach().double()
    flat = x.flatten(1).double()
    expected_w = torch.einsum("nj,nd->jd", p * (1 - p), flat ** 2) / x.shape[0]
    expected_b = (p * (1 - p)).mean(dim=0)
    torch.testing.assert_close(fisher["head.weight"].double(), expected_w, rtol=1e-4, atol=1e-10)
    torch.testing.assert_close(fisher["head.bias"].double(), expected_b, rtol=1e-4, atol=1e-10)


def test_sigma_star_equals_the_closed_form_on_a_brute_force_fisher():
    # P2 Def. 0.5: Sigma* = beta/2 (F_w + beta/(2 lambda^2) I)^-1, here with the (diagonal) F_w of a loop
    model = TinyLinear((1, 4, 4), 3, seed=5).eval()
    x, y = tiny_batch((1, 4, 4), n=6, num_classes=3, seed=6)
    fisher = brute_force_fisher(model, x, y, "true")
    f = torch.cat([v.flatten() for v in fisher.values()]).double()
    beta, lam = 1e-3, 0.05
    sigma = beta / 2 * torch.linalg.inv(torch.diag(f) + beta / (2 * lam ** 2) * torch.eye(f.numel(), dtype=torch.float64))
    ours = torch.cat([optimal_log_variance(v, beta, lam).flatten() for v in fisher.values()]).double()
    torch.testing.assert_close(ours, torch.log(torch.diagonal(sigma)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fisher", [0.0, 1e-6, 3e-3, 2.0])
def test_sigma_star_minimizes_the_information_lagrangian(fisher):
    # With P2's expansion E KL(p_w || p_{w+dw}) = dw^T F dw, the per-weight objective of Def. 0.5 for
    # Q = N(w, s) and P = N(0, lambda^2) is F s + beta/2 (s / lambda^2 - log s) + const; minimize numerically.
    beta, lam = 1e-4, 0.03

    def objective(log_s: float) -> float:
        s = math.exp(log_s)
        return fisher * s + beta / 2 * (s / lam ** 2 - log_s)

    best = minimize_scalar(objective, bounds=(-40, 5), method="bounded", options={"xatol": 1e-10})
    ours = float(optimal_log_variance(torch.tensor([fisher]), beta, lam))
    assert ours == pytest.approx(best.x, abs=1e-5)


def test_weight_information_is_the_gaussian_kl_to_the_prior():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, generator=gen, dtype=torch.float64) * 0.1
    log_var = torch.rand(50, generator=gen, dtype=torch.float64) * -4 - 6
    lam = 0.04
    q = torch.distributions.Normal(w, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros(50, dtype=torch.float64), torch.full((50,), lam, dtype=torch.float64))
    info = weight_information(w, log_var, lam)
    assert info["kl"] == pytest.approx(float(torch.distributions.kl_divergence(q, p).sum()), rel=1e-9)
    assert info["log_det"] == pytest.approx(float(-0.5 * (log_var - 2 * math.log(lam)).sum()), rel=1e-9)
    assert info["mean_term"] == pytest.approx(float((w ** 2).sum() / (2 * lam ** 2)), rel=1e-9)


def test_uninformative_weights_get_the_prior_variance_and_informative_ones_less():
    beta, lam = 1e-6, 0.1
    log_var = optimal_log_variance(torch.tensor([0.0, 1e-8, 1.0]), beta, lam)
    assert float(log_var[0]) == pytest.approx(2 * math.log(lam), abs=1e-6)  # F = 0: Sigma* = lambda^2
    assert float(log_var[1]) > float(log_var[2])
    assert float(log_var[2]) == pytest.approx(math.log(beta / 2 / (1.0 + beta / (2 * lam ** 2))), abs=1e-6)


def test_defaults_are_pinned():
    # P2 states neither beta nor lambda; these are the documented choices (docs/probes.md)
    assert DEFAULT_BETA == 1e-8 and DEFAULT_PRIOR_STD == 0.03


def test_noise_has_the_posterior_variance_and_is_seeded():
    log_var = {"a": torch.full((200, 100), math.log(0.04)), "b": torch.full((20000,), math.log(1e-6))}
    n1 = sample_weight_noise(log_var, torch.Generator().manual_seed(3))
    n2 = sample_weight_noise(log_var, torch.Generator().manual_seed(3))
    assert all(torch.equal(n1[k], n2[k]) for k in log_var)
    for name, var in (("a", 0.04), ("b", 1e-6)):
        assert float(n1[name].var()) == pytest.approx(var, rel=0.05)  # 2e4 draws: std error of var ~1 %
        assert abs(float(n1[name].mean())) < 5 * math.sqrt(var / n1[name].numel())


def test_perturbed_copy_adds_noise_and_leaves_the_model_alone():
    model = TinyLinear((1, 4, 4), 3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    noise = {"head.bias": torch.tensor([1.0, -2.0, 0.5])}
    noisy = perturbed_copy(model, noise)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(noisy.head.bias, model.head.bias + noise["head.bias"])
    assert torch.equal(noisy.head.weight, model.head.weight) and not noisy.training
    with pytest.raises(UsageError, match="does not have"):
        perturbed_copy(model, {"nope": torch.zeros(1)})


def test_bad_input_is_a_usage_error():
    model = TinyLinear((1, 4, 4), 3)
    x, _ = tiny_batch((1, 4, 4), n=2, num_classes=3)
    with pytest.raises(UsageError, match="needs labels"):
        diagonal_fisher(model, x, kind="empirical")
    with pytest.raises(UsageError, match="kind"):
        diagonal_fisher(model, x, kind="hessian")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="beta"):
        optimal_log_variance(torch.zeros(1), beta=0.0)
    with pytest.raises(UsageError, match="lambda"):
        optimal_log_variance(torch.zeros(1), prior_std=-1.0)
    assert np.isfinite(float(optimal_log_variance(torch.zeros(1)).item()))
