"""Square Attack against known answers: the published schedule and patterns, closed-form
optima of binary affine models, gradient-freeness, and threat-model properties."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.aa_square_l2 import l2_side, meta_pattern, pseudo_gaussian
from robarena_classics.attacks.apgd import APGDCE
from robarena_classics.attacks.core import margin
from robarena_classics.attacks.square import Square, SquareConfig, p_schedule, window_side
from robarena_classics.models.linear import LinearClassifier


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These models are tiny: intra-op threads only add overhead (about 10x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_defaults_are_the_published_ones(robarena_registry):
    cfg = SquareConfig()
    # the reference SquareAttack's defaults (github.com/fra31/auto-attack, square.py): resc_schedule=True
    assert (cfg.n_queries, cfg.p_init, cfg.n_restarts, cfg.rescale_schedule) == (5000, 0.8, 1, True)
    spec = robarena_registry.get("attack", "classics/square").spec
    assert spec.needs_gradients is False and spec.norms == ["Linf", "L2"] and not spec.targeted


def test_p_schedule_is_the_published_piecewise_schedule():
    # written for 10,000 iterations: p_init halves after 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000
    ends = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
    for j, end in enumerate(ends):
        assert p_schedule(0.8, end, 10_000) == 0.8 / 2**j
        assert p_schedule(0.8, end + 1, 10_000) == 0.8 / 2 ** (j + 1)
    assert p_schedule(0.8, 0, 10_000) == 0.8 and p_schedule(0.8, 9_999, 10_000) == 0.8 / 512
    # rescaled: iteration i of 5000 is iteration int(2 i) of 10,000
    assert p_schedule(0.8, 5, 5000) == 0.8 and p_schedule(0.8, 6, 5000) == 0.4
    assert p_schedule(0.8, 100, 5000) == 0.2 and p_schedule(0.8, 101, 5000) == 0.1
    # not rescaled (AutoAttack standard, resc_schedule=False): iteration i of 5000 is iteration i of the schedule,
    # which never gets past 4000 < i <= 6000, p_init / 128
    for j, end in enumerate(ends[:7]):
        assert p_schedule(0.8, end, 5000, rescale=False) == 0.8 / 2**j
        assert p_schedule(0.8, end + 1, 5000, rescale=False) == 0.8 / 2 ** (j + 1)
    assert p_schedule(0.8, 4_999, 5000, rescale=False) == 0.8 / 128
    assert p_schedule(0.8, 2_000, 5000, rescale=False) == 0.8 / 32 != p_schedule(0.8, 2_000, 5000)


def test_window_sides():
    # Linf: round(sqrt(p H W)) clipped to [1, min(H, W) - 1]
    assert window_side(0.8, 32, 32) == 29 and window_side(0.05, 32, 32) == 7
    assert window_side(0.8, 8, 8) == 7 and window_side(0.8 / 512, 8, 8) == 1 and window_side(0.8, 1, 4) == 1
    # L2: at least 3, odd, capped at min(H, W)
    assert l2_side(0.8, 32, 32) == 29 and l2_side(0.1, 32, 32) == 11 and l2_side(0.001, 32, 32) == 3
    assert l2_side(0.8, 4, 4) == 4 and l2_side(0.8, 2, 6) == 2


def test_l2_patterns_known_values():
    # rows = 1, cols = 3: centre (0, 1) gets 1 + 1/4, the ring k = 1 gets 1/4
    torch.testing.assert_close(pseudo_gaussian(1, 3), torch.tensor([[0.25, 1.25, 0.25]], dtype=torch.float64)
                               / (2 * 0.25**2 + 1.25**2) ** 0.5)
    # meta pattern s = 3: the (1, 3) bump on top, the negated (2, 3) bump below, unit norm
    bottom = torch.tensor([[0.25, 0.25, 0.25], [0.25, 1.25, 0.25]], dtype=torch.float64)
    expected = torch.cat([pseudo_gaussian(1, 3), -bottom / bottom.norm()])
    torch.testing.assert_close(meta_pattern(3), expected / expected.norm())
    for s in range(1, 9):
        pat = meta_pattern(s)
        assert pat.shape == (s, s) and abs(float(pat.norm()) - 1) < 1e-12
        assert bool((pat[: s // 2] > 0).all()) and bool((pat[s // 2:] < 0).all())


def binary_model(x: torch.Tensor) -> LinearClassifier:
    """A binary affine model whose bias centres the margins of ``x`` on 0."""
    model = linear_model(2, seed=0)
    w = model.head.weight.detach()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.0, -float((x.flatten(1) @ (w[1] - w[0])).mean())]))
    return model


@pytest.mark.parametrize("norm, eps, n_queries, reach", [("Linf", 0.02, 1000, 1.0), ("L2", 0.08, 1000, 0.75)])
def test_square_on_a_binary_linear_model(norm, eps, n_queries, reach):
    """Distance to the boundary d = m / ||a||_dual (closed form). Linf: the margin is separable
    over pixels, so single-pixel proposals reach the optimal vertex: Square fools exactly the
    points with d < eps and leaves the others at the optimum. L2: random search reaches the
    boundary within 25 % of the budget. Nothing beyond d > eps can be fooled. 1000 queries
    (the schedule rescales; windows are single pixels after 2 % of them on these 4 x 4 inputs)."""
    x = interior_inputs(200, seed=1)
    model = binary_model(x)
    with torch.no_grad():
        y = model(x).argmax(1)
    w = model.head.weight.detach()
    a = w[y] - w[1 - y]
    dual = a.abs().sum(1) if norm == "Linf" else a.norm(dim=1)
    with torch.no_grad():
        m = margin(model(x), y)
    d = m / dual
    attack = Square(Square.Config(n_queries=n_queries), seed=0)
    with torch.no_grad():
        got = margin(model(attack(model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv), y)
    fooled = got < 0
    assert (d < reach * eps - 1e-4).sum() > 50 and (d > eps + 1e-4).sum() > 20
    assert bool(fooled[d < reach * eps - 1e-4].all())
    assert not bool(fooled[d > eps + 1e-4].any())
    if norm == "Linf":
        robust = ~fooled
        torch.testing.assert_close(got[robust], (m - eps * dual)[robust], rtol=0, atol=1e-4)


class _NoGradModel(nn.Module):
    """A model that exposes scores only: its output is detached from the input."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.inner(x)


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 0.5)])
def test_square_needs_no_gradients(norm, eps):
    """Gradient attacks refuse a score-only model; Square fools it as it fools the original."""
    inner = tiny_mlp((1, 4, 4), 5, seed=3)
    x = torch.rand((20, 1, 4, 4), generator=generator(4))
    with torch.no_grad():
        y = inner(x).argmax(1)
    threat = ThreatModel(norm=norm, eps=eps)
    with pytest.raises(UsageError, match="input gradients"):
        APGDCE(seed=0)(_NoGradModel(inner), x, y, threat)
    attack = Square(Square.Config(n_queries=200), seed=0)
    blind = attack(_NoGradModel(inner), x, y, threat).x_adv
    assert torch.equal(blind, attack(inner, x, y, threat).x_adv)
    with torch.no_grad():
        assert (inner(blind).argmax(1) != y).sum() > 0


