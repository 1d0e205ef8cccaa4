"""Estimated probability of the true class and cross-entropy per test example (P1 Sec. 5.2.1, Fig. 5a-b).

P1 calls ``p_y(x) = softmax(f(x))_y`` the *estimated probability* of an example (a measure of
confidence that maps one-to-one to its cross-entropy ``-log p_y``) and plots the histograms of
both over the test set: adversarial training moves test predictions toward middle values of
``p_y`` ("more diffident"), which lowers the loss of wrong predictions.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.toolkit import batched_logits


class ConfidenceConfig(BaseConfig):
    bins: int = Field(50, ge=1, description="histogram bins (p_y on [0, 1]; loss on [0, max loss])")
    middle_low: float = Field(0.1, ge=0, le=1, description="lower end of the 'middle' p_y range")
    middle_high: float = Field(0.9, ge=0, le=1, description="upper end of the 'middle' p_y range")

    @model_validator(mode="after")
    def _ordered(self) -> "ConfidenceConfig":
        if not self.middle_low < self.middle_high:
            raise ValueError(f"middle_low ({self.middle_low}) must be below middle_high ({self.middle_high})")
        return self


class ConfidenceProbe(Probe):
    """``p_y = softmax(f(x))_y`` and ``CE = -log p_y`` for every example of the test subset.

    Columns: ``mean_p_y``, ``median_p_y``, ``mean_loss``, ``median_loss`` and ``frac_middle``,
    the fraction of examples with ``middle_low <= p_y <= middle_high`` (P1 Fig. 5a's inset of
    "middle values"; P1 does not give the range, 0.1-0.9 is ours). Arrays: ``p_y`` (N,),
    ``losses`` (N,), ``p_hist_edges`` (bins + 1,) on [0, 1], ``p_hist_counts`` (bins,),
    ``loss_hist_edges`` (bins + 1,) on [0, max loss], ``loss_hist_counts`` (bins,).

    The loss is computed from the log-softmax (``F.cross_entropy``), so it stays finite where
    ``p_y`` underflows to 0 in float32.

    Args (``ConfidenceConfig``): bins=50, middle_low=0.1, middle_high=0.9.
    """

    Config = ConfidenceConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward per evaluation example (the logits)."""
        return Cost(forward=float(n))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        logits = batched_logits(model, data.x, data.device, data.batch_size).double()
        y = data.y.cpu()
        losses = F.cross_entropy(logits, y, reduction="none").numpy()
        p_y = logits.softmax(dim=1).gather(1, y.view(-1, 1)).squeeze(1).numpy()
        p_edges = np.linspace(0.0, 1.0, cfg.bins + 1)
        loss_edges = np.linspace(0.0, max(float(losses.max()), 1e-12), cfg.bins + 1)
        scalars = {
            "mean_p_y": float(p_y.mean()), "median_p_y": float(np.median(p_y)),
            "mean_loss": float(losses.mean()), "median_loss": float(np.median(losses)),
            "frac_middle": float(((p_y >= cfg.middle_low) & (p_y <= cfg.middle_high)).mean()),
        }
        arrays = {"p_y": p_y, "losses": losses, "p_hist_edges": p_edges,
                  "p_hist_counts": np.histogram(p_y, p_edges)[0], "loss_hist_edges": loss_edges,
                  "loss_hist_counts": np.histogram(losses, loss_edges)[0]}
        return ProbeResult(scalars, arrays)
