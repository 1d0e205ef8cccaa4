"""Jacobian norms and a local Lipschitz estimate of the logits (P3 Prop. 3.1, Lemma 3.1).

Paper: Helland and VanHoudnos (P3), Sec. 3.2.2. With ``g`` the logits, ``J(x) = dg/dx``
(K x d) and ``F_f = diag(p) - p p^T`` the Fisher information of the softmax output ``p``
with respect to the logits, ``||F_f^{1/2} J(x)||_F^2 = tr(J^T F_f J) = tr F_x``, the trace of
the input Fisher information (P3 Eq. B.2). P3 writes the same quantity with ``J = dp/dx`` and
``F_f = diag(p)^{-1}`` (Eq. B.3): ``sum_k ||grad_x p_k||^2 / p_k = sum_k p_k ||grad_x log p_k||^2``.
Eq. 3.6 penalises it (the ``recognizability/fisher-penalty`` defense); Lemma 3.1 bounds
``lambda_max(F_x)`` by it and Prop. 3.1 turns a bound on it into a Lipschitz constant.

What is measured, per evaluation point ``x`` (means and maxima over the first ``n`` points):

* ``jacobian_fro``: ``||J(x)||_F`` of the logits, estimated with random projections
  (Hoffman, Roberts & Yaida 2019, Alg. 1): ``v`` uniform on the unit sphere of R^K,
  ``K ||J^T v||^2`` is unbiased for ``||J||_F^2``; ``n_proj`` draws are averaged. The column is
  the root mean square over the points, ``sqrt(mean_x est(x))``, so it stays the square root
  of an unbiased estimate (a mean of per-point square roots would be biased low).
* ``fisher_jacobian_fro``: ``||F_f^{1/2} J(x)||_F`` the same way, with the estimator of the
  Fisher-penalty defense (:func:`~robarena_recognizability.defenses.fisher_penalty.fisher_jacobian_estimate`).
* ``jacobian_spectral``: mean over points of ``||J(x)||_2``, the local (infinitesimal) L2
  Lipschitz constant of the logits at ``x``, by ``power_iters`` steps of power iteration on
  ``J^T J`` with Jacobian-vector products (no dense Jacobian).
* ``lipschitz_local``: a finite-difference Lipschitz estimate over small neighbourhoods of the
  points, ``max_x max_{d in D(x)} ||g(x + d) - g(x)||_2 / ||d||_2``. ``D(x)`` holds the
  leading right singular vector of ``J(x)`` from the power iteration (the direction of
  steepest first-order change; both signs) and ``fd_random`` uniformly random directions, all
  scaled to L2 length ``fd_radius * sqrt(d)`` -- a root-mean-square change of ``fd_radius``
  per pixel (default 2/255: the L2 length of one of P3's signed attack steps). ``x + d`` is
  not clamped to the box: this measures the function, not an attack. It is a lower bound on
  the Lipschitz constant over the union of the balls; for a linear model it equals
  ``sigma_max(W)``.
* ``output_spread``: mean total-variation distance between each point's softmax output and
  the mean output over the points (0 for a constant classifier; P3 Sec. 4.2's TRADES beta
  10000 model), and ``top_class_share``: the share of the most frequently predicted class.

Arrays (per point): ``jacobian_fro_sq``, ``fisher_jacobian_fro_sq`` (the unbiased squared
estimates), ``jacobian_spectral`` and ``lipschitz_local``.

Args (``JacobianConfig``): n_proj=1 (Hoffman et al.), power_iters=20, fd_radius=2/255,
fd_random=4, n=None (all evaluation points).
"""
from __future__ import annotations

from typing import Annotated, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.eps import Eps, EpsRule
from robarena_recognizability.defenses.fisher_penalty import fisher_jacobian_estimate, unit_sphere


class JacobianConfig(BaseConfig):
    """Parameters of :class:`JacobianProbe`."""

    n_proj: int = Field(1, ge=1, description="random projections per point (Hoffman et al. 2019: 1)")
    power_iters: int = Field(20, ge=1, description="power-iteration steps for ||J(x)||_2")
    fd_radius: Annotated[Eps, EpsRule(norm="Linf")] = Field(
        Eps("2/255"), description="finite-difference step as an RMS change per pixel; '2/255' accepted")
    fd_random: int = Field(4, ge=0, description="random directions per point besides the singular vector")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation points (default: all)")


