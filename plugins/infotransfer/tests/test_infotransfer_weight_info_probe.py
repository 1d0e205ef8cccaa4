"""The weight-info probe (P2 Def. 0.5, Fig. 4) against the closed-form Fisher of softmax regression."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.api import ProbeInput
from bench.errors import UsageError
from bench.testing.tiny import TinyLinear, tiny_batch
from robarena_infotransfer.probes.weight_info import WeightInfoConfig, WeightInfoProbe


def closed_form_log_variance(model: TinyLinear, x: torch.Tensor, beta: float, lam: float) -> dict[str, torch.Tensor]:
    """log Sigma*_ii with the true Fisher of softmax regression, F_W[j, d] = mean_n p_nj (1 - p_nj) x_nd^2."""
    p = F.softmax(model(x), dim=1).detach().double()
    fisher_w = torch.einsum("nj,nd->jd", p * (1 - p), x.flatten(1).double() ** 2) / x.shape[0]
    fisher_b = (p * (1 - p)).mean(dim=0)
    return {name: math.log(beta / 2) - torch.log(f + beta / (2 * lam ** 2))
            for name, f in (("weight", fisher_w), ("bias", fisher_b))}


def probe_input(x_train, y_train, x_test, y_test) -> ProbeInput:
    return ProbeInput(x=x_test, y=y_test, num_classes=10, device=torch.device("cpu"), x_train=x_train, y_train=y_train)


def test_columns_match_the_closed_form_posterior():
    model = TinyLinear((1, 8, 8), 10, seed=2)
    x_train, y_train = tiny_batch((1, 8, 8), n=20, seed=1)
    x_test, y_test = tiny_batch((1, 8, 8), n=5, seed=9)
    beta, lam = 1e-4, 0.05
    result = WeightInfoProbe(WeightInfoConfig(n=12, beta=beta, prior_std=lam))(
        model, probe_input(x_train, y_train, x_test, y_test))
    expected = closed_form_log_variance(model, x_train[:12], beta, lam)  # the first n training examples
    all_lv = torch.cat([v.flatten() for v in expected.values()])
    assert result.scalars["mean_log_variance"] == pytest.approx(float(all_lv.mean()), rel=1e-5)
    weights = torch.cat([model.head.weight.detach().flatten(), model.head.bias.detach()]).double()
    log_s = all_lv - 2 * math.log(lam)
    kl = 0.5 * float((log_s.exp() + weights ** 2 / lam ** 2 - 1 - log_s).sum())
    assert result.scalars["information"] == pytest.approx(kl, rel=1e-5)
    assert result.scalars["information_log_det"] == pytest.approx(float(-0.5 * log_s.sum()), rel=1e-4)
    assert result.scalars["num_weights"] == 10 * 64 + 10
    # one module owns parameters (the head): one per-layer entry, the mean over its weight and bias
    assert result.arrays["layer_mean_log_variance"].tolist() == pytest.approx([float(all_lv.mean())], rel=1e-5)
    assert result.arrays["layer_num_weights"].tolist() == [650]


def test_test_split_and_empirical_fisher_change_the_examples_used():
    model = TinyLinear((1, 8, 8), 10, seed=2)
    x_train, y_train = tiny_batch((1, 8, 8), n=12, seed=1)
    x_test, y_test = tiny_batch((1, 8, 8), n=12, seed=9)
    data = probe_input(x_train, y_train, x_test, y_test)
    beta, lam = 1e-4, 0.05
    on_test = WeightInfoProbe(WeightInfoConfig(split="test", beta=beta, prior_std=lam))(model, data)
    expected = closed_form_log_variance(model, x_test, beta, lam)
    assert on_test.scalars["mean_log_variance"] == pytest.approx(
        float(torch.cat([v.flatten() for v in expected.values()]).mean()), rel=1e-5)
    empirical = WeightInfoProbe(WeightInfoConfig(fisher="empirical", beta=beta, prior_std=lam))(model, data)
    true = WeightInfoProbe(WeightInfoConfig(beta=beta, prior_std=lam))(model, data)
    assert empirical.scalars["fisher_trace"] != pytest.approx(true.scalars["fisher_trace"], rel=1e-3)


def test_more_fisher_means_less_posterior_variance_and_more_information():
    # scaling the inputs up scales the Fisher of the weights up (F_W ~ x^2): variance down, information up
    model = TinyLinear((1, 8, 8), 10, seed=2)
    x, y = tiny_batch((1, 8, 8), n=12, seed=1)
    small = WeightInfoProbe(WeightInfoConfig(beta=1e-4, prior_std=0.05))(model, probe_input(x, y, x, y))
    large = WeightInfoProbe(WeightInfoConfig(beta=1e-4, prior_std=0.05))(model, probe_input(2 * x, y, x, y))
    assert large.scalars["mean_log_variance"] < small.scalars["mean_log_variance"]
    assert large.scalars["information_log_det"] > small.scalars["information_log_det"]


def test_defaults_are_pinned_and_conformance_holds(robarena_registry, robarena_conformance):
    cfg = WeightInfoConfig()
    assert (cfg.fisher, cfg.split, cfg.n, cfg.beta, cfg.prior_std) == ("true", "train", 256, 1e-8, 0.03)
    entry = robarena_registry.get("probe", "infotransfer/weight-info")
    assert entry.spec.needs_train and set(entry.spec.columns) == {"mean_log_variance", "information"}
    robarena_conformance.check_probe(entry)


def test_missing_training_split_is_a_usage_error():
    x, y = tiny_batch((1, 8, 8), n=4)
    data = ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"))
    with pytest.raises(UsageError, match="training split"):
        WeightInfoProbe()(TinyLinear(), data)
