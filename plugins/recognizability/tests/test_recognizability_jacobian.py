"""The Jacobian probe against closed forms: linear models (J = W), dense Jacobians, variance."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.api import ProbeInput
from bench.registry import get_registry
from bench.testing.conformance import check_probe
from bench.testing.tiny import TinyConv, TinyLinear
from robarena_recognizability.defenses.fisher_penalty import fisher_jacobian_estimate
from robarena_recognizability.probes.jacobian import (JacobianConfig, JacobianProbe, jacobian_frobenius_estimate,
                                                      spectral_norm_and_direction)


def probe_input(x: torch.Tensor, num_classes: int = 10, batch_size: int = 256) -> ProbeInput:
    y = torch.zeros(x.shape[0], dtype=torch.long)
    return ProbeInput(x=x, y=y, num_classes=num_classes, device=torch.device("cpu"), batch_size=batch_size)


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    return float(values.mean()), float(values.std() / math.sqrt(values.numel()))


def test_defaults_follow_hoffman_and_p3():
    cfg = JacobianConfig()
    assert cfg.n_proj == 1  # Hoffman et al. 2019, Alg. 1
    assert cfg.power_iters == 20 and cfg.fd_random == 4 and cfg.n is None
    assert cfg.fd_radius == pytest.approx(2 / 255)  # one P3 attack step, as an RMS per-pixel change
    assert JacobianConfig(fd_radius="4/255").fd_radius == pytest.approx(4 / 255)


def test_linear_model_frobenius_estimate_is_unbiased_for_the_weight_norm():
    model = TinyLinear((1, 4, 4), 5, seed=1).eval()
    w = model.head.weight.detach().double()
    x = torch.rand(1, 1, 4, 4).expand(4000, -1, -1, -1).contiguous()  # one point, 4000 independent draws
    _, est = jacobian_frobenius_estimate(model, x, torch.Generator().manual_seed(0), n_proj=1)
    mean, se = mean_and_stderr(est)
    assert abs(mean - float(w.pow(2).sum())) < 5 * se
    # the probe's column: sqrt of the mean estimate, J = W at every point
    result = JacobianProbe(JacobianConfig(), seed=0)(model, probe_input(torch.rand(2000, 1, 4, 4), 5, 500))
    assert result.scalars["jacobian_fro"] == pytest.approx(float(w.norm()), rel=0.03)


def test_linear_model_spectral_norm_and_lipschitz_equal_the_top_singular_value():
    model = TinyLinear((1, 4, 4), 5, seed=2).eval()
    sigma = float(torch.linalg.matrix_norm(model.head.weight.detach().double(), ord=2))
    x = torch.rand(6, 1, 4, 4)
    spec, top = spectral_norm_and_direction(model, x, torch.Generator().manual_seed(0), iters=300)
    assert torch.allclose(spec.double(), torch.full((6,), sigma, dtype=torch.double), rtol=1e-4)
    assert torch.allclose(top.flatten(1).norm(dim=1), torch.ones(6), atol=1e-5)
    cfg = JacobianConfig(power_iters=300)
    scalars = JacobianProbe(cfg, seed=0)(model, probe_input(x, 5)).scalars
    assert scalars["jacobian_spectral"] == pytest.approx(sigma, rel=1e-4)
    # a finite difference of a linear map along its top singular vector is exactly sigma_max
    assert scalars["lipschitz_local"] == pytest.approx(sigma, rel=1e-4)
    # random directions alone stay below sigma_max
    assert scalars["lipschitz_local"] >= JacobianProbe(JacobianConfig(power_iters=1, fd_random=0), seed=0)(
        model, probe_input(x, 5)).scalars["lipschitz_local"] - 1e-6


def dense_fisher_trace(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """tr(J^T (diag p - p p^T) J) per example, J the dense logit Jacobian (K x d)."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)).squeeze(0), xi)
        jac = jac.reshape(jac.shape[0], -1).double()
        p = model(xi.unsqueeze(0)).double().softmax(dim=1).squeeze(0)
        fisher = torch.diag(p) - torch.outer(p, p)
        out.append(torch.trace(jac.T @ fisher @ jac))
    return torch.stack(out).detach()


