"""Declared compute costs of the P4 defenses and probes (``cost``, ``robarena run --dry-run``) against the
passes the code makes, counted with :class:`bench.testing.passes.PassCounter` on tiny models and data.

Training calls the label-hypothesis net's ``forward`` (C-JS, C-DV, C-energy) or ``scores_and_hidden``
(IE variants), and VIB its ``encode`` / ``decode``, so the passes are counted on the submodules every pass
goes through (the trunk, the VIB encoder and decoder) and, for the hypothesis head, on each call of
``head.hidden`` (each starts a pass of the FC layers, the first of a step after the trunk).
"""
from __future__ import annotations

import pytest
import torch

from bench.api import Cost, TrainConfig, TrainContext
from bench.api.data import DatasetSplits
from bench.api.probe import ProbeInput
from bench.testing.passes import PassCounter
from bench.testing.tiny import TinyConv
from robarena_guessfirst.defenses.guess_first import CDV, CDVIE, CEnergy, CJS, CJSIE
from robarena_guessfirst.defenses.vib import VIB
from robarena_guessfirst.models.cnn import GuessFirstCNN, GuessFirstCNNConfig
from robarena_guessfirst.probes.heldout_label_info import HeldoutLabelInfo, HeldoutLabelInfoConfig
from robarena_guessfirst.probes.mmd_label_info import MMDLabelInfo, MMDLabelInfoConfig

SHAPE, K = (1, 8, 8), 4
TRAIN = TrainConfig(epochs=2, batch_size=8)
N_TRAIN = 20  # 3 minibatches per epoch, the last one partial


def splits(n_train=N_TRAIN, n_test=6):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_train + n_test, *SHAPE, generator=g)
    y = torch.arange(n_train + n_test) % K
    return DatasetSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:], K)


def cnn():
    torch.manual_seed(0)
    return GuessFirstCNN(SHAPE, K, GuessFirstCNNConfig(channels=(2, 4), fc=(8, 6, 5)))


def ctx():
    return TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))


class HeadPasses:
    """Examples through each call of ``head.hidden`` (forward) and the backward reaching its output."""

    def __init__(self, head):
        self.forward = self.backward = 0
        real = head.hidden

        def hidden(h, upto=None):
            out = real(h, upto)
            self.forward += out.shape[0]
            if out.requires_grad:
                out.register_hook(lambda g, n=out.shape[0]: self._back(n))
            return out

        head.hidden = hidden

    def _back(self, n):
        self.backward += n

    @property
    def cost(self):
        return Cost(self.forward, self.backward)


@pytest.mark.parametrize("cls", [CJS, CDV, CEnergy, CJSIE, CDVIE])
def test_label_hypothesis_training(cls):
    d = cls(train=TRAIN)
    ie = cls in (CJSIE, CDVIE)
    declared = d.cost(N_TRAIN)
    assert declared == Cost.steps(2 if ie else 1) * (2 * N_TRAIN)
    model = d.wrap(cnn())
    head = HeadPasses(model.head)
    with PassCounter(model.trunk) as trunk, PassCounter(model) as whole:
        d.fit(model, splits(), ctx())
    assert trunk.cost == Cost.steps(1) * (2 * N_TRAIN)  # the trunk once per example and epoch
    assert head.cost == declared  # IE: a second (head-only) pass from detached trunk features
    assert whole.cost == (Cost() if ie else declared)  # IE goes through scores_and_hidden, not forward
    if ie:
        assert cls(cls.Config(ie_weight=0.0), train=TRAIN).cost(N_TRAIN) == Cost.steps(1) * (2 * N_TRAIN)


def test_vib_training():
    d = VIB(train=TRAIN)
    model = d.wrap(cnn())
    with PassCounter(model.encoder) as enc, PassCounter(model.head) as dec:
        d.fit(model, splits(), ctx())
    assert d.cost(N_TRAIN) == Cost.steps(1) * (2 * N_TRAIN)
    assert enc.cost == dec.cost == d.cost(N_TRAIN)


def probe_input(n=10):
    x, y = splits(n_train=0, n_test=n).x_test, splits(n_train=0, n_test=n).y_test
    return ProbeInput(x=x, y=y, num_classes=K, device=torch.device("cpu"), batch_size=3)


@pytest.mark.parametrize("probe", [MMDLabelInfo(MMDLabelInfoConfig(n=7)), MMDLabelInfo(),
                                   HeldoutLabelInfo(HeldoutLabelInfoConfig(n=10, folds=2, l2=1.0, max_iter=5))])
def test_label_info_probes(probe):
    assert probe.cost(10, 50) == Cost(min(10, probe.config.n or 10), 0)
    net = CJS().wrap(cnn()).eval()
    with PassCounter(net.trunk) as c:
        probe(net, probe_input())
    assert c.cost == probe.cost(10, 50)
    plain = TinyConv(SHAPE, K).eval()  # any other classifier: features(x)
    with PassCounter(plain.body) as c:
        probe(plain, probe_input())
    assert c.cost == probe.cost(10, 50)
