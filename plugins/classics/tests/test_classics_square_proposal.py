"""Square's Linf proposal (one draw per example for the window position and channel signs, window
masks from a table or from row/column masks): every route gives the same, correctly distributed windows."""
from __future__ import annotations

import pytest
import torch

from bench.threat import ThreatModel
from robarena_classics.attacks import square as sq

THREAT = ThreatModel(norm="Linf", eps=0.1)


def _propose(x: torch.Tensor, p: float, seed: int = 3) -> torch.Tensor:
    n = x.shape[0]
    pos = torch.arange(0, 2 * n, 2)  # the attacked examples of a batch of 2n
    return sq.linf_propose(sq.linf_corners(x, THREAT), x.clone(), THREAT, p, pos, 2 * n,
                           torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(3, 9, 7), (1, 8, 8)])
@pytest.mark.parametrize("p", [0.8, 0.1, 0.01])
def test_table_and_row_column_masks_agree_and_windows_are_squares_of_side_s(shape, p, monkeypatch):
    x = torch.rand((20, *shape), generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2  # eps from the box
    by_table = _propose(x, p)
    sq._windows.cache_clear()
    monkeypatch.setattr(sq, "_WINDOW_TABLE_MAX", 0)
    by_masks = _propose(x, p)
    sq._windows.cache_clear()
    assert torch.equal(by_table, by_masks)
    s = sq.window_side(p, shape[1], shape[2])
    changed = (by_table != x)
    assert torch.equal(changed, changed[:, :1].expand_as(changed))  # the same window in every channel
    window = changed[:, 0]
    assert (window.flatten(1).sum(1) == s * s).all()
    assert (window.any(2).sum(1) == s).all() and (window.any(1).sum(1) == s).all()
    torch.testing.assert_close((by_table - x).abs(), torch.where(changed, 0.1, 0.0), rtol=0, atol=1e-6)


def test_positions_and_signs_are_uniform_and_clamped_to_the_box():
    x = torch.full((20000, 2, 5, 5), 0.5)
    delta = _propose(x, 0.05, seed=1) - x  # s = 1: one pixel out of 25
    hits = (delta[:, 0] != 0).double().mean(0)
    assert torch.allclose(hits, torch.full_like(hits, 1 / 25), atol=0.006)  # ~4.5 binomial sd per pixel
    up = (delta.flatten(2).sum(2) > 0).double().mean(0)
    assert torch.allclose(up, torch.full_like(up, 0.5), atol=0.02)
    edge = torch.zeros((4, 1, 3, 3))  # at the box's lower face: x - eps clamps to 0
    out = sq.linf_propose(sq.linf_corners(edge, THREAT), edge.clone(), THREAT, 1.0, torch.arange(4), 4,
                          torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= {0.0, 0.10000000149011612}


def test_many_channels_fall_back_to_separate_draws():
    x = torch.rand((10, 70, 5, 5), generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2
    out = _propose(x, 0.3)
    changed = out != x
    s = sq.window_side(0.3, 5, 5)
    assert ((out - x).abs() <= 0.1 + 1e-6).all()
    assert (changed.any(1).flatten(1).sum(1) == s * s).all()
    signs = torch.sign(out - x).flatten(2).amax(2)  # one sign per (example, channel)
    assert 0.3 < (signs > 0).double().mean() < 0.7
