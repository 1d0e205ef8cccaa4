"""Held-out estimate of the label information ``I(Z; Y)`` of a representation by a fitted probe classifier.

For any conditional model ``q(y | z)`` (Barber and Agakov, "The IM algorithm: a variational approach
to information maximization", NIPS 2003)::

    I(Z; Y) = H(Y) - H(Y | Z) >= H(Y) - E[-log q(Y | Z)],

with equality when ``q`` is the true posterior. The estimate here is that bound with both terms
measured on held-out examples (K-fold cross-fitting: every example is scored by a probe fitted on
the other folds)::

    I_hat = CE_prior - CE_probe,

``CE_probe`` the held-out cross-entropy of a multinomial logistic regression on the standardized
representation, ``CE_prior`` that of the best representation-free predictor, the fit folds' class
frequencies (an estimate of ``H(Y)``). In nats. Held out, a probe that overfits only lowers the
estimate, so it does not reward a representation for being easy to memorise; a representation with
no label information gives ``I_hat`` about 0 (slightly negative from the fit's noise), a perfectly
separable one about ``H(Y)``.

Why this estimator for P4's "IE lowers label information" (Sec. 2.3): the IE regularizer minimises
the Gaussian-kernel MMD between class-conditional and marginal representations at FC 2, and the
MMD probe (:mod:`robarena_guessfirst.probes.mmd_label_info`) measures that same objective, so a
drop there is true by construction. This estimator shares neither the kernel, nor the bandwidth,
nor the MMD: it asks whether a separately trained classifier can still read the ground-truth label
from the representation on examples it did not see. It is applied at the same layer as the
regulariser (FC 2, per hypothesis) because P4's claim is about that representation; by the data
processing inequality the later layers (FC 3 and the score) can carry no more label information
about the input's class than FC 2 under the same hypothesis. A regulariser that only hid the class
differences from its own kernel (e.g. below the median-heuristic bandwidth) lowers the MMD but not
this estimate: standardizing each feature makes it invariant to rescaling the representation.
The probe is linear (a lower bound that a non-linear probe could tighten). Its ridge is chosen per
outer fit from :data:`L2_GRID` on an inner holdout of the fit folds: a fixed weak ridge overfits a
256-d representation of 400 examples so much that a label-free one scores about -1.7 nats, a fixed
strong ridge halves the estimate of an informative one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from bench.errors import UsageError


@dataclass(frozen=True)
class LabelInformation:
    """``info`` = ``prior_ce - probe_ce`` (nats); ``probe_accuracy`` of the held-out probe predictions."""

    info: float
    probe_ce: float
    prior_ce: float
    probe_accuracy: float


#: the ridge grid searched inside the fit folds (strong to weak; the fits are warm-started along it)
L2_GRID = (10.0, 1.0, 0.1, 0.01)


def _fit_logistic(z: torch.Tensor, y: torch.Tensor, k: int, l2: float, max_iter: int,
                  init: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression: minimise ``mean CE + l2 / 2 * ||W||^2`` (bias unpenalised) by
    L-BFGS from ``init`` (default zeros)."""
    w0, b0 = init if init is not None else (torch.zeros(z.shape[1], k, dtype=z.dtype), torch.zeros(k, dtype=z.dtype))
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-7, tolerance_change=1e-10,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def _standardizer(z: torch.Tensor):
    mean, std = z.mean(0), z.std(0, unbiased=False)
    keep = std > 1e-12 * (1.0 + mean.abs())  # a constant feature carries nothing: it becomes 0
    std = torch.where(keep, std, torch.ones_like(std))
    return lambda a: torch.where(keep, (a - mean) / std, torch.zeros_like(a))


