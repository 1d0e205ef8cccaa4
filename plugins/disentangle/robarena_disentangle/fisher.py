"""Input Fisher information of a softmax classifier without forming d x d matrices (P0 Eq. 9).

For logits ``z(x)`` in R^L, ``J = dz/dx`` (L x d) and ``p = softmax(z)``,
``grad_x log p_j = J^T (e_j - p)``, so

    F_x = sum_j p_j grad log p_j grad log p_j^T = J^T A J,     A = diag(p) - p p^T,

and ``F_x = B^T B`` where row j of B (L x d) is ``B_j = sqrt(p_j) grad_x log p_j``. Hence

* ``eta^T F eta = (J eta)^T A (J eta)``: one Jacobian-vector product (JVP);
* ``F v = J^T A (J v)``: one JVP and one vector-Jacobian product (VJP);
* ``M = B B^T`` (L x L) has the nonzero eigenvalues of F, so ``||F||_F = ||M||_F``,
  ``tr F = tr M`` and ``||F||_2 = lambda_max(M)``: L VJPs (``B_j = J^T sqrt(p_j) (e_j - p)``)
  give all of them exactly.

Batches: the model maps (N, C, H, W) -> (N, L) and, in eval mode, example i's logits depend
on example i only, so one batched JVP / VJP gives every example's own product. Products use
``torch.func`` (forward-mode JVP, reverse-mode VJP) and differentiate w.r.t. the input only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn


@contextmanager
def input_gradients_only(model: nn.Module) -> Iterator[nn.Module]:
    """Parameters stop requiring gradients inside the block (restored afterwards)."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def kl_from_logits(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Per-row ``KL(softmax(logits_p) || softmax(logits_q))`` in float64, shape (N,)."""
    log_p = F.log_softmax(logits_p.double(), dim=1)
    log_q = F.log_softmax(logits_q.double(), dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def softmax_quadratic(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``u^T (diag(p) - p p^T) u`` per row, written as the variance of u under p (>= 0), shape (N,)."""
    mean = (p * u).sum(dim=1, keepdim=True)
    return (p * (u - mean) ** 2).sum(dim=1)


def softmax_covariance_apply(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``(diag(p) - p p^T) u`` per row, shape (N, L)."""
    return p * (u - (p * u).sum(dim=1, keepdim=True))


class FisherOperator:
    """The input Fisher information ``F_x`` of ``model`` at a batch ``x`` (N, C, H, W), matrix-free.

    ``model`` must be in eval mode with per-example outputs; use it inside
    :func:`input_gradients_only`. The VJP graph is built on first use and reused.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, logits: Optional[torch.Tensor] = None) -> None:
        self.model, self.x = model, x.detach()
        if logits is None:
            with torch.no_grad():
                logits = model(self.x)
        self.logits = logits.detach()
        self.p = torch.softmax(self.logits, dim=1)
        self._vjp_fn: Optional[Callable] = None

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        """``J v`` (N, L) for tangents ``v`` shaped like ``x``."""
        return torch.func.jvp(self.model, (self.x,), (v.to(self.x.dtype),))[1]

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        """``J^T u`` shaped like ``x`` for cotangents ``u`` (N, L)."""
        if self._vjp_fn is None:
            with torch.enable_grad():
                _, self._vjp_fn = torch.func.vjp(self.model, self.x)
        return self._vjp_fn(u.to(self.logits.dtype))[0]

    def quadratic(self, eta: torch.Tensor) -> torch.Tensor:
        """``eta^T F_x eta`` per example (N,) from one JVP."""
        return softmax_quadratic(self.p.double(), self.jvp(eta).double())

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``F_x v`` shaped like ``x`` from one JVP and one VJP."""
        return self.vjp(softmax_covariance_apply(self.p, self.jvp(v)))

    def score_rows(self) -> torch.Tensor:
        """B (N, L, d): row j is ``sqrt(p_j) grad_x log p_j``, from L VJPs; ``F_x = B^T B``."""
        n, num_classes = self.p.shape
        eye = torch.eye(num_classes, device=self.p.device, dtype=self.p.dtype)
        rows = []
        for j in range(num_classes):
            cotangent = self.p[:, j:j + 1].sqrt() * (eye[j] - self.p)
            rows.append(self.vjp(cotangent).reshape(n, -1))
        return torch.stack(rows, dim=1)

    def gram(self) -> torch.Tensor:
        """``M = B B^T`` (N, L, L) in float64: F_x's nonzero spectrum in an L x L matrix."""
        rows = self.score_rows().double()
        return rows @ rows.transpose(1, 2)


def gram_statistics(gram: torch.Tensor) -> dict[str, torch.Tensor]:
    """``fnorm`` = ||F||_F, ``trace`` = tr F, ``spectral`` = ||F||_2 (exact), each (N,), from M (N, L, L)."""
    return {"fnorm": torch.linalg.matrix_norm(gram), "trace": gram.diagonal(dim1=1, dim2=2).sum(dim=1),
            "spectral": torch.linalg.eigvalsh(gram)[:, -1].clamp_min(0.0)}


def power_iteration(matvec: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], v0: torch.Tensor, iters: int,
                    tol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leading eigenpair of a batch of symmetric PSD operators by power iteration.

    ``v <- F v / ||F v||`` from ``v0`` (N, ...) for at most ``iters`` products; the eigenvalue is
    the Rayleigh quotient ``lambda = v^T F v`` of the current unit vector. An example has
    converged when its residual is small, ``||F v - lambda v|| <= tol * lambda`` (for a symmetric
    operator some eigenvalue then lies within ``tol * lambda`` of lambda); it is then frozen and
    left out of later products. ``matvec(v, active)`` returns ``F_i v_i`` for the examples
    ``active`` (int64 indices, increasing) given their rows ``v`` (len(active), ...).

    Returns ``(eigenvalue (N,) float64, unit eigenvector like v0, steps (N,) int64)``; ``steps`` is
    the number of products after which the example converged (``iters`` + 1 if it never did).
    The sign is fixed so that the eigenvector's largest-magnitude entry is positive.
    """
    n = v0.shape[0]
    v = _unit(v0)
    value = torch.zeros(n, dtype=torch.float64, device=v0.device)
    steps = torch.full((n,), iters + 1, dtype=torch.int64, device=v0.device)
    active = torch.arange(n, device=v0.device)
    for k in range(1, iters + 1):
        if active.numel() == 0:
            break
        va = v[active].flatten(1).double()
        w = matvec(v[active], active)
        wf = w.flatten(1).double()
        rayleigh = (va * wf).sum(dim=1)
        residual = (wf - rayleigh.unsqueeze(1) * va).norm(dim=1)
        converged = residual <= tol * rayleigh
        value[active] = rayleigh
        v[active] = _unit(w).to(v.dtype)
        steps[active[converged]] = k
        active = active[~converged]
    flat = v.flatten(1)
    sign = torch.sign(flat.gather(1, flat.abs().argmax(dim=1, keepdim=True))).clamp_min(0) * 2 - 1
    return value.clamp_min(0.0), v * sign.view(-1, *([1] * (v.dim() - 1))), steps


class ShrinkingFisherMatvec:
    """``matvec(v, active)`` for :func:`power_iteration` on the F_x of an operator's batch.

    The JVP runs on the active examples only; the VJP graph (the costly part to keep) is rebuilt
    on the active examples whenever they drop to half of the examples it covers.
    """

    def __init__(self, op: FisherOperator) -> None:
        self.model, self.x, self.op = op.model, op.x, op
        self.covered = torch.arange(op.x.shape[0], device=op.x.device)

    def __call__(self, v: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        if 2 * active.numel() <= self.covered.numel():
            self.covered, self.op = active, FisherOperator(self.model, self.x[active])
        pos = torch.searchsorted(self.covered, active)
        jv = torch.func.jvp(self.model, (self.x[active],), (v.to(self.x.dtype),))[1]
        cotangent = torch.zeros_like(self.op.logits)
        cotangent[pos] = softmax_covariance_apply(self.op.p[pos], jv)
        return self.op.vjp(cotangent)[pos]


def _unit(v: torch.Tensor) -> torch.Tensor:
    norms = v.flatten(1).norm(dim=1).clamp_min(torch.finfo(v.dtype).tiny)
    return v / norms.view(-1, *([1] * (v.dim() - 1)))
