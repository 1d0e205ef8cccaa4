"""Label-information surrogate: Gaussian-kernel MMD across ground-truth classes at a layer (P4 Sec. 2.3).

P4 bounds the label information ``I(R; Y) = 1/K sum_c KL(P_{R|c} || P_R)`` (Eq. 3) through
the surrogate ``1/C sum_c MMD^2(P_{R|c}, P_R)`` (:func:`robarena_guessfirst.mmd.label_mmd`,
the quantity the IE regularizer minimises). This probe measures it on the evaluation subset:

* label-hypothesis networks (C-JS, C-DV, ...): at the output of FC layer ``hypothesis_layer``
  (P4: the second) under each hypothesis y; the column is the mean over hypotheses (the IE
  regularizer is their sum);
* any other classifier: at ``features(x)``, the penultimate representation;
* ``layer = "features"`` forces ``features(x)`` for every model (for label-hypothesis nets
  that is the label-free trunk).

Columns: ``label_mmd``. Arrays: ``per_hypothesis`` (H,), ``bandwidth`` (H,) (the kernel
bandwidth used). 0 means the representation carries no class information detectable by the
kernel; the median-heuristic bandwidth makes the value scale-free. NaN with fewer than two
classes present.
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_guessfirst.mmd import label_mmd, median_bandwidth


class MMDLabelInfoConfig(BaseConfig):
    layer: Literal["auto", "features"] = Field("auto", description="'auto': hypothesis layer for label-hypothesis "
                                                                   "nets, features otherwise")
    hypothesis_layer: int = Field(2, ge=1, description="FC layer after the concatenation (P4: 2)")
    sigma: Optional[float] = Field(None, gt=0, description="Gaussian bandwidth; None = median heuristic")
    unbiased: bool = Field(False, description="unbiased (U-statistic) within-class estimate")
    n: Optional[int] = Field(None, ge=2, description="first n evaluation examples (default: all)")


class MMDLabelInfo(Probe):
    """Mean over hypotheses of ``1/C sum_c MMD^2(P_{R|c}, P_R)`` on the evaluation subset.

    Args (``MMDLabelInfoConfig``): layer="auto", hypothesis_layer=2, sigma=None (median
    heuristic), unbiased=False, n=None.
    """

    Config = MMDLabelInfoConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward per evaluation example used (the first ``config.n``): the representation (a pass of T
        up to its scores for label-hypothesis nets, ``features(x)`` otherwise, counted as a whole forward); the
        MMD is computed on it."""
        return Cost(forward=float(min(n, self.config.n or n)))

    @torch.no_grad()
    def representation(self, model: nn.Module, x: torch.Tensor, data: ProbeInput) -> torch.Tensor:
        from robarena_guessfirst.models.hypothesis import LabelHypothesisNet

        hyp = self.config.layer == "auto" and isinstance(model, LabelHypothesisNet)
        out = []
        for i in range(0, x.shape[0], data.batch_size):
            xb = x[i:i + data.batch_size].to(data.device)
            rep = model.scores_and_hidden(xb, self.config.hypothesis_layer)[1] if hyp else model.features(xb)
            out.append(rep.double().cpu())
        return torch.cat(out)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        n = self.config.n
        x, y = data.x[:n], data.y[:n]
        rep = self.representation(model, x, data)
        rep = rep.flatten(1).unsqueeze(1) if rep.dim() != 3 else rep  # (N, H, D)
        y = y.cpu()
        min_count = 2 if self.config.unbiased else 1
        _, counts = torch.unique(y, return_counts=True)
        if int((counts >= min_count).sum()) < 2:
            return ProbeResult({"label_mmd": float("nan")})
        values = label_mmd(rep, y, sigma=self.config.sigma, unbiased=self.config.unbiased)
        bandwidth = (median_bandwidth(rep.transpose(0, 1)) if self.config.sigma is None
                     else torch.full((rep.shape[1],), float(self.config.sigma)))
        return ProbeResult({"label_mmd": float(values.mean())},
                           {"per_hypothesis": values.numpy(), "bandwidth": bandwidth.numpy().astype(np.float64)})
