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

