"""Cross Category KL divergence, CCKL (P0 Eq. 2-3).

``CCKL = E_{((x_i, y_i), (x_j, y_j)) in S} KL(f(x_i) || f(x_j))`` over the set S of test pairs
from different categories, f the softmax output. P0 estimates it from 25,896 sampled pairs of
CIFAR-10 test images (Fig. 5); here the pairs are drawn uniformly with replacement from the
different-class pairs of the evaluation subset, with the probe's generator (so a seed fixes
them, and :mod:`.g1g2` with the same ``n_pairs`` and seed sees the same pairs).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_disentangle.common import batched_logits, different_class_pairs, subset
from robarena_disentangle.fisher import kl_from_logits

P0_PAIRS = 25_896  # P0 Sec. 4, Fig. 5


class CCKLConfig(BaseConfig):
    n_pairs: int = Field(P0_PAIRS, ge=1, description="different-class pairs sampled (P0: 25,896)")
    n: Optional[int] = Field(None, ge=2, description="first n evaluation examples (default: all)")


class CCKL(Probe):
    """Mean KL divergence between the model's outputs on test pairs of different classes.

    Columns: ``cckl`` (the mean, P0 Eq. 2), ``cckl_median`` (NumPy's median). Arrays: ``kl`` (n_pairs,),
    ``pairs`` (n_pairs, 2) indices into the evaluation subset. NaN with fewer than two classes.

    Args (``CCKLConfig``): n_pairs=25896, n=None.
    """

    Config = CCKLConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward per evaluation example used (the first ``config.n``); the KLs of the pairs are read off
        those logits. Zero passes where fewer than two classes are present (an upper bound)."""
        return Cost(forward=float(min(n, self.config.n or n)))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x, y = subset(data, self.config.n)
        if torch.unique(y).numel() < 2:
            return ProbeResult({"cckl": float("nan"), "cckl_median": float("nan")})
        pairs = different_class_pairs(y, self.config.n_pairs, generator)
        logits = batched_logits(model, x, data.batch_size).cpu()
        kl = kl_from_logits(logits[pairs[:, 0]], logits[pairs[:, 1]])
        return ProbeResult({"cckl": float(kl.mean()), "cckl_median": float(np.median(kl.numpy()))},
                           {"kl": kl.numpy(), "pairs": pairs.numpy()})
