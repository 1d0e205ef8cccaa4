"""confidence probe: estimated probabilities and losses against a direct softmax computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from bench.api.probe import ProbeInput
from robarena_margins.probes.confidence import ConfidenceConfig, ConfidenceProbe


class FixedLogits(nn.Module):
    """Logits that ignore the input: row i of ``table`` for example i (by its first pixel as an index)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x.flatten(1)[:, 0].long()]


def test_probabilities_and_losses_match_the_softmax_of_known_logits():
    table = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, -1.0], [0.0, 50.0, 0.0], [1.0, 1.0, 3.0]])
    x = torch.arange(4.0).view(4, 1, 1, 1)
    y = torch.tensor([0, 0, 0, 2])
    out = ConfidenceProbe(ConfidenceConfig(bins=4))(FixedLogits(table), ProbeInput(
        x=x, y=y, num_classes=3, device=torch.device("cpu"), batch_size=3))
    p = np.exp(table.double().numpy())
    p /= p.sum(1, keepdims=True)
    p_y = p[np.arange(4), y.numpy()]
    np.testing.assert_allclose(out.arrays["p_y"], p_y, rtol=1e-12)
    assert p_y[0] == pytest.approx(1 / 3)
    # -log p_y stays finite where p_y is tiny: example 2 has loss 50 + log(1 + 2 e^-50)
    np.testing.assert_allclose(out.arrays["losses"], -np.log(p_y), rtol=1e-9)
    assert out.arrays["losses"][2] == pytest.approx(50 + math.log1p(2 * math.exp(-50)), rel=1e-12)
    s = out.scalars
    assert s["mean_p_y"] == pytest.approx(p_y.mean()) and s["median_p_y"] == pytest.approx(np.median(p_y))
    assert s["mean_loss"] == pytest.approx(-np.log(p_y).mean())
    assert s["frac_middle"] == pytest.approx(np.mean((p_y >= 0.1) & (p_y <= 0.9)))
    assert out.arrays["p_hist_counts"].sum() == 4 and out.arrays["loss_hist_counts"].sum() == 4
    np.testing.assert_allclose(out.arrays["p_hist_edges"], [0, 0.25, 0.5, 0.75, 1.0])


def test_middle_range_must_be_ordered():
    with pytest.raises(ValidationError, match="below"):
        ConfidenceConfig(middle_low=0.8, middle_high=0.2)
