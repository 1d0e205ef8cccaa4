"""The corruption-accuracy probe: conformance, and its columns against closed forms."""
from __future__ import annotations

import torch
from torch import nn

from bench.api import ProbeInput
from bench.registry import get_registry
from bench.testing.conformance import check_probe
from robarena_corruptions import CORRUPTIONS, corrupt
from robarena_corruptions.probes.corruption_accuracy import COLUMNS, CorruptionAccuracy



def entry():
    return get_registry().get("probe", "corruptions/corruption-accuracy")


def test_registered_with_its_columns_and_conformant():
    assert entry().spec.columns == COLUMNS and len(COLUMNS) == 17
    check_probe(entry())


class Constant(nn.Module):
    def __init__(self, label):
        super().__init__()
        self.label = label
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.zeros(x.shape[0], 10) + self.w
        out[:, self.label] = 1.0
        return out


class MeanThreshold(nn.Module):
    """Class 1 when the mean intensity exceeds 0.5, else 0."""

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([0.5 - m, m - 0.5] + [torch.full_like(m, -1.0)] * 8, 1)


def test_constant_model_scores_the_class_frequency_everywhere():
    y = torch.tensor([3, 3, 1, 0, 3, 2, 3, 9])
    x = torch.rand((8, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    r = CorruptionAccuracy(seed=0)(Constant(3), ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu")))
    assert all(r.scalars[c] == 0.5 for c in COLUMNS)


def test_columns_equal_the_accuracy_on_corrupted_inputs():
    x = torch.rand((20, 3, 16, 16), generator=torch.Generator().manual_seed(1)) * 0.4 + \
        torch.linspace(0, 0.6, 20).view(20, 1, 1, 1)
    model = MeanThreshold()
    y = (x.flatten(1).mean(1) > 0.45).long()            # not the model's own labels: clean accuracy < 1
    probe = CorruptionAccuracy(CorruptionAccuracy.Config(severity=4), seed=2)
    r = probe(model, ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu")))
    assert r.scalars["clean_acc"] == int((model(x).argmax(1) == y).sum()) / 20
    accs = []
    for k, name in enumerate(CORRUPTIONS):
        xc = corrupt(x, name, 4, torch.Generator().manual_seed(2 * 1000 + k))
        accs.append(int((model(xc).argmax(1) == y).sum()) / 20)
        assert r.scalars[f"acc_{name}"] == accs[-1], name
    assert abs(r.scalars["corruption_acc"] - sum(accs) / 15) < 1e-12
    # brightness raises every mean: the model's class-1 share grows, so some class-0 examples flip
    assert r.scalars["acc_brightness"] < r.scalars["clean_acc"]
