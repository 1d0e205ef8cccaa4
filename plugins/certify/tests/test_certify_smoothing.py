"""Randomized smoothing against closed forms: a linear binary classifier has p_A = Phi(|w.x + b| / (sigma ||w||))."""
from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import beta, norm
from torch import nn

from bench.api import ProbeInput, TrainConfig
from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from robarena_certify.defenses.gaussian_augment import GaussianAugment, gaussian_noise_loss
from robarena_certify.probes.smoothing import SmoothingConfig, SmoothingProbe
from robarena_certify.smoothing import (ABSTAIN, Smooth, expected_linear_radius, lower_confidence_bound,
                                        smoothing_radius)


class LinearBinary(nn.Module):
    """Logits (0, w.x + b): class 1 iff w.x + b > 0."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = w.double().flatten(), float(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.double().flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(f), f], dim=1)


class Constant(nn.Module):
    def __init__(self, c: int, k: int = 3) -> None:
        super().__init__()
        self.c, self.k = c, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.k, dtype=x.dtype)
        out[:, self.c] = 1.0
        return out


def test_lower_bound_is_one_sided_clopper_pearson():
    for k, n, alpha in [(90, 100, 0.001), (512, 1000, 0.01), (3, 10, 0.05)]:
        assert lower_confidence_bound(k, n, alpha) == pytest.approx(beta.ppf(alpha, k, n - k + 1), rel=1e-9)
    assert lower_confidence_bound(100, 100, 0.001) == pytest.approx(0.001 ** (1 / 100), rel=1e-9)


def test_radius_formula_with_known_p_a():
    assert smoothing_radius(norm.cdf(1.5), 0.25) == pytest.approx(0.375, rel=1e-9)
    assert smoothing_radius(0.5, 1.0) == 0.0 and smoothing_radius(0.3, 1.0) == 0.0


def test_certify_of_a_constant_classifier_is_the_closed_form():
    # every noisy copy is class 2: n_A = n, p_A_lower = alpha^(1/n), radius = sigma Phi^-1(alpha^(1/n))
    smooth = Smooth(Constant(2), 3, sigma=0.5)
    c, r = smooth.certify(torch.zeros(1, 2, 2), n0=10, n=1000, alpha=0.001, generator=torch.Generator().manual_seed(0))
    assert c == 2 and r == pytest.approx(0.5 * norm.ppf(0.001 ** (1 / 1000)), rel=1e-9)


def test_linear_classifier_radius_converges_to_the_distance_from_below():
    w, b, sigma = torch.tensor([3.0, -4.0]), 0.5, 0.5
    x = torch.tensor([0.5, 0.0]).view(1, 1, 2)  # w.x + b = 2, ||w|| = 5: distance 0.4
    d = expected_linear_radius(w, b, x)
    assert d == pytest.approx(0.4)
    smooth = Smooth(LinearBinary(w, b), 2, sigma, batch_size=20_000)
    gen = torch.Generator().manual_seed(0)
    counts = smooth.sample_counts(x.double(), 100_000, gen)
    p_a = norm.cdf(d / sigma)
    assert abs(counts[1].item() / 100_000 - p_a) < 5 * math.sqrt(p_a * (1 - p_a) / 100_000)
    c, r = smooth.certify(x.double(), n0=100, n=100_000, alpha=0.001, generator=gen)
    assert c == 1 and d - 0.03 < r <= d


def test_certified_radius_never_exceeds_the_distance_to_the_boundary():
    gen = torch.Generator().manual_seed(1)
    certified = 0
    for _ in range(200):
        w, b = torch.randn(5, generator=gen), float(torch.randn(1, generator=gen))
        x = torch.rand(1, 1, 5, generator=gen).double()
        sigma = float(torch.rand(1, generator=gen)) + 0.1
        truth = int(float(w @ x.flatten().float()) + b > 0)
        c, r = Smooth(LinearBinary(w, b), 2, sigma).certify(x, n0=50, n=500, alpha=0.001, generator=gen)
        if c != ABSTAIN:
            assert c == truth and r <= expected_linear_radius(w, b, x)
            certified += 1
    assert certified > 50  # the check is not vacuous


def test_predict_abstains_on_the_boundary_and_answers_far_from_it():
    w = torch.tensor([1.0, 1.0])
    gen = torch.Generator().manual_seed(0)
    on_boundary = Smooth(LinearBinary(w, -1.0), 2, sigma=0.5)
    assert on_boundary.predict(torch.tensor([0.5, 0.5]).double(), n=1000, alpha=0.001, generator=gen) == ABSTAIN
    far = Smooth(LinearBinary(w, -1.0), 2, sigma=0.1)
    assert far.predict(torch.tensor([1.0, 1.0]).double(), n=1000, alpha=0.001, generator=gen) == 1
    assert far.predict(torch.tensor([0.0, 0.0]).double(), n=1000, alpha=0.001, generator=gen) == 0


def test_probe_columns_on_a_constant_classifier():
    # class 1 everywhere: labels 1 are certified up to sigma Phi^-1(alpha^(1/n)), the others never
    cfg = SmoothingProbe.smoke_config()
    r_max = cfg.sigma * norm.ppf(cfg.alpha ** (1 / cfg.n))
    radii = [0.0, round(r_max - 0.01, 3), round(r_max + 0.01, 3)]
    probe = SmoothingProbe(SmoothingConfig(**{**cfg.model_dump(), "radii": radii}))
    y = torch.tensor([1, 1, 1, 0, 2, 1, 0, 1])
    data = ProbeInput(x=torch.rand(8, 1, 2, 2), y=y, num_classes=3, device=torch.device("cpu"))
    res = probe(Constant(1), data)
    s = res.scalars
    assert s["n"] == 8 and s["abstain_rate"] == 0.0
    assert s[f"certified@{radii[0]:g}"] == s[f"certified@{radii[1]:g}"] == s["smoothed_accuracy"] == 5 / 8
    assert s[f"certified@{radii[2]:g}"] == 0.0 and s[f"certified@{radii[1]:g}_k"] == 5
    assert s[f"certified@{radii[1]:g}_low"] < 5 / 8 < s[f"certified@{radii[1]:g}_high"]
    assert s["mean_radius"] == pytest.approx(5 / 8 * r_max)
    assert res.arrays["prediction"].tolist() == [1] * 8


def test_smoothing_config_defaults_are_the_papers():
    cfg = SmoothingConfig()
    assert (cfg.n0, cfg.n, cfg.alpha) == (100, 100_000, 0.001)


def test_gaussian_augmentation_trains_on_noised_inputs():
    x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    got = gaussian_noise_loss(model, x, y, 0.3, torch.Generator().manual_seed(5))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    assert got.item() == pytest.approx(nn.functional.cross_entropy(model(x + 0.3 * noise), y).item(), rel=1e-6)
    assert got.item() != pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-6)
    data = DatasetSplits(x, y, x, y, 2, ["a", "b"], {})
    defense = GaussianAugment(train=TrainConfig(epochs=1, batch_size=6, lr=0.1))
    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    trained = defense(lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), data, ctx)
    assert not trained.training and len(ctx.log["train_loss"]) == 1