def jacobian_frobenius_estimate(model: nn.Module, x: torch.Tensor, generator: torch.Generator,
                                n_proj: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (logits (N, K), per-example unbiased estimate of ``||J(x)||_F^2`` (N,)), detached.

    ``K ||J^T v||^2`` with ``v`` uniform on the unit sphere of R^K (``E[K v v^T] = I``),
    averaged over ``n_proj`` draws; one backward pass per draw.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    n, k = logits.shape
    total = torch.zeros(n, device=x.device, dtype=logits.dtype)
    for _ in range(n_proj):
        v = unit_sphere(n, k, generator, logits)
        (w,) = torch.autograd.grad(logits, x, grad_outputs=v, retain_graph=True, allow_unused=True)
        if w is not None:
            total = total + k * w.flatten(1).pow(2).sum(dim=1)
    return logits.detach(), (total / n_proj).detach()


def spectral_norm_and_direction(model: nn.Module, x: torch.Tensor, generator: torch.Generator,
                                iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``||J(x)||_2`` (N,) and the leading right singular vector (N, *x.shape[1:]).

    Power iteration on ``J^T J``: ``J v`` by the double-backward trick (``w -> J^T w`` is
    linear, so differentiating it with respect to ``w`` along ``v`` gives ``J v``) and
    ``J^T u`` by one backward pass; the forward graph is built once.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    w = torch.zeros_like(logits, requires_grad=True)
    (jt_w,) = torch.autograd.grad(logits, x, grad_outputs=w, create_graph=True, allow_unused=True)
    shape = x.shape
    gen = torch.randn(shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    v = _unit_rows(gen)
    if jt_w is None or not jt_w.requires_grad:  # the output ignores the input: J = 0
        return torch.zeros(shape[0], device=x.device, dtype=x.dtype), v
    for _ in range(iters):
        (jv,) = torch.autograd.grad(jt_w, w, grad_outputs=v, retain_graph=True)
        (jtjv,) = torch.autograd.grad(logits, x, grad_outputs=jv, retain_graph=True)
        norms = jtjv.flatten(1).norm(dim=1)
        v = torch.where(_bcast(norms > 0, v), _unit_rows(jtjv), v)
    (jv,) = torch.autograd.grad(jt_w, w, grad_outputs=v, retain_graph=False)
    return jv.norm(dim=1).detach(), v.detach()


def finite_difference_lipschitz(model: nn.Module, x: torch.Tensor, directions: list[torch.Tensor],
                                radius: float) -> torch.Tensor:
    """Per-example ``max_d ||g(x + d) - g(x)||_2 / ||d||_2`` over unit ``directions`` scaled to
    L2 length ``radius * sqrt(dim)`` (N,)."""
    length = radius * float(x[0].numel()) ** 0.5
    with torch.no_grad():
        base = model(x)
        best = torch.zeros(x.shape[0], device=x.device, dtype=base.dtype)
        for u in directions:
            change = (model(x + length * u) - base).norm(dim=1) / length
            best = torch.maximum(best, change)
    return best


def _bcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


def _unit_rows(t: torch.Tensor) -> torch.Tensor:
    return t / _bcast(t.flatten(1).norm(dim=1).clamp_min(1e-30), t)


class JacobianProbe(Probe):
    """``||J||_F``, ``||F_f^{1/2} J||_F``, ``||J||_2``, a local Lipschitz estimate and output spread.

    See the module docstring for the definitions (P3 Prop. 3.1, Lemma 3.1; Hoffman et al. 2019
    Alg. 1). Shapes: the evaluation subset ``x`` (N, C, H, W); columns are floats.
    """

    Config = JacobianConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """Per evaluation point used (the first ``n`` of the config): ``||J||_F`` 1 forward + ``n_proj``
        backwards; ``||F^(1/2) J||_F`` 1 forward + ``n_proj`` backwards; ``||J||_2`` 1 forward, the
        ``create_graph`` backward and per power step a ``J v`` (a backward through that backward's graph) and
        a ``J^T u`` backward, then a last ``J v``; the finite differences ``3 + fd_random`` forwards without
        gradient: ``6 + fd_random`` forwards + ``2 n_proj + 2 power_iters + 2`` backwards."""
        cfg = self.config
        per_point = Cost(6.0 + cfg.fd_random, 2.0 * cfg.n_proj + 2.0 * cfg.power_iters + 2.0)
        return per_point * min(n, cfg.n or n)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        x_all = data.x if cfg.n is None else data.x[:cfg.n]
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("jac", "fisher", "spec", "lip", "probs")}
        for i in range(0, x_all.shape[0], data.batch_size):
            x = x_all[i:i + data.batch_size].to(data.device)
            logits, jac = jacobian_frobenius_estimate(model, x, generator, cfg.n_proj)
            _, fisher = fisher_jacobian_estimate(model, x, generator, cfg.n_proj)
            spec, top = spectral_norm_and_direction(model, x, generator, cfg.power_iters)
            randoms = [_unit_rows(torch.randn(x.shape, generator=generator, device=generator.device,
                                              dtype=x.dtype).to(x.device)) for _ in range(cfg.fd_random)]
            lip = finite_difference_lipschitz(model, x, [top, -top, *randoms], cfg.fd_radius)
            for key, value in (("jac", jac), ("fisher", fisher.detach()), ("spec", spec), ("lip", lip),
                               ("probs", logits.double().softmax(dim=1))):
                parts[key].append(value.detach().double().cpu())
        jac, fisher, spec, lip, probs = (torch.cat(parts[k]) for k in ("jac", "fisher", "spec", "lip", "probs"))
        spread = 0.5 * (probs - probs.mean(dim=0, keepdim=True)).abs().sum(dim=1)
        counts = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1])
        scalars = {
            "jacobian_fro": float(jac.mean().clamp_min(0).sqrt()),
            "fisher_jacobian_fro": float(fisher.mean().clamp_min(0).sqrt()),
            "jacobian_spectral": float(spec.mean()),
            "lipschitz_local": float(lip.max()),
            "output_spread": float(spread.mean()),
            "top_class_share": float(counts.max()) / probs.shape[0],
        }
        arrays = {"jacobian_fro_sq": jac.numpy(), "fisher_jacobian_fro_sq": fisher.numpy(),
                  "jacobian_spectral": spec.numpy(), "lipschitz_local": lip.numpy()}
        return ProbeResult(scalars, {k: np.asarray(v) for k, v in arrays.items()})
