"""Certified Linf accuracy by interval bound propagation (Gowal et al. 2018), last layer elided.

See :mod:`robarena_certify.ibp`. A model IBP cannot read (an unsupported layer, a forward pass that
is not the sequence of its layers) raises :class:`robarena_certify.ibp.UnsupportedLayerError`.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from bench.api import BaseConfig, CertifiedAccuracy, Cost, Probe, ProbeInput, ProbeResult
from bench.eps import Eps, EpsRule
from robarena_certify.ibp import ibp_certified
from robarena_certify.probes._columns import accuracy_columns


class IBPConfig(BaseConfig):
    eps: list[Annotated[Eps, EpsRule(norm="Linf")]] = Field(
        [Eps("1/255"), Eps("2/255"), Eps("8/255")], min_length=1, description="Linf radii")
    level: float = Field(0.95, gt=0, lt=1, description="confidence level of the columns' Clopper–Pearson intervals")

    @field_validator("eps")
    @classmethod
    def _distinct(cls, v: list[Eps]) -> list[Eps]:
        if len(set(float(e) for e in v)) != len(v):
            raise ValueError(f"eps values must be distinct, got {[e.display for e in v]}")
        return sorted(v, key=float)


class IBPProbe(Probe):
    """Fraction of test examples IBP certifies at each Linf radius (the box intersected with [0, 1]).

    Columns: ``certified@<eps>`` (``<eps>`` as written, e.g. ``certified@8/255``) with ``_low`` /
    ``_high`` (Clopper–Pearson at ``level``) and ``_k``; ``n``; ``clean_accuracy``. Arrays:
    ``eps`` (k,), ``certified`` (k, N) bool. Certified accuracies (``ProbeResult.certified``, classifier
    "base", Linf, every eps > 0): the runner puts each beside the row's worst case at the same Linf eps.

    Args (``IBPConfig``): eps=[1/255, 2/255, 8/255], level=0.95.
    """

    Config = IBPConfig

    #: forward-equivalents per example and radius: the centre and the radius each pass through every layer (2),
    #: plus 1 covering the per-batch check that the layers reproduce the model (a model forward and a
    #: layer-by-layer pass of 1 example per batch) and part of the float64 arithmetic of the bounds
    IBP_FORWARDS = 3

    def cost(self, n: int, n_train: int) -> Cost:
        """Forward-equivalents (IBP takes no gradient): :attr:`IBP_FORWARDS` per example and radius for the bound
        propagation, and 1 per example for the clean accuracy."""
        return Cost(forward=float(n * (1 + self.IBP_FORWARDS * len(self.config.eps))))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        rows, clean = [], 0
        for eps in cfg.eps:
            parts = []
            for i in range(0, data.x.shape[0], data.batch_size):
                xb = data.x[i:i + data.batch_size].to(data.device)
                yb = data.y[i:i + data.batch_size].to(data.device)
                parts.append(ibp_certified(model, xb, yb, float(eps)).cpu())
            rows.append(torch.cat(parts))
        with torch.no_grad():
            for i in range(0, data.x.shape[0], data.batch_size):
                xb, yb = data.x[i:i + data.batch_size].to(data.device), data.y[i:i + data.batch_size].to(data.device)
                clean += int((model(xb).argmax(1) == yb).sum())
        n = int(data.x.shape[0])
        scalars: dict[str, float] = {"n": float(n), "clean_accuracy": clean / n if n else float("nan")}
        for eps, row in zip(cfg.eps, rows):
            scalars.update(accuracy_columns(f"certified@{eps.display}", int(row.sum()), n, cfg.level))
        certified = [CertifiedAccuracy(norm="Linf", eps=float(eps), eps_display=eps.display, correct=int(row.sum()),
                                       n=n, classifier="base") for eps, row in zip(cfg.eps, rows) if float(eps) > 0]
        return ProbeResult(scalars, {"eps": np.array([float(e) for e in cfg.eps]),
                                     "certified": torch.stack(rows).numpy()}, certified=certified)