def p3_form(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """P3 Eq. B.3's form: sum_k ||grad_x p_k||^2 / p_k with p = softmax (an independent computation)."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)).softmax(dim=1).squeeze(0), xi)
        jac = jac.reshape(jac.shape[0], -1).double()
        p = model(xi.unsqueeze(0)).double().softmax(dim=1).squeeze(0)
        out.append((jac.pow(2).sum(dim=1) / p).sum())
    return torch.stack(out).detach()


def test_fisher_weighted_norm_matches_the_dense_formula_on_a_tiny_model():
    torch.manual_seed(0)
    model = TinyConv((1, 5, 5), 4).eval()
    x = torch.rand(3, 1, 5, 5)
    dense = dense_fisher_trace(model, x)
    assert torch.allclose(dense, p3_form(model, x), rtol=1e-4)  # the two definitions of F_f agree
    for i in range(3):
        xi = x[i:i + 1].expand(3000, -1, -1, -1).contiguous()
        _, est = fisher_jacobian_estimate(model, xi, torch.Generator().manual_seed(i), n_proj=1)
        mean, se = mean_and_stderr(est.detach())
        assert abs(mean - float(dense[i])) < 5 * se
    # and through the probe: sqrt of the mean over points of tr F_x
    cfg = JacobianConfig(n_proj=400)
    scalars = JacobianProbe(cfg, seed=0)(model, probe_input(x, 4)).scalars
    assert scalars["fisher_jacobian_fro"] == pytest.approx(float(dense.mean().sqrt()), rel=0.05)


def test_more_projections_lower_the_variance():
    model = TinyLinear((1, 4, 4), 6, seed=3).eval()
    x = torch.rand(1, 1, 4, 4).expand(600, -1, -1, -1).contiguous()
    variances = {}
    for n_proj in (1, 16):
        _, est = jacobian_frobenius_estimate(model, x, torch.Generator().manual_seed(n_proj), n_proj=n_proj)
        variances[n_proj] = float(est.double().var())
    assert variances[1] > 0
    assert variances[16] < variances[1] / 4  # 1 / n_proj in expectation: 16 times smaller


class Constant(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1) + 0 * x.flatten(1).sum(dim=1, keepdim=True)


def test_constant_classifier_has_zero_jacobian_and_no_spread():
    model = Constant(torch.tensor([0.3, -1.0, 2.0]))
    scalars = JacobianProbe(JacobianConfig(), seed=0)(model, probe_input(torch.rand(20, 1, 4, 4), 3)).scalars
    assert scalars["jacobian_fro"] == 0 and scalars["fisher_jacobian_fro"] == 0
    assert scalars["jacobian_spectral"] == 0 and scalars["lipschitz_local"] == 0
    assert scalars["output_spread"] == pytest.approx(0, abs=1e-12) and scalars["top_class_share"] == 1.0


def test_output_spread_of_two_opposite_confident_outputs_is_one_half():
    # logits +-40 x[0]: one-hot outputs (0, 1) and (1, 0); mean (1/2, 1/2); each at TV 1/2 from it
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[-40.0], [40.0]]))
        model[1].bias.zero_()
    x = torch.tensor([1.0, 1.0, 1.0, -1.0]).view(4, 1, 1, 1)
    scalars = JacobianProbe(JacobianConfig(), seed=0)(model, probe_input(x, 2)).scalars
    assert scalars["top_class_share"] == 0.75
    p = torch.tensor([[0.0, 1.0]] * 3 + [[1.0, 0.0]])
    expected = 0.5 * (p - p.mean(dim=0)).abs().sum(dim=1).mean()
    assert scalars["output_spread"] == pytest.approx(float(expected), abs=1e-6)


def test_first_n_points_and_batching_do_not_change_the_columns():
    model = TinyLinear((1, 4, 4), 5, seed=4).eval()
    x = torch.rand(30, 1, 4, 4)
    cfg = JacobianConfig(n=30, power_iters=200)
    one = JacobianProbe(cfg, seed=0)(model, probe_input(x, 5, batch_size=30)).scalars
    many = JacobianProbe(cfg, seed=0)(model, probe_input(torch.cat([x, x]), 5, batch_size=7)).scalars
    for key in ("jacobian_spectral", "lipschitz_local", "output_spread", "top_class_share"):
        assert one[key] == pytest.approx(many[key], rel=1e-5)


def test_probe_conforms():
    check_probe(get_registry().get("probe", "recognizability/jacobian"))
