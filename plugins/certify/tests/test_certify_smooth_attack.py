"""SmoothAdv on the smoothed classifier against closed forms: a linear binary classifier ``sign(w.x + b)``.

With ``||w|| = 1`` the L2 distance of ``x`` to the boundary is ``|w.x + b|``, the soft smoothed
classifier's loss gradient is a multiple of ``w`` for every noise draw, so the optimal L2 attack of
radius r is ``x - r * sign(w.x + b) * w`` and SmoothAdv-PGD must land exactly there.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import CertifiedAccuracy, ProbeInput
from bench.errors import UsageError
from robarena_certify.probes.smoothing import SmoothingConfig, SmoothingProbe
from robarena_certify.smooth_attack import smooth_adv

W = torch.full((1, 8, 8), 1.0 / 8.0, dtype=torch.float64)  # unit L2 norm
X0 = torch.full((1, 8, 8), 0.5, dtype=torch.float64)       # on the boundary when b = -w.x0 = -4
DISTANCES = [0.1, 0.3, 0.6, 1.0, -0.2, -0.8]                 # signed distances to the boundary


class LinearBinary(nn.Module):
    """Logits (0, w.x + b): class 1 iff w.x + b > 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w, self.b = W.flatten(), -float(W.flatten() @ X0.flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.double().flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(f), f], dim=1)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([X0 + d * W for d in DISTANCES]).float()
    y = torch.tensor([1 if d > 0 else 0 for d in DISTANCES])
    return x, y


def test_smooth_adv_reaches_the_closed_form_optimum():
    x, y = _data()
    model = LinearBinary()
    for r in (0.25, 0.5):
        x_adv = smooth_adv(model, x, y, sigma=0.25, radius=r, steps=10, samples=4,
                           generator=torch.Generator().manual_seed(0))
        sign = (2 * y - 1).view(-1, 1, 1, 1).to(torch.float64)
        expected = x.double() - r * sign * W
        assert torch.allclose(x_adv.double(), expected, atol=1e-5)
        assert (x_adv - x).flatten(1).norm(dim=1).max() <= r + 1e-5
    assert torch.equal(smooth_adv(model, x, y, 0.25, 0.0), x)


def test_smooth_adv_stays_in_the_ball_and_the_box():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    x, y = torch.rand(7, 1, 4, 4), torch.randint(0, 5, (7,))
    kw = dict(sigma=0.5, radius=2.0, steps=5, samples=3)
    x_adv = smooth_adv(model, x, y, generator=torch.Generator().manual_seed(1), **kw)
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 2.0 + 1e-5
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    again = smooth_adv(model, x, y, generator=torch.Generator().manual_seed(1), **kw)
    assert torch.equal(x_adv, again)  # deterministic for a seed


def test_smooth_adv_refuses_bad_arguments():
    x, y = _data()
    with pytest.raises(UsageError, match="sigma"):
        smooth_adv(LinearBinary(), x, y, sigma=0.0, radius=0.5)
    with pytest.raises(UsageError, match="radius"):
        smooth_adv(LinearBinary(), x, y, sigma=0.25, radius=-1.0)


def test_probe_never_counts_a_certified_example_broken_and_breaks_the_non_robust_ones():
    x, y = _data()
    radii = [0.0, 0.25, 0.5]
    cfg = SmoothingConfig(sigma=0.25, n0=100, n=4000, alpha=0.001, radii=radii, batch_size=1000,
                          attack_steps=10, attack_samples=4, predict_n=2000)
    res = SmoothingProbe(cfg, seed=0)(LinearBinary(), ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu")))
    pred, radius = res.arrays["prediction"], res.arrays["radius"]
    empirical = torch.as_tensor(res.arrays["empirical"])  # (2, N) over radii 0.25, 0.5
    dist = torch.tensor([abs(d) for d in DISTANCES])
    assert (torch.as_tensor(radius) <= dist + 1e-9).all()  # the certificate is sound (closed form)
    for j, r in enumerate([0.25, 0.5]):
        certified = torch.as_tensor((pred == y.numpy()) & (radius >= r))
        assert not (certified & ~empirical[j]).any()  # a certified example is never counted broken
        # the attack puts every example closer than r - 0.2 at least 0.2 / sigma = 0.8 STDs on the wrong side:
        # P(f = wrong) >= Phi(0.8) = 0.79, so PREDICT with 2000 draws returns the wrong class
        assert not empirical[j][dist < r - 0.2 + 1e-9].any()
        assert empirical[j][dist > r + 0.2].all()  # far from the boundary: the attack cannot cross it
        assert res.scalars[f"empirical@{r:g}_k"] == float(empirical[j].sum())
        assert res.scalars[f"certified@{r:g}"] <= res.scalars[f"empirical@{r:g}"]
    # d = 0.1 and d = -0.2 are within 0.5 - 0.2 of the boundary; d = 0.1 also at r = 0.25 is not certified
    assert empirical[1].tolist() == [False, False, True, True, False, True]
    assert [(c.norm, c.eps, c.classifier, c.n) for c in res.certified] == [("L2", 0.25, "smoothed", 6),
                                                                            ("L2", 0.5, "smoothed", 6)]
    for c, j in zip(res.certified, range(2)):
        assert isinstance(c, CertifiedAccuracy) and c.empirical_correct == int(empirical[j].sum())
        assert c.correct == res.scalars[f"certified@{c.eps_display}_k"] and c.empirical_source


def test_probe_without_attack_reports_certified_only():
    x, y = _data()
    cfg = SmoothingConfig(sigma=0.25, n0=10, n=200, alpha=0.01, radii=[0.0, 0.25], attack=False)
    res = SmoothingProbe(cfg)(LinearBinary(), ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu")))
    assert "empirical" not in res.arrays and not any(k.startswith("empirical@") for k in res.scalars)
    assert [c.empirical_correct for c in res.certified] == [None]
