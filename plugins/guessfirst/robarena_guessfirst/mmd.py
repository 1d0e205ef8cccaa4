"""Gaussian-kernel maximum mean discrepancy (P4 Sec. 2.3, Appendix B; Gretton et al., JMLR 2012).

``MMD^2(P, Q) = ||mu_P - mu_Q||_H^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)`` with the
Gaussian kernel ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``. Two empirical estimates from
``x_1..x_m ~ P`` and ``y_1..y_n ~ Q`` (Gretton et al. 2012, Eq. 3 and Lemma 6):

* biased (V-statistic, the default): ``1/m^2 sum_ij k(x_i, x_j) + 1/n^2 sum_ij k(y_i, y_j)
  - 2/(mn) sum_ij k(x_i, y_j)``, the squared RKHS distance between the two empirical mean
  embeddings; never negative;
* unbiased (U-statistic): the within-sample sums skip ``i = j`` and are divided by
  ``m(m - 1)`` and ``n(n - 1)``; can be slightly negative.

P4's Eq. 7 (its estimate) and its bandwidth did not survive in our copy of the paper, so the
estimator is a flag and ``sigma=None`` selects the median heuristic (Gretton et al. 2012,
Sec. 8: sigma = median pairwise distance of the pooled samples, computed without gradient).

Written by hand (no library dependency) because the regularizer needs a differentiable,
batched (one Gram matrix per label hypothesis) estimate on the training device.
"""
from __future__ import annotations

from typing import Optional

import torch

