"""Input Fisher information F_x: Frobenius norm, trace, spectral norm and leading eigenvector (P0 Eq. 9-12).

``F_x = sum_j f_j(x) grad_x log f_j(x) grad_x log f_j(x)^T`` (P0 Eq. 9), the Fisher information
of the softmax output w.r.t. the input. P0 Fig. 3, 4, 7, 8 plot the log of the mean F-norm over
the test set; Eq. 12 says the worst small perturbation has ``KL = eps^2 lambda_max / 2`` along
F's leading eigenvector. Never forms the d x d matrix (see :mod:`robarena_disentangle.fisher`):

* ``||F||_F``, ``tr F`` and the exact ``lambda_max = ||F||_2`` of every example from the L x L
  matrix ``M = B B^T`` (L vector-Jacobian products per batch);
* matrix-free power iteration on ``v -> F v`` (one JVP and one VJP per step, from a Gaussian
  start drawn from the probe's generator) on the first ``power_n`` examples: their leading
  eigenvectors, and ``power_rel_error`` against M's exact ``lambda_max`` (the method that scales
  to many classes, where the L VJPs of M would cost more than a few dozen power steps).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_disentangle.common import subset
from robarena_disentangle.fisher import (FisherOperator, ShrinkingFisherMatvec, gram_statistics, input_gradients_only,
                                         power_iteration)


class InputFisherConfig(BaseConfig):
    power_n: int = Field(100, ge=0, description="power iteration on the first power_n examples (0: none)")
    power_iters: int = Field(100, ge=1, description="power-iteration products at most")
    tol: float = Field(1e-3, gt=0, description="converged when ||F v - lambda v|| <= tol * lambda")
    n_eigvecs: int = Field(4, ge=0, description="leading eigenvectors stored (of the first examples, <= power_n)")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation examples (default: all)")
    batch_size: Optional[int] = Field(None, ge=1, description="examples per batch (default: the suite's [eval])")


class InputFisher(Probe):
    """Norms of the input Fisher information at each evaluation example.

    Columns: ``fnorm_mean``, ``log_fnorm_mean`` (log of the mean F-norm, P0 Fig. 3/4),
    ``fnorm_median``, ``trace_mean``, ``spectral_mean`` (mean exact ``||F||_2``),
    ``power_rel_error`` (max over the power-iteration examples of |power - exact| / exact;
    NaN without power iteration or where F = 0).
    Arrays: ``fnorm``, ``trace``, ``spectral``, ``correct`` (N,); ``spectral_power``,
    ``power_steps`` (power_n,); ``eigvecs`` (k, C, H, W): power iteration's unit eigenvectors.

    Args (``InputFisherConfig``): power_n=100, power_iters=100, tol=1e-3, n_eigvecs=4, n=None,
    batch_size=None.
    """

    Config = InputFisherConfig

    def cost(self, n: int, n_train: int, num_classes: Optional[int] = None) -> Optional[Cost]:
        """None: the exact norms take one vector-Jacobian product (a backward) per class and example, and the
        number of classes L is not among (config, n, n_train). Given ``num_classes``, for N = min(n, config.n)
        examples and P = min(power_n, N): per example 2 forwards (logits, the VJP graph) + L backwards, and per
        power-iteration example 2 forwards (logits, VJP graph) + ``power_iters`` products of one JVP (2 forwards:
        primal and tangent) and one VJP (1 backward), every product counted (an upper bound: converged examples
        leave the batch)."""
        if num_classes is None:
            return None
        m = min(n, self.config.n or n)
        p, iters = min(self.config.power_n, m), self.config.power_iters
        return Cost(2 * m, num_classes * m) + Cost(2 + 2 * iters, iters) * p

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x, y = subset(data, self.config.n)
        bs = self.config.batch_size or data.batch_size
        parts: dict[str, list[torch.Tensor]] = {}
        with input_gradients_only(model):
            for i in range(0, x.shape[0], bs):
                op = FisherOperator(model, x[i:i + bs])
                stats = gram_statistics(op.gram())
                stats["correct"] = op.logits.argmax(dim=1) == y[i:i + bs]
                for key, val in stats.items():
                    parts.setdefault(key, []).append(val.detach().cpu())
            for i in range(0, min(self.config.power_n, x.shape[0]), bs):
                xb = x[i:min(i + bs, self.config.power_n)]
                v0 = torch.randn(xb.shape, generator=generator, device=generator.device, dtype=xb.dtype)
                value, vec, steps = power_iteration(ShrinkingFisherMatvec(FisherOperator(model, xb)),
                                                    v0.to(xb.device), self.config.power_iters, self.config.tol)
                for key, val in (("spectral_power", value), ("power_steps", steps), ("eigvecs", vec)):
                    parts.setdefault(key, []).append(val.detach().cpu())
        out = {k: torch.cat(v).numpy() for k, v in parts.items()}
        fnorm = out["fnorm"]
        scalars = {"fnorm_mean": float(fnorm.mean()), "log_fnorm_mean": _log(float(fnorm.mean())),
                   "fnorm_median": float(np.median(fnorm)), "trace_mean": float(out["trace"].mean()),
                   "spectral_mean": float(out["spectral"].mean()), "power_rel_error": float("nan")}
        if "spectral_power" in out:
            exact = out["spectral"][:len(out["spectral_power"])]
            positive = exact > 0
            if positive.any():
                gap = np.abs(out["spectral_power"] - exact)[positive] / exact[positive]
                scalars["power_rel_error"] = float(gap.max())
            out["eigvecs"] = out["eigvecs"][:self.config.n_eigvecs].astype(np.float32)
        return ProbeResult(scalars, out)


def _log(value: float) -> float:
    return math.log(value) if value > 0 else float("nan")
