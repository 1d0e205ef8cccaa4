"""margins/margin-spread: the spread of the test logit margins, against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.api import ProbeInput
from bench.registry import get_registry
from robarena_margins.probes.margin_spread import MarginSpreadProbe


class Flat(nn.Module):
    """Logits = the flattened input, so every margin is chosen by the test."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def run(logits: list[list[float]], labels: list[int]):
    x = torch.tensor(logits).view(len(logits), 1, 1, -1)
    data = ProbeInput(x=x, y=torch.tensor(labels), num_classes=x.shape[-1], device=torch.device("cpu"),
                      batch_size=3)
    return MarginSpreadProbe()(Flat(), data)


def test_std_iqr_and_mean_abs_of_known_margins():
    # margins f_y - max_{i != y} f_i = -2, 0, 1, 3 (label 0 for the first three, 2 for the last)
    result = run([[-2.0, 0.0, -9.0], [0.0, 0.0, -9.0], [1.0, -4.0, 0.0], [-9.0, 1.0, 4.0]], [0, 0, 0, 2])
    assert result.arrays["margins"].tolist() == [-2.0, 0.0, 1.0, 3.0]
    assert result.scalars["std"] == pytest.approx(math.sqrt(3.25))  # mean 0.5, squared deviations sum to 13
    assert result.scalars["iqr"] == pytest.approx(1.5 - (-0.5))  # q25 = -2 + 0.75 * 2, q75 = 1 + 0.25 * 2
    assert result.scalars["mean_abs"] == pytest.approx(1.5)


def test_shifting_every_margin_keeps_the_spread_and_scaling_scales_it():
    base = [[-2.0, 0.0, -9.0], [0.0, 0.0, -9.0], [1.0, -4.0, 0.0], [-9.0, 1.0, 4.0]]
    a = run(base, [0, 0, 0, 2]).scalars
    shifted = run([[v + (5.0 if j == lab else 0.0) for j, v in enumerate(r)] for r, lab in zip(base, [0, 0, 0, 2])],
                  [0, 0, 0, 2]).scalars  # every margin + 5
    scaled = run([[3 * v for v in r] for r in base], [0, 0, 0, 2]).scalars
    assert shifted["std"] == pytest.approx(a["std"]) and shifted["iqr"] == pytest.approx(a["iqr"])
    assert scaled["std"] == pytest.approx(3 * a["std"]) and scaled["iqr"] == pytest.approx(3 * a["iqr"])


def test_registered_with_its_columns():
    entry = get_registry().get("probe", "margins/margin-spread")
    assert entry.load() is MarginSpreadProbe and entry.spec.columns == ["std", "iqr", "mean_abs"]
