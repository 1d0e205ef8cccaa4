"""FAB's box-constrained projection onto a hyperplane: the sorted-knots route and the bisection
route (halvings, then an exact linear finish once no knot is left in the bracket) solve the same
problem (checked against each other here; against scipy in test_classics_minimal.py for both
routes)."""
import pytest
import torch

import robarena_classics.attacks.fab as fab


def cases(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    w[::4, : d // 2] = 0                       # coordinates the hyperplane does not depend on
    w[1::7] = 0                                # an example with w = 0
    scale = torch.tensor([0.01, 0.3, 3.0, 30.0, 300.0], dtype=torch.float64)  # 300: the plane misses the box
    r = torch.randn(n, generator=g, dtype=torch.float64) * scale.repeat(n // 5 + 1)[:n]
    return p, w, r


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("d", [1, 7, 300])
@pytest.mark.parametrize("first", [1, "default", 64])  # 64: bisection only, no finish before the last halving
def test_sorted_knots_and_bisection_agree(norm, d, first, monkeypatch):
    p, w, r = cases(40, d, seed=d)
    if first != "default":
        monkeypatch.setattr(fab, "FIRST_FINISH", {"Linf": first, "L2": first})
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", {"Linf": 10**9, "L2": 10**9})
    by_sort = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", {"Linf": 0, "L2": 0})
    by_bisection = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    assert torch.allclose(by_sort, by_bisection, rtol=0, atol=1e-12)
    inside = ((p + by_sort) >= -1e-12).all() and ((p + by_sort) <= 1 + 1e-12).all()
    assert bool(inside)


def test_route_choice():
    """Sorted knots up to SORT_MAX_COORDS coordinates on a CPU, bisection above."""
    assert fab.SORT_MAX_COORDS == {"Linf": 32, "L2": 128} and fab.BISECTION_STEPS == 64
    assert fab.FIRST_FINISH == {"Linf": 16, "L2": 24} and fab.FINISH_EVERY == 8


def test_bisection_finish_is_exact_at_a_knot_and_when_the_plane_misses_the_box(monkeypatch):
    """A root on a knot at a dyadic point (a bracket end the halvings hit exactly) and a plane out of
    reach (the bracket runs to the end that saturates every coordinate) come out as their closed forms."""
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", {"Linf": 0, "L2": 0})
    p = torch.tensor([[0.75, 0.5, 0.5, 0.5], [0.2, 0.4, 0.6, 0.8]], dtype=torch.float64)
    w = torch.tensor([[1.0, 1.0, -2.0, 0.0], [1.0, -1.0, 1.0, -1.0]], dtype=torch.float64)
    # row 0, Linf: d = clip(lam sign(w)); coordinate 0 saturates at lam = 0.25, g(0.25) = 0.25 + 0.25 + 0.5
    # row 1: <w, d> can reach at most 0.8 + 0.4 + 0.4 + 0.8 = 2.4 < 5: every coordinate at its bound
    r = torch.tensor([1.0, 5.0], dtype=torch.float64)
    d = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), "Linf")
    expected = torch.tensor([[0.25, 0.25, -0.25, 0.0], [0.8, -0.4, 0.4, -0.8]], dtype=torch.float64)
    assert torch.allclose(d, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("route", ["sorted knots", "bisection"])
def test_float32_inputs_are_projected_to_float32_rounding(norm, route, monkeypatch):
    """float32 inputs are projected in float32 (as the authors' code): the result is float32, in the
    box, and on the float64 solution to float32 rounding."""
    big = 10**9 if route == "sorted knots" else 0
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", {"Linf": big, "L2": big})
    p, w, r = cases(40, 300, seed=3)
    exact = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    p32, w32, r32 = p.float(), w.float(), r.float()
    d32 = fab.project_onto_hyperplane_in_box(p32, w32, r32, (0.0, 1.0), norm)
    assert d32.dtype == torch.float32
    assert torch.allclose(d32.double(), exact, rtol=0, atol=2e-6)
    assert bool(((p32 + d32) >= -1e-6).all() and ((p32 + d32) <= 1 + 1e-6).all())
