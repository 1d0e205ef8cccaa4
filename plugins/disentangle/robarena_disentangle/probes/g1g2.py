"""The G1 / G2 disentanglement of CCKL (P0 Eq. 14-16, Fig. 5).

For a different-class pair (x_i, x_j) and ``eta = x_j - x_i`` (P0 Eq. 13-15):

    KL(f(x_i) || f(x_j)) = G1 + G2,   G1 = 1/2 eta^T F_{x_i} eta,   G2 = the remaining Taylor terms,

G1 the non-robust (Fisher, second-order) component and G2 the robust (higher-order) one.
G1 comes from one Jacobian-vector product per pair (``eta^T F eta = (J eta)^T (diag p - p p^T)
(J eta)``), G2 = KL - G1. Eq. 16: ``2 G1 / ||eta||^2 <= lambda_max(F_{x_i})``; the array
``rayleigh`` holds that lower bound. The pairs are drawn as in :mod:`.cckl` (same seed and
``n_pairs``: same pairs, so ``kl_mean`` equals the ``cckl`` probe's ``cckl``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_disentangle.common import batched_logits, different_class_pairs, subset
from robarena_disentangle.fisher import FisherOperator, input_gradients_only, kl_from_logits
from robarena_disentangle.probes.cckl import P0_PAIRS

COLUMNS = ["kl_mean", "g1_mean", "g2_mean", "g2_over_kl_mean", "g2_over_kl_median"]


class G1G2Config(BaseConfig):
    n_pairs: int = Field(P0_PAIRS, ge=1, description="different-class pairs sampled (P0: 25,896)")
    n: Optional[int] = Field(None, ge=2, description="first n evaluation examples (default: all)")
    batch_size: Optional[int] = Field(None, ge=1, description="pairs per batch (default: the suite's [eval])")


class G1G2(Probe):
    """KL, G1 = 1/2 eta^T F eta and G2 = KL - G1 over different-class test pairs.

    Columns: ``kl_mean`` (= CCKL on these pairs), ``g1_mean``, ``g2_mean``, ``g2_over_kl_mean``
    and ``g2_over_kl_median`` (per-pair ratio; pairs with KL = 0 left out). NaN with fewer than
    two classes. Arrays (n_pairs,): ``kl``, ``g1``, ``g2``, ``g2_over_kl``, ``rayleigh``
    (2 G1 / ||eta||_2^2, Eq. 16's lower bound on lambda_max); ``pairs`` (n_pairs, 2).

    Args (``G1G2Config``): n_pairs=25896, n=None, batch_size=None.
    """

    Config = G1G2Config

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward per evaluation example used (the logits, hence KL), and per pair one Jacobian-vector
        product at ``x_i`` for G1, counted as 2 forwards (the primal pass and its tangent, no backward):
        ``N + 2 * n_pairs`` forwards. Zero passes where fewer than two classes are present (an upper bound)."""
        return Cost(forward=float(min(n, self.config.n or n) + 2 * self.config.n_pairs))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x, y = subset(data, self.config.n)
        if torch.unique(y).numel() < 2:
            return ProbeResult({c: float("nan") for c in COLUMNS})
        pairs = different_class_pairs(y, self.config.n_pairs, generator)
        bs = self.config.batch_size or data.batch_size
        logits = batched_logits(model, x, bs)
        g1_parts = []
        with input_gradients_only(model):
            for k in range(0, pairs.shape[0], bs):
                i, j = pairs[k:k + bs, 0].to(x.device), pairs[k:k + bs, 1].to(x.device)
                op = FisherOperator(model, x[i], logits=logits[i])
                g1_parts.append(0.5 * op.quadratic(x[j] - x[i]).detach().cpu())
        g1 = torch.cat(g1_parts)
        logits = logits.cpu()
        kl = kl_from_logits(logits[pairs[:, 0]], logits[pairs[:, 1]])
        g2 = kl - g1
        ratio = torch.where(kl > 0, g2 / kl, torch.full_like(kl, float("nan"))).numpy()
        eta_sq = (x[pairs[:, 1].to(x.device)] - x[pairs[:, 0].to(x.device)]).flatten(1).double().pow(2).sum(1).cpu()
        rayleigh = torch.where(eta_sq > 0, 2 * g1 / eta_sq, torch.zeros_like(g1))
        scalars = {"kl_mean": float(kl.mean()), "g1_mean": float(g1.mean()), "g2_mean": float(g2.mean()),
                   "g2_over_kl_mean": _nan_stat(np.nanmean, ratio), "g2_over_kl_median": _nan_stat(np.nanmedian, ratio)}
        return ProbeResult(scalars, {"kl": kl.numpy(), "g1": g1.numpy(), "g2": g2.numpy(), "g2_over_kl": ratio,
                                     "rayleigh": rayleigh.numpy(), "pairs": pairs.numpy()})


def _nan_stat(fn, values: np.ndarray) -> float:
    return float(fn(values)) if np.isfinite(values).any() else float("nan")
