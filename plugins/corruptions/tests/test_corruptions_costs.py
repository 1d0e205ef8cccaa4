"""The corruption-accuracy probe's declared cost (``robarena run --dry-run``) against the passes
:class:`bench.testing.passes.PassCounter` counts."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import Cost, ProbeInput
from bench.testing.passes import PassCounter
from robarena_corruptions import CORRUPTIONS
from robarena_corruptions.probes.corruption_accuracy import CorruptionAccuracy


@pytest.mark.parametrize("n_cfg, used", [(None, 5), (3, 3), (9, 5)])
def test_corruption_accuracy_cost_is_one_forward_per_example_and_copy(n_cfg, used):
    probe = CorruptionAccuracy(CorruptionAccuracy.Config(n=n_cfg))
    assert len(CORRUPTIONS) == 15
    assert probe.cost(5, 100) == Cost(used * 16, 0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    data = ProbeInput(x=x, y=torch.zeros(5, dtype=torch.long), num_classes=10, device=torch.device("cpu"),
                      batch_size=2)
    with PassCounter(model) as c:
        probe(model, data)
    assert c.cost == probe.cost(5, 100)
