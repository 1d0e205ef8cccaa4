"""Earth Mover's Distance between two equal-size samples, P2's dataset distance (after Cui et al. 2018).

For two empirical distributions with n points each and uniform weights 1/n, the optimal transport
plans form the Birkhoff polytope scaled by 1/n, whose vertices are permutation matrices; a linear
cost is minimised at a vertex, so the exact EMD (1-Wasserstein distance with Euclidean ground cost)
is the optimal assignment:

    EMD(a, b) = min_{permutation s} 1/n sum_i ||a_i - b_{s(i)}||_2

solved exactly by :func:`scipy.optimize.linear_sum_assignment` (O(n^3); about 0.1 s at n = 500).
scipy is already a dependency; POT's ``ot.emd2`` would give the same number through a network
simplex but adds a dependency for no gain at these sizes.
"""
from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

from bench.errors import UsageError


def emd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Exact EMD between the uniform empirical distributions of ``a`` (n, k) and ``b`` (n, k)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape != b.shape:
        raise UsageError(f"EMD needs two samples of the same shape (n, k), got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] == 0:
        raise UsageError("EMD needs at least one point per sample")
    cost = torch.cdist(a.double().cpu(), b.double().cpu()).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def sample_emd(a: torch.Tensor, b: torch.Tensor, n: int, generator: torch.Generator) -> tuple[float, int]:
    """EMD between ``m = min(n, len(a), len(b))`` points drawn without replacement from each set.

    Draws use ``generator`` (``a`` first, then ``b``). Returns (distance, m).
    """
    m = min(int(n), a.shape[0], b.shape[0])
    if m < 1:
        raise UsageError("EMD needs at least one point per sample")
    ia = torch.randperm(a.shape[0], generator=generator, device=generator.device)[:m].cpu()
    ib = torch.randperm(b.shape[0], generator=generator, device=generator.device)[:m].cpu()
    return emd(a[ia], b[ib]), m



def class_mean_emd(za: torch.Tensor, ya: torch.Tensor, zb: torch.Tensor, yb: torch.Tensor) -> float:
    """Cui et al. (2018)'s domain distance: the EMD between the class means of two labelled feature sets.

    Each set is a discrete distribution over its classes: the mean feature vector of class c at
    weight n_c / N (the share of the set's images in class c); the ground distance is Euclidean in
    feature space. ``EMD = min_f sum_ij f_ij ||mu_i - nu_j||_2`` over flows with row sums equal to
    the first set's weights and column sums to the second's (both sum to 1), solved as a linear
    program (scipy's HiGHS). Shapes: ``za`` (N, D), ``ya`` (N,), ``zb`` (M, D), ``yb`` (M,).
    """
    import numpy as np
    from scipy.optimize import linprog

    means, weights = [], []
    for z, y in ((za, ya), (zb, yb)):
        if z.dim() != 2 or y.dim() != 1 or z.shape[0] != y.shape[0] or z.shape[0] == 0:
            raise UsageError(f"class_mean_emd needs features (N, D) and labels (N,), N >= 1; got {tuple(z.shape)} "
                             f"and {tuple(y.shape)}")
        classes = torch.unique(y.cpu())
        zd, yc = z.double().cpu(), y.cpu()
        means.append(torch.stack([zd[yc == c].mean(dim=0) for c in classes]))
        weights.append(np.array([float((yc == c).sum()) for c in classes]) / z.shape[0])
    if means[0].shape[1] != means[1].shape[1]:
        raise UsageError(f"features of different sizes: {means[0].shape[1]} and {means[1].shape[1]}")
    cost = torch.cdist(means[0], means[1]).numpy()
    m, k = cost.shape
    rows = np.zeros((m, m * k))
    cols = np.zeros((k, m * k))
    for i in range(m):
        rows[i, i * k:(i + 1) * k] = 1.0
    for j in range(k):
        cols[j, j::k] = 1.0
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate(weights), bounds=(0, None),
                  method="highs")
    if res.status != 0:  # pragma: no cover - a transportation problem with equal masses is always feasible
        raise UsageError(f"class-mean EMD: the linear program failed ({res.message})")
    return float(res.fun)
