"""Declared compute costs of the certify plugin (``cost`` hooks, ``robarena run --dry-run``) against the passes
:class:`bench.testing.passes.PassCounter` counts."""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.api import Cost, ProbeInput, TrainConfig
from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.testing.passes import PassCounter
from robarena_certify.defenses.gaussian_augment import GaussianAugment
from robarena_certify.probes.ibp import IBPProbe
from robarena_certify.probes.smoothing import SmoothingProbe

N = 3


def stubborn(classes: int = 10) -> nn.Sequential:
    """Flatten + Linear (IBP reads it): class 0 wins by ~50 logits under any noise or perturbation here."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, 16, generator=torch.Generator().manual_seed(0)) * 1e-3)
        model[1].bias.copy_(torch.linspace(50.0, 0.0, classes))
    return model


def probe_input(n: int = N, batch_size: int = 2) -> ProbeInput:
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    return ProbeInput(x=x, y=torch.zeros(n, dtype=torch.long), num_classes=10, device=torch.device("cpu"),
                      batch_size=batch_size)


def test_gaussian_augment_cost_is_one_step_per_example_and_epoch():
    train = TrainConfig(epochs=2, batch_size=4, lr=0.1)
    defense = GaussianAugment(train=train)
    assert defense.cost(10) == Cost(20, 20)
    x, y = torch.rand(10, 1, 4, 4), torch.arange(10) % 2
    model = stubborn(2)
    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    with PassCounter(model) as c:
        defense.fit(model, DatasetSplits(x, y, x, y, 2, ["a", "b"], {}), ctx)
    assert c.cost == defense.cost(10)


def test_ibp_cost_convention():
    probe = IBPProbe()  # 3 radii
    assert probe.cost(100, 0) == Cost(100 * (1 + 3 * IBPProbe.IBP_FORWARDS), 0)
    # the counter sees the model's own forwards only: the clean pass of every example and, per radius and
    # batch, the one-example check that the layers reproduce the model (the bounds go layer by layer)
    model, data = stubborn(), probe_input()
    with PassCounter(model) as c:
        probe(model, data)
    batches = math.ceil(N / data.batch_size)
    assert c.cost == Cost(N + 3 * batches, 0)
    assert c.cost.forward + 2 * 3 * N <= probe.cost(N, 0).forward  # + the centre and radius passes


def test_smoothing_cost_counts_certify_predict_and_the_smoothadv_steps():
    cfg = SmoothingProbe.Config(n0=4, n=10, alpha=0.01, radii=[0.0, 0.25, 0.5], batch_size=4, attack_steps=2,
                                attack_samples=3, predict_n=5)
    probe = SmoothingProbe(cfg)
    # per example: CERTIFY n0 + n; per radius > 0: 2 x 3 forward + backward passes and PREDICT's 5 forwards
    assert probe.cost(N, 0) == Cost(N * (14 + 2 * (6 + 5)), N * 2 * 6)
    assert SmoothingProbe(cfg.model_copy(update={"attack": False})).cost(N, 0) == Cost(N * 14, 0)
    model, data = stubborn(), probe_input()
    with PassCounter(model) as c:
        result = probe(model, data)
    assert result.scalars["certified@0"] == 1.0  # CERTIFY predicts every example right: all are attacked
    assert c.cost == probe.cost(N, 0)
