"""Spread of the test margin distribution (P1 Definition 3, Fig. 1b and 4).

P1's margin is ``M(f(x), y) = f_y(x) - max_{i != y} f_i(x)`` on the logits; its Fig. 4 shows the
test (and training) margin distributions "become more concentrated around zero as AR grows":
the mode moves toward zero *and* the distribution narrows. ``classics/margin`` reports the mean
and median (the location); this probe reports the spread of the same per-example margins, so the
claims can test concentration, not only a shift of the mean.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.toolkit import batched_logits, margin


class MarginSpreadConfig(BaseConfig):
    """No parameters: the logit margins of the suite's test subset."""


class MarginSpreadProbe(Probe):
    """Spread of the logit margins ``f_y(x) - max_{i != y} f_i(x)`` of the test subset, N examples.

    Columns: ``std`` (population standard deviation, ``ddof = 0``), ``iqr`` (interquartile range
    ``q75 - q25``, NumPy's linear interpolation), ``mean_abs`` (mean of ``|margin|``, the mean
    distance to the margin's zero, the decision boundary in score space). Arrays: ``margins`` (N,).
    """

    Config = MarginSpreadConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward per evaluation example (the logits)."""
        return Cost(forward=float(n))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        logits = batched_logits(model, data.x, data.device, data.batch_size)
        m = margin(logits, data.y.cpu()).double().numpy()
        q25, q75 = np.percentile(m, [25.0, 75.0])
        scalars = {"std": float(m.std()), "iqr": float(q75 - q25), "mean_abs": float(np.abs(m).mean())}
        return ProbeResult(scalars, {"margins": m})
