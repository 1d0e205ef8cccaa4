"""FAB's box-constrained projection onto a hyperplane: the sorted-knots route and the bisection
route solve the same problem (checked against each other here; against scipy in
test_classics_minimal.py for both routes)."""
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
def test_sorted_knots_and_bisection_agree(norm, d, monkeypatch):
    p, w, r = cases(40, d, seed=d)
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", 10**9)
    by_sort = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    monkeypatch.setattr(fab, "SORT_MAX_COORDS", 0)
    by_bisection = fab.project_onto_hyperplane_in_box(p, w, r, (0.0, 1.0), norm)
    assert torch.allclose(by_sort, by_bisection, rtol=0, atol=1e-12)
    inside = ((p + by_sort) >= -1e-12).all() and ((p + by_sort) <= 1 + 1e-12).all()
    assert bool(inside)


def test_route_choice():
    """Sorted knots up to SORT_MAX_COORDS coordinates on a CPU, bisection above."""
    assert fab.SORT_MAX_COORDS == 512 and fab.BISECTION_STEPS == 64