def test_linf_initialisation_is_vertical_stripes():
    """With one query the unfooled examples come back at the start: x + eps * r with one sign
    per (channel, column), constant down each column."""
    model = tiny_mlp((2, 5, 6), 3, seed=5)
    x = interior_inputs(30, shape=(2, 5, 6), seed=6)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 0.01
    x_adv = Square(Square.Config(n_queries=1), seed=0)(model, x, y, ThreatModel(norm="Linf", eps=eps)).x_adv
    delta = x_adv - x
    torch.testing.assert_close(delta.abs(), torch.full_like(delta, eps), rtol=0, atol=1e-6)
    assert torch.equal(delta.sign(), delta[:, :, :1].sign().expand_as(delta))
    assert len({tuple(r.flatten().tolist()) for r in delta.sign()[:, :, 0]}) > 20  # random per example


@pytest.mark.parametrize("norm, eps", [("Linf", 0.03), ("L2", 0.1)])
def test_subsets_get_the_full_batch_result_and_seeds_are_deterministic(norm, eps):
    model = tiny_mlp((1, 6, 6), 10, seed=7)
    x = torch.rand((16, 1, 6, 6), generator=generator(8))
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm=norm, eps=eps)
    attack = Square(Square.Config(n_queries=150, n_restarts=2), seed=1)
    full = attack(model, x, y, threat).x_adv
    assert torch.equal(full, attack(model, x, y, threat).x_adv)
    assert not torch.equal(full, Square(attack.config, seed=2)(model, x, y, threat).x_adv)
    active = torch.arange(16) % 4 != 1
    sub = attack.attack_active(model, x, y, threat, torch.Generator().manual_seed(1), active)
    assert torch.equal(sub[active], full[active]) and torch.equal(sub[~active], x[~active])


def test_l2_points_lie_on_the_sphere_when_the_box_does_not_bind():
    """Every L2 proposal is rescaled to norm eps: interior inputs come back at distance eps."""
    model = tiny_mlp((3, 5, 5), 4, seed=9)
    x = interior_inputs(10, shape=(3, 5, 5), seed=10)
    with torch.no_grad():
        y = model(x).argmax(1)
    x_adv = Square(Square.Config(n_queries=50), seed=0)(model, x, y, ThreatModel(norm="L2", eps=0.2)).x_adv
    torch.testing.assert_close((x_adv - x).flatten(1).norm(dim=1), torch.full((10,), 0.2), rtol=0, atol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**16), st.sampled_from([(1, 2, 2), (2, 3, 3), (3, 1, 4), (1, 7, 5)]),
       st.sampled_from(["Linf", "L2"]), st.one_of(st.just(1.0), st.floats(1e-4, 1.0)),
       st.sampled_from(["uniform", "edges"]), st.integers(1, 40))
def test_square_stays_inside_the_ball_and_the_box(seed, shape, norm, eps, inputs, n_queries):
    model = tiny_mlp(shape, 3, seed)
    x = torch.rand((5, *shape), generator=generator(seed + 1))
    if inputs == "edges":
        x = (x > 0.5).float()
    y = torch.randint(0, 3, (5,), generator=generator(seed + 2))
    x_adv = Square(Square.Config(n_queries=n_queries, n_restarts=2), seed=seed)(
        model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv
    assert bool(torch.isfinite(x_adv).all()) and float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = (x_adv - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert float(dist.max()) <= eps * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize("rescale", [True, False])
def test_the_search_reads_the_schedule_as_configured(monkeypatch, rescale):
    import robarena_classics.attacks.square as square

    seen = []

    def recording(p_init, i, n_queries, rescale_arg=True):
        seen.append((i, n_queries, rescale_arg))
        return p_schedule(p_init, i, n_queries, rescale_arg)

    monkeypatch.setattr(square, "p_schedule", recording)
    model = tiny_mlp((1, 6, 6), 3, seed=0)
    x = interior_inputs(4, shape=(1, 6, 6), seed=1)
    y = model(x).argmax(1)
    Square(SquareConfig(n_queries=20, rescale_schedule=rescale), seed=0)(model, x, y, ThreatModel(norm="Linf", eps=0.01))
    assert seen and {(n, r) for _, n, r in seen} == {(20, rescale)}
