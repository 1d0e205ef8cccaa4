"""Property tests: every attack returns examples inside the eps-ball and the [0, 1] box."""
from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.threat import ThreatModel
from classics_helpers import generator, tiny_mlp
from robarena_classics.attacks.core import random_start
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD

SHAPES = [(1, 2, 2), (2, 3, 3), (3, 1, 4)]


@st.composite
def attack_cases(draw):
    seed = draw(st.integers(0, 2**16))
    shape = draw(st.sampled_from(SHAPES))
    k = draw(st.integers(2, 4))
    n = draw(st.integers(1, 5))
    norm = draw(st.sampled_from(["Linf", "L2"]))
    eps = draw(st.one_of(st.just(1.0), st.floats(1e-4, 1.0)))
    targeted = draw(st.booleans())
    inputs = draw(st.sampled_from(["uniform", "edges"]))
    if draw(st.booleans()):
        attack = FGSM()
    else:
        restarts = draw(st.integers(1, 2))
        cfg = PGD.Config(
            steps=draw(st.integers(1, 4)), step_size=draw(st.floats(1e-3, 1.0)),
            random_start=restarts > 1 or draw(st.booleans()), restarts=restarts,
            loss=draw(st.sampled_from(["ce", "cw"])), early_stop=draw(st.booleans()),
        )
        attack = PGD(cfg, seed=seed)
    return seed, shape, k, n, norm, eps, targeted, inputs, attack


@settings(max_examples=60, deadline=None, derandomize=True)
@given(attack_cases())
def test_attacks_stay_inside_the_ball_and_the_box(case):
    seed, shape, k, n, norm, eps, targeted, inputs, attack = case
    model = tiny_mlp(shape, k, seed)
    g = generator(seed + 1)
    x = torch.rand((n, *shape), generator=g)
    if inputs == "edges":  # pixels on the box faces, where clamping matters most
        x = (x > 0.5).float()
    y = torch.randint(0, k, (n,), generator=g)
    target = (y + 1) % k if targeted else None
    threat = ThreatModel(norm=norm, eps=eps, targeted=targeted)
    x_adv = attack(model, x, y, threat, target=target).x_adv
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert bool(torch.isfinite(x_adv).all())
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = (x_adv - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert float(dist.max()) <= eps * (1 + 1e-6) + 1e-7


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 2**16), st.sampled_from(["Linf", "L2"]), st.floats(1e-4, 1.0), st.sampled_from(SHAPES))
def test_random_start_stays_inside_the_ball_and_the_box(seed, norm, eps, shape):
    x = torch.rand((4, *shape), generator=generator(seed))
    x0 = random_start(x, ThreatModel(norm=norm, eps=eps), generator(seed + 1))
    assert float(x0.min()) >= 0.0 and float(x0.max()) <= 1.0
    delta = (x0 - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert float(dist.max()) <= eps * (1 + 1e-6) + 1e-7


def test_l2_random_start_is_uniform_in_the_ball():
    """In d = 2 a uniform point of the ball has P(r <= eps / sqrt(2)) = 1/2; directions are
    isotropic (mean ~ 0). 20,000 draws: tolerance 0.02 is about 6 standard errors."""
    eps, n = 0.2, 20_000
    x = torch.full((n, 1, 1, 2), 0.5)
    delta = (random_start(x, ThreatModel(norm="L2", eps=eps), generator(0)) - x).flatten(1)
    r = delta.norm(dim=1)
    assert abs(float((r <= eps / math.sqrt(2)).float().mean()) - 0.5) < 0.02
    assert float(r.max()) <= eps + 1e-7
    assert float(delta.mean(0).abs().max()) < 6 * (eps / 2) / math.sqrt(n)  # 6 standard errors


def test_linf_random_start_is_uniform_in_the_cube():
    eps, n = 0.1, 5_000
    x = torch.full((n, 1, 2, 2), 0.5)
    delta = random_start(x, ThreatModel(norm="Linf", eps=eps), generator(0)) - x
    assert abs(float((delta.abs() <= eps / 2).float().mean()) - 0.5) < 0.02
    assert float(delta.abs().max()) <= eps
