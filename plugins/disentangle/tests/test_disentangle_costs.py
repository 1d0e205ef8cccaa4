"""Declared compute costs of the P0 probes (``cost``, ``robarena run --dry-run``) against counted passes.

:class:`bench.testing.passes.PassCounter` counts the model's forward and backward example passes; a
Jacobian-vector product shows there as its primal forward only, while the probes count it as 2 forwards
(primal and tangent), so the tangents are counted here by wrapping ``torch.func.jvp``. Power iteration
never converges at ``tol = 1e-300`` in a few steps, so its declared upper bound is met exactly.
"""
from __future__ import annotations

import pytest
import torch

from bench.api import Cost
from bench.testing.passes import PassCounter
from disentangle_helpers import linf_record, probe_input, softmax_linear
from robarena_disentangle.probes.cckl import CCKL, CCKLConfig
from robarena_disentangle.probes.fisher_approx import FisherApprox, FisherApproxConfig
from robarena_disentangle.probes.fisher_split import FisherSplit, FisherSplitConfig
from robarena_disentangle.probes.g1g2 import G1G2, G1G2Config
from robarena_disentangle.probes.input_fisher import InputFisher, InputFisherConfig

K = 5  # classes of softmax_linear


@pytest.fixture
def jvp_tangents(monkeypatch):
    """Examples whose JVP tangent was propagated (the primal forward is PassCounter's)."""
    seen = {"n": 0}
    real = torch.func.jvp

    def jvp(func, primals, tangents, *args, **kwargs):
        seen["n"] += int(primals[0].shape[0])
        return real(func, primals, tangents, *args, **kwargs)

    monkeypatch.setattr(torch.func, "jvp", jvp)
    return seen


def data(n=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 3, 4, generator=g, dtype=torch.float64), torch.arange(n) % K


def counted(probe, model, pin, tangents):
    with PassCounter(model) as c:
        probe(model, pin)
    return c.cost + Cost(tangents["n"], 0)


def test_cckl_and_g1g2(jvp_tangents):
    model, (x, y) = softmax_linear(), data()
    probe = CCKL(CCKLConfig(n_pairs=7, n=8))
    assert probe.cost(10, 0) == Cost(8, 0)
    assert counted(probe, model, probe_input(x, y, batch_size=3), jvp_tangents) == probe.cost(10, 0)
    assert CCKL(CCKLConfig(n_pairs=7)).cost(10, 0) == Cost(10, 0)

    probe = G1G2(G1G2Config(n_pairs=7, n=8, batch_size=3))
    assert probe.cost(10, 0) == Cost(8 + 2 * 7, 0)  # logits + one JVP per pair
    assert counted(probe, model, probe_input(x, y, batch_size=4), jvp_tangents) == probe.cost(10, 0)


def test_input_fisher(jvp_tangents):
    model, (x, y) = softmax_linear(), data()
    probe = InputFisher(InputFisherConfig(power_n=5, power_iters=3, tol=1e-300, n=9, batch_size=4))
    assert probe.cost(10, 0) is None  # needs the number of classes
    declared = probe.cost(10, 0, num_classes=K)
    assert declared == Cost(2 * 9 + 5 * (2 + 2 * 3), K * 9 + 5 * 3)
    assert counted(probe, model, probe_input(x, y), jvp_tangents) == declared
    # converging power iteration: fewer passes than the bound
    loose = InputFisher(InputFisherConfig(power_n=5, power_iters=50, tol=0.5, batch_size=4))
    jvp_tangents["n"] = 0
    got, bound = counted(loose, model, probe_input(x, y), jvp_tangents), loose.cost(10, 0, num_classes=K)
    assert got.forward < bound.forward and got.backward < bound.backward


def test_fisher_split(jvp_tangents):
    model, (x, y) = softmax_linear(), data()
    pin = probe_input(x, y, batch_size=4, attacks={"PGD-20 Linf 0.1": linf_record((x + 0.1).clamp(0, 1))})
    probe = FisherSplit(FisherSplitConfig(n=7, batch_size=3))
    assert probe.cost(10, 0) is None
    assert probe.cost(10, 0, num_classes=K) == Cost(3 * 7, K * 7)
    assert counted(probe, model, pin, jvp_tangents) == probe.cost(10, 0, num_classes=K)


@pytest.mark.parametrize("source, eigenvector", [("pgd", True), ("attack", False), ("pgd", False)])
def test_fisher_approx(jvp_tangents, source, eigenvector):
    model, (x, y) = softmax_linear(), data()
    pin = probe_input(x, y, batch_size=4, attacks={"PGD-20 Linf 0.1": linf_record((x + 0.1).clamp(0, 1))})
    cfg = FisherApproxConfig(eps=["1/255", "4/255"], source=source, steps=5, eigenvector=eigenvector,
                             power_iters=3, tol=1e-300, float64=False, n=9)
    probe = FisherApprox(cfg)
    per = Cost(1 + 3 * 2 * (2 if eigenvector else 1), 0)
    per = per + (Cost.steps(5) if source == "pgd" else Cost()) + (Cost(7, 4) if eigenvector else Cost())
    assert probe.cost(10, 0) == per * 9
    assert counted(probe, model, pin, jvp_tangents) == probe.cost(10, 0)
    # the float64 copy makes the same passes (counted there, not on the given model)
    assert FisherApprox(cfg.model_copy(update={"float64": True})).cost(10, 0) == probe.cost(10, 0)
