"""Interval bound propagation: exact on one affine layer, sound on random points, never contradicted by PGD."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import ProbeInput
from bench.api.model import Normalize
from bench.threat import ThreatModel
from bench.toolkit import pgd_steps
from robarena_certify.ibp import (UnsupportedLayerError, ibp_certified, input_box, interval_bounds,
                                  margin_lower_bounds, propagate)
from robarena_certify.probes.ibp import IBPConfig, IBPProbe
from robarena_certify.sandwich import sandwich_violations


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return module


def test_one_affine_layer_gives_the_exact_interval():
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    x, eps = torch.rand(5, 6), 0.1
    lo, up = propagate([layer], *input_box(x, eps))
    l_in, u_in = input_box(x, eps)
    c, r = (l_in + u_in) / 2, (u_in - l_in) / 2
    w, b = layer.weight.double(), layer.bias.double()
    assert torch.allclose(lo, c @ w.T + b - r @ w.abs().T, atol=1e-12)
    assert torch.allclose(up, c @ w.T + b + r @ w.abs().T, atol=1e-12)
    # the ends are attained at corners of the box: the interval is the exact range
    for i in range(4):
        corner_up = c + r * torch.sign(w[i])
        corner_lo = c - r * torch.sign(w[i])
        assert torch.allclose(corner_up @ w[i] + b[i], up[:, i], atol=1e-12)
        assert torch.allclose(corner_lo @ w[i] + b[i], lo[:, i], atol=1e-12)


def test_box_is_intersected_with_the_unit_box():
    lo, up = input_box(torch.tensor([0.0, 0.5, 1.0]), 0.2)
    assert lo.tolist() == pytest.approx([0.0, 0.3, 0.8]) and up.tolist() == pytest.approx([0.2, 0.7, 1.0])


def _conv_net() -> nn.Sequential:
    net = nn.Sequential(Normalize([0.4], [0.3]), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1, stride=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 16), nn.BatchNorm1d(16), nn.ReLU(),
                        nn.Dropout(0.5), nn.Linear(16, 5))
    _seeded(net, 3)
    with torch.no_grad():
        for bn in (net[2], net[10]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(-1.5, 1.5)
    return net.eval()


def test_bounds_contain_the_outputs_of_random_points_in_the_box():
    net = _conv_net()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=gen)
    eps = 0.05
    lo, up = interval_bounds(net, x, eps)
    l_in, u_in = input_box(x, eps)
    with torch.no_grad():
        for _ in range(50):
            u = torch.rand(40, *x.shape, generator=gen, dtype=torch.float64)
            u = torch.where(torch.rand(u.shape, generator=gen) < 0.3, u.round(), u)  # corners too
            pts = (l_in + u * (u_in - l_in)).float().reshape(-1, 1, 8, 8)
            out = net(pts).double().view(40, 4, 5)
            assert (out >= lo - 1e-5).all() and (out <= up + 1e-5).all()
    assert (up - lo > 0).all()


def test_elided_margin_is_at_least_the_naive_one_and_sound():
    net = _conv_net()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = net(x).argmax(1)
    lo, up = interval_bounds(net, x, 0.02)
    naive = lo[torch.arange(6), y].unsqueeze(1) - up
    elided = margin_lower_bounds(net, x, y, 0.02)
    mask = torch.ones_like(naive, dtype=torch.bool)
    mask[torch.arange(6), y] = False
    assert (elided[mask] >= naive[mask] - 1e-9).all()
    z = net(x).double()
    assert (elided[mask] <= (z[torch.arange(6), y].unsqueeze(1) - z)[mask] + 1e-6).all()


def test_a_bench_classifier_is_read_as_normalize_body_head():
    from bench.testing.tiny import TinyConv

    model = _seeded(TinyConv((1, 8, 8), 10), 0).eval()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    lo, up = interval_bounds(model, x, 0.0)
    z = model(x).double()
    assert torch.allclose(lo, z, atol=1e-5) and torch.allclose(up, z, atol=1e-5)  # eps 0: the point itself
    lo, up = interval_bounds(model, x, 0.01)
    assert (lo <= z + 1e-6).all() and (z <= up + 1e-6).all() and (up > lo).all()


def test_unsupported_layers_are_named():
    with pytest.raises(UnsupportedLayerError, match="Tanh"):
        interval_bounds(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), torch.rand(1, 4), 0.1)

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.normalize, self.body, self.head = nn.Identity(), nn.Sequential(nn.Flatten()), nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x)) * 2

    with pytest.raises(UnsupportedLayerError, match="do not reproduce"):
        interval_bounds(Odd(), torch.rand(2, 1, 2, 2), 0.1)
    with pytest.raises(UnsupportedLayerError, match="GRU|got"):
        interval_bounds(nn.GRU(2, 2), torch.rand(1, 2), 0.1)


def test_certified_points_have_no_pgd_counterexample():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 10, generator=gen)
    y = net(x).argmax(1)
    eps = 0.03
    cert = ibp_certified(net, x, y, eps)
    assert 20 < int(cert.sum()) < 300  # some certified, not all: the check bites
    threat = ThreatModel(norm="Linf", eps=eps)
    net4 = nn.Sequential(nn.Flatten(), net)  # PGD takes (N, C, H, W)
    xs, ys = x[cert].view(-1, 1, 1, 10), y[cert]
    for restart in range(3):
        x_adv = pgd_steps(net4, xs, ys, threat, steps=40, step_size=eps / 8, loss="cw", generator=gen,
                          random_init=restart > 0)
        assert ((x_adv - xs).abs().max() <= eps + 1e-6)
        assert (net4(x_adv).argmax(1) == ys).all()
    # uncertified points: PGD does find some counterexamples, so it is a real attack here
    x_adv = pgd_steps(net4, x[~cert].view(-1, 1, 1, 10), y[~cert], ThreatModel(norm="Linf", eps=0.3), steps=40,
                      step_size=0.3 / 8, loss="cw", generator=gen)
    assert (net4(x_adv).argmax(1) != y[~cert]).any()


def test_sandwich_violations():
    assert sandwich_violations({0.1: 0.4, 0.2: 0.3}, {0.1: 0.5, 0.2: 0.3}) == []
    msgs = sandwich_violations({"8/255": 0.6, 0.1: 0.2, 0.3: float("nan")}, {"8/255": 0.5, 0.3: 0.1})
    assert len(msgs) == 1 and "8/255" in msgs[0] and "0.6000" in msgs[0]
    assert sandwich_violations({0.1: 0.51}, {0.1: 0.5}, tolerance=0.02) == []
    with pytest.raises(ValueError):
        sandwich_violations({}, {}, tolerance=-1)


def _digits_model():
    from bench.data.digits import Digits

    data = Digits().load()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, data.x_train.shape[0], (128,), generator=gen)
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), data


def test_digits_sandwich_certified_below_empirical():
    model, data = _digits_model()
    x, y = data.x_test[:200], data.y_test[:200]
    eps = 0.01
    probe = IBPProbe(IBPConfig(eps=[eps, 0.05]))
    res = probe(model, ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu")))
    certified = res.scalars[f"certified@{eps:g}"]
    assert res.scalars["clean_accuracy"] > 0.85 and certified > 0.3
    assert res.scalars["certified@0.05"] <= certified
    gen = torch.Generator().manual_seed(0)
    x_adv = pgd_steps(model, x, y, ThreatModel(norm="Linf", eps=eps), steps=20, step_size=eps / 4, loss="ce",
                      generator=gen)
    robust = (model(x_adv).argmax(1) == y)
    empirical = float(robust.double().mean())
    assert certified <= empirical
    assert sandwich_violations({eps: certified}, {eps: empirical}) == []
    cert = torch.as_tensor(res.arrays["certified"][0])
    assert not (cert & ~robust).any()  # per example: certified => not broken by PGD
    assert res.scalars[f"certified@{eps:g}_low"] <= certified <= res.scalars[f"certified@{eps:g}_high"]


def test_the_probe_names_the_layer_it_cannot_handle():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2))
    data = ProbeInput(x=torch.rand(3, 1, 2, 2), y=torch.tensor([0, 1, 0]), num_classes=2, device=torch.device("cpu"))
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \(Sigmoid\)"):
        IBPProbe()(model, data)
