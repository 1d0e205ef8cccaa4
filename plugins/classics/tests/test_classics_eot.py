"""EOT-PGD against a randomized model whose noise comes from torch's global RNG.

The test defense, ``GradientNoise``, predicts exactly like its affine base model, but every
forward pass draws a fresh N(0, sigma^2) matrix from the global RNG that enters only the
input gradient (``sigma * (x - x.detach()) @ N^T`` is zero in value): a single pass gives the
true gradient plus large zero-mean noise, the average over k passes divides the noise by
sqrt(k). Plain PGD follows the noise; EOT-PGD follows the expectation.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.eot import PGDEOT, private_global_rng
from robarena_classics.attacks.pgd import PGD

SHAPE = (1, 8, 8)


class GradientNoise(nn.Module):
    """``base(x)`` in value; its input gradient gets ``sigma * N^T (dL/dz)``, N fresh per pass."""

    def __init__(self, base: nn.Module, sigma: float) -> None:
        super().__init__()
        self.base, self.sigma = base, sigma
        self.draws: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.base(x)
        noise = torch.randn(z.shape[1], x[0].numel(), dtype=x.dtype, device=x.device)
        self.draws.append(float(noise[0, 0]))
        return z + self.sigma * (x - x.detach()).flatten(1) @ noise.T


@pytest.fixture(scope="module")
def problem():
    base = linear_model(10, shape=SHAPE, seed=0)
    x = interior_inputs(200, shape=SHAPE, seed=1)
    with torch.no_grad():
        y = base(x).argmax(1)
    return base, x, y


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_defaults():
    cfg = PGDEOT.Config()
    assert cfg.eot_samples == 20   # AutoAttack's "rand" version: eot_iter = 20
    assert cfg.steps == 20 and cfg.step_size is None and cfg.random_start and cfg.loss == "ce"
    # the step scales with the threat as PGD's: Linf eps / 4 (P0's 2/255 at 8/255), L2 2.5 eps / steps
    assert PGDEOT().step_size_for(ThreatModel(norm="Linf", eps="8/255")) == 2 / 255
    assert PGDEOT().step_size_for(ThreatModel(norm="L2", eps=0.5)) == 2.5 * 0.5 / 20
    assert cfg.step_budgets(ThreatModel(norm="Linf", eps=0.3)) == [("Linf", 0.3, 20, 0.075, True, "")]


def test_eot_beats_plain_pgd_on_a_randomized_model(problem):
    """Linf eps 0.1, 10 steps of eps/4, sigma 5 (5x the N(0, 1) weights). Measured over seeds
    0-2: plain PGD leaves 62-69 % accuracy, EOT-PGD with 20 samples 3.5-4.5 %, and PGD on the
    noise-free model 0.5 %."""
    base, x, y = problem
    model = GradientNoise(base, sigma=5.0)
    threat = ThreatModel(norm="Linf", eps=0.1)
    assert accuracy(model, x, y) == 1.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)   # plain PGD lets the model consume the global RNG
        plain = PGD(PGD.Config(steps=10, step_size=0.025, early_stop=False), seed=0)(model, x, y, threat).x_adv
    eot = PGDEOT(PGDEOT.Config(steps=10, step_size=0.025, eot_samples=20), seed=0)(model, x, y, threat).x_adv
    assert accuracy(model, plain, y) >= 0.5
    assert accuracy(model, eot, y) <= 0.15


def test_eot_draws_fresh_noise_per_pass_deterministically_and_restores_the_global_rng(problem):
    base, x, y = problem
    model = GradientNoise(base, sigma=5.0)
    threat = ThreatModel(norm="L2", eps=0.5)
    cfg = PGDEOT.Config(steps=3, eot_samples=4)
    state = torch.get_rng_state()
    a = PGDEOT(cfg, seed=1)(model, x, y, threat).x_adv
    draws_a, model.draws = model.draws, []
    assert torch.equal(state, torch.get_rng_state())
    b = PGDEOT(cfg, seed=1)(model, x, y, threat).x_adv
    draws_b, model.draws = model.draws, []
    c = PGDEOT(cfg, seed=2)(model, x, y, threat).x_adv
    assert len(draws_a) == 3 * 4 and len(set(draws_a)) == 12     # never reseeded between passes
    assert draws_a == draws_b and torch.equal(a, b)               # seeded from the attack's generator
    assert model.draws != draws_a and not torch.equal(a, c)


@pytest.mark.parametrize("targeted", [False, True])
def test_eot_on_a_deterministic_model_is_plain_pgd(targeted):
    model = tiny_mlp(SHAPE, 5, seed=3)
    x = torch.rand((30, *SHAPE), generator=generator(4))
    y = torch.randint(0, 5, (30,), generator=generator(5))
    target = (y + 1) % 5 if targeted else None
    for norm, eps in [("Linf", 0.1), ("L2", 0.5)]:
        threat = ThreatModel(norm=norm, eps=eps, targeted=targeted)
        pgd = PGD(PGD.Config(steps=7, step_size=eps / 4, early_stop=False), seed=6)(model, x, y, threat, target=target)
        eot_cfg = PGDEOT.Config(steps=7, step_size=eps / 4, eot_samples=3)
        eot = PGDEOT(eot_cfg, seed=6)(model, x, y, threat, target=target)
        if norm == "Linf":  # the sign of a sum of equal gradients is their sign: bit-identical
            assert torch.equal(eot.x_adv, pgd.x_adv)
        else:               # L2 normalisation of 3g vs g: equal up to float rounding
            torch.testing.assert_close(eot.x_adv, pgd.x_adv, rtol=0, atol=1e-5)


def test_private_global_rng_seeds_inside_and_restores_outside():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with private_global_rng(torch.device("cpu"), 7):
        inside = torch.rand(3)
    assert torch.equal(before, torch.get_rng_state())
    assert torch.equal(inside, torch.rand(3, generator=torch.Generator().manual_seed(7)))
