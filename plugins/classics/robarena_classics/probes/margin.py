"""Margin distribution (P1 Definition 3, Fig. 4).

P1 defines the margin operator on the network's *score function* f: R^d -> R^L, the
outputs of the last (linear) layer: ``M(f(x), y) = f_y(x) - max_{i != y} f_i(x)``, a
piecewise-linear function of the scores (P1 Sec. 1.1 and 5.2.2). It is therefore computed
on the logits by default; ``space = "probs"`` gives the same operator on softmax outputs.
A negative margin means the example is misclassified; zero is the decision boundary.
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.toolkit import batched_logits, margin
from robarena_classics.probes.common import first


class MarginConfig(BaseConfig):
    bins: int = Field(50, ge=1, description="histogram bins (shared by train and test)")
    space: Literal["logits", "probs"] = Field("logits", description="scores the margin is taken on (P1: logits)")
    n_train: Optional[int] = Field(None, ge=1, description="first n training examples (default: all)")


class MarginProbe(Probe):
    """Per-example margins ``f_y(x) - max_{i != y} f_i(x)`` of the test subset (and train split).

    Columns (test subset): ``mean``, ``median`` (NumPy convention: the average of the two
    middle values for even n), ``frac_negative`` (fraction with margin < 0, i.e.
    misclassified with a strict winner; ties at 0 are not counted).
    Arrays: ``test_margins`` (N,), ``hist_edges`` (bins + 1,), ``test_hist_counts``
    (bins,), and when the train split is given ``train_margins`` and ``train_hist_counts``
    on the same edges (spanning the margins of both splits).

    Args (``MarginConfig``): bins=50, space="logits", n_train=None.
    """

    Config = MarginConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """1 forward per evaluation example and per training example used (the first ``n_train`` of the config;
        none without the training split)."""
        used = n_train if self.config.n_train is None else min(n_train, self.config.n_train)
        return Cost(forward=float(n + used))

    def margins(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, data: ProbeInput) -> np.ndarray:
        scores = batched_logits(model, x, data.device, data.batch_size)
        if self.config.space == "probs":
            scores = scores.softmax(dim=1)
        return margin(scores, y.cpu()).double().numpy()

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        test = self.margins(model, data.x, data.y, data)
        x_train, y_train = first(data.x_train, data.y_train, self.config.n_train)
        train = self.margins(model, x_train, y_train, data) if x_train is not None else None
        both = test if train is None else np.concatenate([test, train])
        edges = np.histogram_bin_edges(both, bins=self.config.bins)
        arrays = {"test_margins": test, "hist_edges": edges, "test_hist_counts": np.histogram(test, edges)[0]}
        if train is not None:
            arrays["train_margins"] = train
            arrays["train_hist_counts"] = np.histogram(train, edges)[0]
        scalars = {"mean": float(test.mean()), "median": float(np.median(test)),
                   "frac_negative": float((test < 0).mean())}
        return ProbeResult(scalars, arrays)
