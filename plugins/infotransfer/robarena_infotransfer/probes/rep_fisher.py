"""Fisher of the representation about the input under an *isotropic* observation model (P2 Def. 0.2, Prop. 0.3).

P2 Def. 0.2: ``F_{z|x} = E_x E_{z ~ p_w(z|x)} grad_x log p_w(z|x) grad_x log p_w(z|x)^T = E_x S(z|x)``.
A deterministic network needs an observation model to have a density. This probe takes the
isotropic Gaussian ``p_w(z|x) = N(f_w(x), sigma^2 I_k)`` with ``z = f_w(x) = model.features(x)``
(k numbers), a choice of ours. It is **not** P2's Eq. 9, where the noise on z comes from the weight
posterior, ``z ~ N(f_w(x), J_w Sigma* J_w^T)`` with ``Sigma* = beta/2 (F_w + beta/(2 lambda^2) I)^-1``
(Achille & Soatto 2019), which would weight the Jacobian by the inverse of that covariance; hence
the columns' ``iso_`` prefix. sigma (default 1) is arbitrary: it scales the trace by ``1/sigma^2``
and shifts the log-det by ``-2 k log sigma``, so only comparisons at equal sigma, ridge and k mean
anything. (beta and lambda of Sigma* are not used here; see
:mod:`robarena_infotransfer.posterior` for where the weight-information probe's come from.)
Then ``grad_x log p = J^T (z - f_w(x)) / sigma^2`` with ``J = d f_w / d x`` (k x d), and the
sensitivity matrix is ``S(z|x) = J^T J / sigma^2`` (d x d, rank <= k). Reported per input x:

* ``trace``: ``tr S = ||J||_F^2 / sigma^2`` (P2 Prop. 0.3 bounds the adversarial KL by the
  top eigenvalue of S and the Gaussian-noise KL by ``tr S / d``);
* ``logdet``: ``log det(J J^T / sigma^2 + ridge I_k)``, the k x k matrix whose eigenvalues are
  the non-zero eigenvalues of S. This is the ``log |F_{z|x}|`` of P2 Eq. 8 *for the isotropic
  model* (the effective
  information ``I_eff(x; z) ~ H(x) - E_x 1/2 log((2 pi e)^k / |F_{z|x}|)``, where k is the
  representation size), i.e. ``I_eff = const + 1/2 E_x logdet``. The d x d matrix is never formed.
  ``ridge`` (default 1e-6) keeps the log finite when J has rank < k (a ReLU feature that is
  0 on a neighbourhood of x has a zero row); each such direction then contributes
  ``log(ridge)``, so compare models at the same ridge and read ``rank_mean`` alongside;
* ``lambda_max``: the top eigenvalue of S (P2 Eq. 5: what adversarial training penalises);
* ``rank``: eigenvalues above ``rank_tol`` times the largest.

Columns: ``iso_trace_mean``, ``iso_logdet_mean`` (declared), ``iso_lambda_max_mean``, ``rank_mean``,
``feature_dim``: means over the first ``n`` evaluation examples. Arrays: ``trace``, ``logdet``,
``lambda_max`` (n,), ``spectrum_mean`` (k,) the mean eigenvalues of ``J J^T / sigma^2``,
largest first.

Cost: J is exact, by k backward passes per batch of ``batch_size`` examples (the examples of a
batch are independent in eval mode, so one backward of ``sum_i z_i[j]`` gives row j of every
example's Jacobian); memory ``batch_size x k x d`` floats.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_infotransfer.probes.features import feature_map


class RepFisherConfig(BaseConfig):
    sigma: float = Field(1.0, gt=0, description="std of the Gaussian observation model p(z|x) = N(f(x), sigma^2 I)")
    ridge: float = Field(1e-6, ge=0, description="added to every eigenvalue of J J^T / sigma^2 before the log")
    rank_tol: float = Field(1e-6, gt=0, lt=1, description="relative eigenvalue threshold of the rank column")
    n: int = Field(128, ge=1, description="first n evaluation examples")
    batch_size: int = Field(32, ge=1, description="examples per Jacobian batch (memory: batch x k x d floats)")


def input_jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobians ``d f(x_i) / d x_i``: (B, k, d) for ``x`` (B, ...) and ``f(x)`` (B, k).

    Exact, with k backward passes; assumes the examples of the batch do not interact (eval mode).
    Parameters' ``.grad`` are untouched (``torch.autograd.grad`` w.r.t. ``x`` only).
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        z = f(x)
        k = z.shape[1]
        rows = []
        for j in range(k):
            (g,) = torch.autograd.grad(z[:, j].sum(), x, retain_graph=j < k - 1, allow_unused=True)
            rows.append(torch.zeros_like(x).flatten(1) if g is None else g.flatten(1))
    return torch.stack(rows, dim=1).detach()


def gram_spectrum(jac: torch.Tensor, sigma: float) -> torch.Tensor:
    """Eigenvalues (B, k), ascending, of ``J J^T / sigma^2`` for ``jac`` (B, k, d), in float64."""
    j = jac.double()
    gram = j @ j.transpose(1, 2) / sigma**2
    return torch.linalg.eigvalsh(gram).clamp_min(0.0)


class RepFisher(Probe):
    """Trace and log-determinant of ``F_{z|x}`` under the isotropic observation model N(f(x), sigma^2 I)
    (P2 Def. 0.2, Eq. 8's ``|F_{z|x}|`` for that model; not P2's weight-noise Eq. 9).

    Args (``RepFisherConfig``): sigma=1.0, ridge=1e-6, rank_tol=1e-6, n=128, batch_size=32.
    Shapes: the evaluation subset ``x`` (N, C, H, W); ``model.features(x)`` (N, k).
    """

    Config = RepFisherConfig

    def cost(self, n: int, n_train: int, feature_dim: Optional[int] = None) -> Optional[Cost]:
        """Per evaluation example used (the first ``n`` of the config): 1 forward (the features) and
        ``feature_dim`` backwards (one per Jacobian row). None when ``feature_dim`` (k, the size of the
        model's ``features(x)``) is not given: it is the architecture's, which ``cost(n, n_train)`` is not told."""
        if feature_dim is None:
            return None
        return Cost(1.0, float(feature_dim)) * min(n, self.config.n)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        f = feature_map(model)
        x = data.x[:cfg.n]
        spectra = []
        for i in range(0, x.shape[0], cfg.batch_size):
            jac = input_jacobian(f, x[i:i + cfg.batch_size].to(data.device))
            spectra.append(gram_spectrum(jac, cfg.sigma).cpu())
        eig = torch.cat(spectra).numpy()  # (n, k) ascending
        trace = eig.sum(axis=1)
        logdet = np.log(eig + cfg.ridge).sum(axis=1)
        top = eig[:, -1]
        rank = (eig > cfg.rank_tol * top[:, None]).sum(axis=1) * (top > 0)
        scalars = {"iso_trace_mean": float(trace.mean()), "iso_logdet_mean": float(logdet.mean()),
                   "iso_lambda_max_mean": float(top.mean()), "rank_mean": float(rank.mean()),
                   "feature_dim": float(eig.shape[1])}
        arrays = {"trace": trace, "logdet": logdet, "lambda_max": top, "spectrum_mean": eig.mean(axis=0)[::-1].copy()}
        return ProbeResult(scalars, arrays)
