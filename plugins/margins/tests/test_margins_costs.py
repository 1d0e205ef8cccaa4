"""Declared compute costs of the P1 defenses and probes (``cost``, ``robarena run --dry-run``) against the
passes counted with :class:`bench.testing.passes.PassCounter` on tiny models and data (no early stop here)."""
from __future__ import annotations

import pytest
import torch

from bench.api import Cost, TrainConfig, TrainContext
from bench.api.data import DatasetSplits
from bench.api.probe import AttackRecord, ProbeInput
from bench.testing.passes import PassCounter
from bench.testing.tiny import TinyConv, tiny_batch
from bench.threat import ThreatModel
from robarena_margins.defenses.fgsm_at import FGSMAT
from robarena_margins.defenses.spectral_clip import SpectralClip, SpectralClipConfig
from robarena_margins.probes.confidence import ConfidenceProbe
from robarena_margins.probes.instance_margin import InstanceMarginProbe
from robarena_margins.probes.layer_spectrum import LayerSpectrumProbe
from robarena_margins.probes.loss_variation import LossVariationConfig, LossVariationProbe
from robarena_margins.probes.margin_spread import MarginSpreadProbe

TRAIN = TrainConfig(epochs=2, batch_size=8)
N_TRAIN = 20  # 3 minibatches per epoch, the last one partial


def ctx():
    return TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))


def model():
    torch.manual_seed(0)
    return TinyConv((1, 8, 8), 10)


def train_counted(defense):
    x, y = tiny_batch(n=N_TRAIN + 4, seed=1)
    data = DatasetSplits(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], 10)
    net = model()
    with PassCounter(net) as c:
        defense.fit(net, data, ctx())
    return c.cost


def test_fgsm_at():
    d = FGSMAT(train=TRAIN)
    assert d.cost(N_TRAIN) == Cost.steps(2) * (2 * N_TRAIN)
    assert train_counted(d) == d.cost(N_TRAIN)


@pytest.mark.parametrize("base, bound", [("pgd-at", 1.0), ("standard", None)])
def test_spectral_clip(base, bound):
    d = SpectralClip(SpectralClipConfig(base=base, bound=bound, steps=3), train=TRAIN)
    per = 4 if base == "pgd-at" else 1
    assert d.cost(N_TRAIN) == Cost.steps(per) * (2 * N_TRAIN) + Cost(1, 0)  # + the grid-reading forward
    assert train_counted(d) == d.cost(N_TRAIN)


def probe_input(n=10, attacks=None):
    x, y = tiny_batch(n=n, seed=2)
    return ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), batch_size=4, attacks=attacks or {})


def probe_counted(probe, data):
    net = model().eval()
    with PassCounter(net) as c:
        probe(net, data)
    return c.cost


@pytest.mark.parametrize("probe", [ConfidenceProbe(), MarginSpreadProbe()])
def test_logit_probes(probe):
    assert probe.cost(10, 100) == Cost(10, 0)
    assert probe_counted(probe, probe_input()) == probe.cost(10, 100)


def test_instance_margin():
    probe = InstanceMarginProbe()
    x, _ = tiny_batch(n=10, seed=2)
    record = AttackRecord((x + 0.3).clamp(0, 1), ThreatModel(norm="L2", eps=8.0))
    assert probe.cost(10, 100) == Cost(20, 0)
    assert probe_counted(probe, probe_input(attacks={"deepfool L2 8": record})) == probe.cost(10, 100)
    assert probe_counted(probe, probe_input()) == Cost()  # no minimal attack: NaN columns, nothing run


def test_layer_spectrum():
    probe = LayerSpectrumProbe()
    assert probe.cost(10, 100) == Cost(1, 0)  # one example's forward for the grids; SVDs are not passes
    assert probe_counted(probe, probe_input()) == probe.cost(10, 100)


@pytest.mark.parametrize("random_start", [False, True])
def test_loss_variation(random_start):
    probe = LossVariationProbe(LossVariationConfig(eps=["1/255", "4/255"], steps=3, random_start=random_start))
    assert probe.cost(10, 100) == Cost(1 + 2 * 4, 2 * 3) * 10
    assert probe_counted(probe, probe_input()) == probe.cost(10, 100)
