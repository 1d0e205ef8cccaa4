"""Clean vs corrupted accuracy, per corruption, at one severity: a first step towards the
``corruption`` threat kind (issue 19), usable as a probe on any row.

Each of the 15 corruptions is applied to the evaluation subset at ``severity`` with its own CPU
generator seeded by (probe seed, corruption index), so a column does not depend on which others
ran. Columns: ``clean_acc``, ``corruption_acc`` (the mean over the 15, the track's headline
figure), and ``acc_<corruption>`` for each. Arrays: ``per_corruption`` (15,) in
:data:`robarena_corruptions.CORRUPTIONS` order.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult

from .. import CORRUPTIONS, corrupt

COLUMNS = ["clean_acc", "corruption_acc", *[f"acc_{name}" for name in CORRUPTIONS]]


class CorruptionAccuracyConfig(BaseConfig):
    severity: int = Field(3, ge=1, le=5, description="severity of every corruption (1..5)")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation examples (default: all)")


class CorruptionAccuracy(Probe):
    """Accuracy on the clean subset and under each of the 15 corruptions at one severity.

    Args (``CorruptionAccuracyConfig``): severity=3, n=None.
    """

    Config = CorruptionAccuracyConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """1 forward per example used (the first ``n`` of the config) on the clean subset and on each of the
        15 corrupted copies (the corruptions themselves are no model passes)."""
        used = n if self.config.n is None else min(n, self.config.n)
        return Cost(forward=float(used * (1 + len(CORRUPTIONS))))

    @torch.no_grad()
    def accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, data: ProbeInput) -> float:
        correct = 0
        for i in range(0, x.shape[0], data.batch_size):
            xb = x[i:i + data.batch_size].to(data.device)
            correct += int((model(xb).argmax(1).cpu() == y[i:i + data.batch_size].cpu()).sum())
        return correct / max(1, x.shape[0])

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        n = self.config.n
        x, y = data.x[:n].cpu(), data.y[:n].cpu()
        scalars = {"clean_acc": self.accuracy(model, x, y, data)}
        per = []
        for k, name in enumerate(CORRUPTIONS):
            g = torch.Generator().manual_seed(self.seed * 1000 + k)
            acc = self.accuracy(model, corrupt(x, name, self.config.severity, g), y, data)
            scalars[f"acc_{name}"] = acc
            per.append(acc)
        scalars["corruption_acc"] = float(np.mean(per))
        return ProbeResult(scalars, {"per_corruption": np.asarray(per, dtype=np.float64)})
