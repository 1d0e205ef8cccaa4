"""The FGSM minimal-step search (P4 App. F, Foolbox's GradientSignAttack) against hand-computed answers.

A two-class affine model with logits (0, s(x)), s(x) = w.x + b, and label 1 where s > 0: the CE
gradient of class 1 has the sign pattern of -w, so one Linf step of length eps lowers s by
eps * ||w||_1 while no coordinate reaches the box. The model is fooled once s <= 0 (the arg-max of
a tie is class 0), i.e. at the first grid step eps_k >= s / ||w||_1.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.fgsm_search import FGSMSearch

W = torch.tensor([1.0, -2.0, 0.5, 0.5], dtype=torch.float64)  # ||w||_1 = 4


class TwoClassAffine(nn.Module):
    """Logits (0, w.x): s(0.5, ..., 0.5) = 0 since the entries of w sum to 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1) @ W
        return torch.stack([torch.zeros_like(s), s], dim=1)


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """s = 0.302 (x2 = 0.349), s = -0.1 (x1 = 0.4, already wrong), s = 0.9002 (x2 = 0.0499); label 1."""
    x = torch.full((3, 4), 0.5, dtype=torch.float64)
    x[0, 1], x[1, 0], x[2, 1] = 0.349, 0.4, 0.0499
    return x.view(3, 1, 2, 2), torch.tensor([1, 1, 1])


def test_minimal_step_distance_and_returned_examples_match_the_closed_form():
    x, y = inputs()
    attack = FGSMSearch(FGSMSearch.Config(distances_beyond_eps=True))  # P4: max_eps 1, 1000 steps of 0.001
    out = attack(TwoClassAffine(), x, y, ThreatModel(norm="Linf", eps=0.08))
    d = out.extras["distance"]
    # s = 0.302 needs eps >= 0.0755: the first grid point is 0.076; s = -0.1 is already wrong (0);
    # s = 0.9002 needs 0.22505: 0.226 (no coordinate reaches the box at these steps)
    assert d[0].item() == pytest.approx(0.076, abs=1e-12) and d[1].item() == 0.0
    assert d[2].item() == pytest.approx(0.226, abs=1e-12)
    expected = x[0] - 0.076 * torch.sign(W).view(1, 2, 2)
    assert torch.allclose(out.x_adv[0], expected, atol=1e-12)
    assert torch.equal(out.x_adv[2], x[2]) and torch.equal(out.x_adv[1], x[1])  # beyond eps / no change needed
    # below the minimal step the clean input comes back (robust at that eps), distance unchanged
    small = attack(TwoClassAffine(), x, y, ThreatModel(norm="Linf", eps=0.07))
    assert torch.equal(small.x_adv[0], x[0]) and small.extras["distance"][0].item() == pytest.approx(0.076)
    # a search that stops before 0.22505 records a failure as inf
    short = FGSMSearch(FGSMSearch.Config(max_eps=0.2, distances_beyond_eps=True))(TwoClassAffine(), x, y,
                                                                                ThreatModel(norm="Linf", eps=0.3))
    assert math.isinf(short.extras["distance"][2].item()) and torch.equal(short.x_adv[2], x[2])
    # by default the scan stops at the threat's eps: same examples returned, distances past eps are inf
    default = FGSMSearch()(TwoClassAffine(), x, y, ThreatModel(norm="Linf", eps=0.08))
    assert torch.equal(default.x_adv, out.x_adv) and math.isinf(default.extras["distance"][2].item())
    assert default.extras["distance"][0].item() == pytest.approx(0.076, abs=1e-12)
    # cost: 1 gradient, the clean check and 80 grid steps up to eps 0.08 (all 1000 with distances_beyond_eps)
    assert FGSMSearch().cost(ThreatModel(norm="Linf", eps=0.08)).forward == 82
    assert attack.cost(ThreatModel(norm="Linf", eps=0.08)).forward == 1002


def test_grid_follows_max_eps_and_steps():
    x, y = inputs()
    coarse = FGSMSearch(FGSMSearch.Config(max_eps=0.5, steps=5))(TwoClassAffine(), x, y,
                                                                  ThreatModel(norm="Linf", eps=0.5))
    assert coarse.extras["distance"][0].item() == pytest.approx(0.1)  # grid 0.1, 0.2, ...: first >= 0.0755


def test_never_above_single_step_fgsm_on_a_grid_point():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).double().eval()
    x = torch.rand(64, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="Linf", eps=0.2)  # 0.2 = 40 * 0.005 is on the grid
    search = FGSMSearch(FGSMSearch.Config(max_eps=1.0, steps=200))(model, x, y, threat)
    single = FGSM()(model, x, y, threat)
    with torch.no_grad():
        robust_search = (model(search.x_adv).argmax(1) == y)
        robust_single = (model(single.x_adv).argmax(1) == y)
    assert not (robust_search & ~robust_single).any()  # every example the single step fools, the search fools
    assert torch.equal(robust_search, search.extras["distance"] > 0.2)


def test_defaults_are_p4_and_foolbox():
    cfg = FGSMSearch.Config()
    assert cfg.max_eps == 1.0  # P4 App. F: "We set max perturbation size to 1 for FGSM attack"
    assert cfg.steps == 1000  # Foolbox GradientSignAttack(epsilons=1000): grid of 0.001
    assert cfg.distances_beyond_eps is False


def test_bad_config_is_rejected():
    with pytest.raises(Exception, match="max_eps"):
        FGSMSearch.Config(max_eps=0.0)
    with pytest.raises(UsageError):
        FGSMSearch()(TwoClassAffine(), *inputs(), ThreatModel(norm="Linf", eps=0.1, targeted=True),
                     target=torch.tensor([0, 0, 0]))