from bench.errors import UsageError


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||a_i - b_j||^2`` for ``a`` (..., m, D), ``b`` (..., n, D) -> (..., m, n), clamped at 0.

    Uses the expansion ``|a|^2 + |b|^2 - 2 a.b`` (no square root, so the gradient is finite
    at zero distance, unlike ``torch.cdist``).
    """
    d = (a * a).sum(-1, keepdim=True) + (b * b).sum(-1).unsqueeze(-2) - 2.0 * a @ b.transpose(-1, -2)
    return d.clamp_min(0.0)


def median_bandwidth(x: torch.Tensor) -> torch.Tensor:
    """Median heuristic: median of the pairwise distances ``||x_i - x_j||``, i < j, per batch.

    ``x`` (..., N, D) -> (...,) detached; 1.0 where the median is 0 (e.g. all points equal).
    """
    n = x.shape[-2]
    if n < 2:
        return torch.ones(x.shape[:-2], dtype=x.dtype, device=x.device)
    with torch.no_grad():
        d2 = squared_distances(x, x)
        iu = torch.triu_indices(n, n, offset=1, device=x.device)
        med = d2[..., iu[0], iu[1]].median(dim=-1).values.sqrt()
    return torch.where(med > 0, med, torch.ones_like(med))


def gaussian_gram(a: torch.Tensor, b: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """``exp(-||a_i - b_j||^2 / (2 sigma^2))``: (..., m, D), (..., n, D) -> (..., m, n).

    ``sigma`` is a float or a tensor broadcastable to the batch dimensions ``...``.
    """
    s = torch.as_tensor(sigma, dtype=a.dtype, device=a.device)
    s = s.reshape(s.shape + (1, 1))
    return torch.exp(-squared_distances(a, b) / (2.0 * s * s))


def _check_sigma(sigma: Optional[float]) -> None:
    if sigma is not None and not sigma > 0:
        raise UsageError(f"the Gaussian kernel bandwidth sigma must be > 0 (or None for the median heuristic), got {sigma}")


def mmd2(x: torch.Tensor, y: torch.Tensor, sigma: Optional[float] = None, unbiased: bool = False) -> torch.Tensor:
    """Squared MMD between samples ``x`` (m, D) and ``y`` (n, D) with a Gaussian kernel.

    Args:
        x, y: samples of P and Q (rows are points).
        sigma: kernel bandwidth; None = median heuristic on the pooled samples.
        unbiased: U-statistic (needs m, n >= 2) instead of the biased V-statistic.

    Returns a scalar tensor (differentiable in ``x`` and ``y``).
    """
    _check_sigma(sigma)
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise UsageError(f"mmd2 needs x (m, D) and y (n, D) with the same D, got {tuple(x.shape)} and {tuple(y.shape)}")
    m, n = x.shape[0], y.shape[0]
    if min(m, n) < (2 if unbiased else 1):
        raise UsageError(f"mmd2 needs at least {2 if unbiased else 1} samples per side, got {m} and {n}")
    s = median_bandwidth(torch.cat([x, y])) if sigma is None else sigma
    kxx, kyy, kxy = gaussian_gram(x, x, s), gaussian_gram(y, y, s), gaussian_gram(x, y, s)
    if unbiased:
        xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
        yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    else:
        xx, yy = kxx.mean(), kyy.mean()
    return xx + yy - 2.0 * kxy.mean()


def label_mmd(reps: torch.Tensor, labels: torch.Tensor, sigma: Optional[float] = None,
              unbiased: bool = False) -> torch.Tensor:
    """Label-information surrogate: mean over classes of ``MMD^2(P_{R|y=c}, P_R)``.

    P4 Eq. 3 writes ``I(R; Y) = 1/K sum_c KL(P_{R|c} || P_R)`` with ``P_R`` the marginal of the
    representation; replacing KL by MMD^2 (Sec. 2.3) gives, per representation,

        ``L = 1/C sum_c ||mu_c - mu_R||_H^2``,  ``mu_R = 1/N sum_i phi(r_i) = sum_c (n_c / N) mu_c``,

    over the C classes present (``mu_c`` the empirical kernel mean embedding of class c, ``mu_R``
    that of the pooled sample: the empirical marginal ``P_R``, not the class-balanced mean
    ``1/C sum_c mu_c``; the two agree when every class has the same count). Each term is the
    two-sample ``MMD^2(P_{R|c}, P_R)`` between class c and the whole batch. Biased: plug-in
    embeddings; unbiased: every ``<mu_c, mu_c>`` skips ``i = j`` (in the class term and inside
    ``mu_R``; classes with fewer than 2 samples are left out, also from ``mu_R``).

    Args:
        reps: (N, D) one representation, or (N, H, D) one per label hypothesis.
        labels: (N,) ground-truth classes.
        sigma: Gaussian bandwidth; None = median heuristic per hypothesis (no gradient).
        unbiased: U-statistic within classes.

    Returns (H,) (or a scalar for (N, D) input); 0 when fewer than two classes are present.
    """
    _check_sigma(sigma)
    single = reps.dim() == 2
    if single:
        reps = reps.unsqueeze(1)
    if reps.dim() != 3 or labels.shape != reps.shape[:1]:
        raise UsageError(f"label_mmd needs reps (N, D) or (N, H, D) and labels (N,), got {tuple(reps.shape)} "
                         f"and {tuple(labels.shape)}")
    r = reps.transpose(0, 1)  # (H, N, D)
    classes, counts = torch.unique(labels, return_counts=True)
    keep = counts >= (2 if unbiased else 1)
    classes, counts = classes[keep], counts[keep]
    c = classes.numel()
    if c < 2:
        out = r.sum(dim=(1, 2)) * 0.0
        return out[0] if single else out
    onehot = (labels.unsqueeze(0) == classes.unsqueeze(1)).to(r.dtype)  # (C, N)
    s = median_bandwidth(r) if sigma is None else sigma
    gram = gaussian_gram(r, r, s)  # (H, N, N)
    sums = onehot @ gram @ onehot.T  # (H, C, C): sum_{i in c, j in c'} k
    cnt = counts.to(r.dtype)
    if unbiased:
        diag_k = torch.einsum("cn,hn->hc", onehot, gram.diagonal(dim1=1, dim2=2))
        self_terms = (sums.diagonal(dim1=1, dim2=2) - diag_k) / (cnt * (cnt - 1))
        inner = sums / (cnt.view(-1, 1) * cnt.view(1, -1))
        inner = inner - torch.diag_embed(inner.diagonal(dim1=1, dim2=2)) + torch.diag_embed(self_terms)
    else:
        inner = sums / (cnt.view(-1, 1) * cnt.view(1, -1))  # <mu_c, mu_c'>
    w = cnt / cnt.sum()  # pooled marginal: mu_R = sum_c w_c mu_c
    cross = inner @ w  # (H, C): <mu_c, mu_R>
    out = (inner.diagonal(dim1=1, dim2=2) - 2.0 * cross).mean(-1) + (cross * w).sum(-1)
    return out[0] if single else out