def _select_l2(z: torch.Tensor, y: torch.Tensor, k: int, grid: Sequence[float], max_iter: int,
               generator: torch.Generator) -> float:
    """The ridge of ``grid`` with the lowest cross-entropy on an inner holdout (a fifth of the fit folds)."""
    if len(grid) == 1:
        return float(grid[0])
    n = z.shape[0]
    inner = torch.zeros(n, dtype=torch.bool)
    inner[torch.randperm(n, generator=generator)[: max(1, n // 5)]] = True
    scale = _standardizer(z[~inner])
    zi, zo = scale(z[~inner]), scale(z[inner])
    best, best_ce, init = float(grid[0]), math.inf, None
    for l2 in grid:
        init = _fit_logistic(zi, y[~inner], k, float(l2), max_iter, init)
        ce = float(F.cross_entropy(zo @ init[0] + init[1], y[inner]))
        if ce < best_ce:
            best, best_ce = float(l2), ce
    return best


def heldout_label_information(z: torch.Tensor, y: torch.Tensor, num_classes: int, generator: torch.Generator,
                              folds: int = 5, l2: Union[float, Sequence[float]] = L2_GRID,
                              max_iter: int = 100) -> LabelInformation:
    """Cross-fitted ``H(Y) - CE`` estimate of ``I(Z; Y)`` (module docstring).

    Args:
        z: (N, D) representations; y: (N,) labels in ``[0, num_classes)``.
        generator: draws the fold assignment (a random permutation) and the inner holdouts.
        folds: K >= 2 folds (default 5); every example is scored by the probe fitted on the others.
        l2: ridge coefficient(s) on the standardized features; with several (default
            :data:`L2_GRID`), each outer fit takes the one with the lowest cross-entropy on an inner
            holdout of its own fit folds, so the outer held-out examples never choose it.
        max_iter: L-BFGS iterations per fit (default 100).
    Returns a :class:`LabelInformation` (means over all N held-out examples).
    """
    if z.dim() != 2 or y.shape != z.shape[:1]:
        raise UsageError(f"heldout_label_information needs z (N, D) and y (N,), got {tuple(z.shape)} and {tuple(y.shape)}")
    if folds < 2 or z.shape[0] < folds:
        raise UsageError(f"need folds >= 2 and at least `folds` examples, got folds={folds}, N={z.shape[0]}")
    grid = [float(l2)] if isinstance(l2, (int, float)) else [float(v) for v in l2]
    if not grid or min(grid) < 0:
        raise UsageError(f"l2 must be >= 0 (one value or a non-empty grid), got {l2}")
    z, y = z.detach().double().cpu(), y.detach().long().cpu()
    n = z.shape[0]
    fold = torch.empty(n, dtype=torch.long)
    fold[torch.randperm(n, generator=generator)] = torch.arange(n) % folds
    probe_nll = torch.empty(n, dtype=torch.float64)
    prior_nll = torch.empty(n, dtype=torch.float64)
    correct = torch.empty(n, dtype=torch.bool)
    for f in range(folds):
        test, fit = fold == f, fold != f
        zf, yf = z[fit], y[fit]
        chosen = _select_l2(zf, yf, num_classes, grid, max_iter, generator)
        scale = _standardizer(zf)
        w, b = _fit_logistic(scale(zf), yf, num_classes, chosen, max_iter)
        logp = F.log_softmax(scale(z[test]) @ w + b, dim=1)
        probe_nll[test] = -logp.gather(1, y[test].view(-1, 1)).squeeze(1)
        correct[test] = logp.argmax(1) == y[test]
        # the representation-free predictor: the fit folds' class frequencies (add-half smoothing
        # keeps a class absent from the fit folds finite)
        freq = torch.bincount(yf, minlength=num_classes).double() + 0.5
        prior_nll[test] = -(freq / freq.sum()).log()[y[test]]
    probe_ce, prior_ce = float(probe_nll.mean()), float(prior_nll.mean())
    if not (math.isfinite(probe_ce) and math.isfinite(prior_ce)):
        raise UsageError("the label-information probe produced a non-finite cross-entropy")
    return LabelInformation(prior_ce - probe_ce, probe_ce, prior_ce, float(correct.double().mean()))
