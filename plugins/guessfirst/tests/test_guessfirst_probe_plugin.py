"""The label-information probe (closed form on point-mass classes) and the plugin's specs and suites."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.api import Classifier
from bench.api.probe import ProbeInput
from bench.registry import get_registry
from bench.runner.suite import resolve_suite
from robarena_guessfirst.mmd import label_mmd
from robarena_guessfirst.models.cnn import GuessFirstCNN
from robarena_guessfirst.models.hypothesis import label_hypothesis_from
from robarena_guessfirst.probes.mmd_label_info import MMDLabelInfo, MMDLabelInfoConfig


class FlatFeatures(Classifier):
    """features(x) = x flattened (a fixed map, so representations are the inputs themselves)."""

    def __init__(self, shape=(1, 2, 2), k=3):
        super().__init__(shape, k)
        self.head = nn.Linear(4, k)

    def extract(self, z):
        return z.flatten(1)


def probe_input(x, y):
    return ProbeInput(x=x, y=y, num_classes=3, device=torch.device("cpu"), batch_size=4)


def test_probe_on_point_mass_classes_matches_the_closed_form():
    """Class c is a point mass at v_c, pairwise distances all d: with kappa = exp(-d^2 / (2 s^2)),
    <mu_c, mu_c'> = kappa (c != c'), 1 (c = c'), so 1/C tr M - mean(M) = (C - 1)(1 - kappa) / C."""
    v = torch.eye(3, 4) * 0.5  # equidistant: d^2 = 0.5
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 2])
    x = v[y].view(-1, 1, 2, 2)
    sigma, c = 0.7, 3
    kappa = math.exp(-0.5 / (2 * sigma ** 2))
    result = MMDLabelInfo(MMDLabelInfoConfig(sigma=sigma))(FlatFeatures(), probe_input(x, y))
    assert result.scalars["label_mmd"] == pytest.approx((c - 1) * (1 - kappa) / c, rel=1e-6)
    # identical inputs in every class: no label information
    same = MMDLabelInfo(MMDLabelInfoConfig(sigma=sigma))(FlatFeatures(), probe_input(torch.ones_like(x), y))
    assert same.scalars["label_mmd"] == pytest.approx(0.0, abs=1e-12)
    one_class = MMDLabelInfo()(FlatFeatures(), probe_input(x, torch.zeros_like(y)))
    assert math.isnan(one_class.scalars["label_mmd"])


def test_probe_reads_the_hypothesis_layer_of_label_hypothesis_nets():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = label_hypothesis_from(GuessFirstCNN((1, 8, 8), 10)).eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(30, 1, 8, 8, generator=g), torch.arange(30) % 5
    pin = ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), batch_size=7)
    result = MMDLabelInfo()(net, pin)
    with torch.no_grad():
        rep = net.head.hidden(net.features(x), 2).double()
    per = label_mmd(rep, y)
    assert result.arrays["per_hypothesis"].shape == (10,)
    assert result.scalars["label_mmd"] == pytest.approx(float(per.mean()), rel=1e-6)
    feats = MMDLabelInfo(MMDLabelInfoConfig(layer="features"))(net, pin)
    with torch.no_grad():
        assert feats.scalars["label_mmd"] == pytest.approx(float(label_mmd(net.features(x).double(), y)), rel=1e-6)


def test_specs_and_suites():
    reg = get_registry()
    ids = {e.qualified_id for e in reg}
    for name in ("cnn", "c-js", "c-dv", "c-js-ie", "c-dv-ie", "c-energy", "vib", "mmd-label-info", "heldout-label-info", "p4-cpu",
                 "p4-full"):
        assert f"guessfirst/{name}" in ids
    cnn = reg.get("model", "guessfirst/cnn").spec
    assert cnn.min_size == 8
    assert not any(reg.get("defense", f"guessfirst/{n}").spec.randomized for n in ("c-js", "vib"))
    cpu, full = resolve_suite("guessfirst/p4-cpu", reg), resolve_suite("guessfirst/p4-full", reg)
    p4_defenses = ["classics/standard", "guessfirst/c-dv", "guessfirst/c-js", *["guessfirst/c-dv-ie"] * 3,
                   *["guessfirst/c-js-ie"] * 3, "guessfirst/vib"]
    for suite in (cpu, full):
        assert [d.id for d in suite.defenses] == p4_defenses
        # the lambda grid fixed in advance (P4's value is illegible in our copy), for both IE models
        assert [d.params["ie_weight"] for d in suite.defenses if d.id.endswith("-ie")] == [0.01, 0.03, 0.1] * 2
        assert any(a.id == "classics/fgsm-search" for a in suite.attacks)  # P4 App. F's FGSM search
        assert {p.id for p in suite.probes} == {"guessfirst/mmd-label-info", "guessfirst/heldout-label-info"}
        assert [m.id for m in suite.models] == ["guessfirst/cnn"]
        linf = {float(t.eps) for a in suite.attacks for t in a.threats() if t.norm == "Linf"}
        assert sorted(linf) == [0.15, 0.3]
        assert (suite.train.optimizer, suite.train.lr) == ("adam", 1e-3)
    assert [d.id for d in full.datasets] == ["core/mnist", "core/fashion-mnist"]
    assert (full.train.epochs, full.train.batch_size) == (200, 250)  # P4 Appendix F
    l2 = {(a.id, float(t.eps)) for a in full.attacks for t in a.threats() if t.norm == "L2"}
    assert l2 == {("classics/cw-l2", 2.0)}  # P4 Table 1: C&W L2 at 2.0
    # C&W on the 8x8 digits: P4's 2.0 on 28x28 at the same per-pixel RMS change, 2.0 * sqrt(64 / 784)
    l2_cpu = {(a.id, round(float(t.eps), 2)) for a in cpu.attacks for t in a.threats() if t.norm == "L2"}
    assert l2_cpu == {("classics/cw-l2", round(2.0 * (64 / 784) ** 0.5, 2))}
