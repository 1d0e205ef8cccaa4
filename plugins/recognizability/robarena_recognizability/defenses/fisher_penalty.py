"""Fisher-information (Jacobian) penalty, Frobenius upper bound (P3 Eq. 3.6, Appendix D).

``min_f E_{(x, y)} [ CE(f(x), y) + beta eps^2 / 2 * ||F_f^{1/2} J(x)||_F^2 ]`` with ``f`` the
softmax output, ``J(x) = df/dx`` (K x d) and ``F_f = diag(f)^{-1}`` (P3 Eq. B.3), so that
``||F_f^{1/2} J||_F^2 = sum_k ||grad_x f_k||^2 / f_k = sum_k f_k ||grad_x log f_k||^2 = tr F_x``:
the second-order approximation of TRADES' KL term, bounded above in Frobenius norm.

Estimator (Hoffman, Roberts & Yaida 2019, Algorithm 1, with the Jacobian-vector product
scaled by ``F_f^{1/2}`` as P3 Appendix D describes): per example draw ``v`` uniformly on the
unit sphere of R^K and compute ``w = (F_f^{1/2} J)^T v`` by one backward pass; since
``E[K v v^T] = I``, ``K ||w||^2`` is an unbiased estimate of ``||F_f^{1/2} J||_F^2``; average
over ``n_proj`` draws (Hoffman et al. train with one). The row scaling uses the log-softmax
form ``(F_f^{1/2} J)_k = sqrt(f_k) grad_x log f_k`` (no division by small probabilities).
The backward pass keeps its graph (``create_graph=True``) and ``sqrt(f)`` is not detached, so
the weight gradient of the estimate is an unbiased estimate of the penalty's weight gradient.

Defaults: beta 1 (P3 Sec. 4.1), eps 8/255, n_proj 1. The projections are drawn from the
defense's generator.
"""
from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.eps import Eps, EpsRule


class FisherPenaltyConfig(BaseConfig):
    """Parameters of :class:`FisherPenalty` (defaults: P3 Sec. 4.1 and Hoffman et al. 2019)."""

    beta: float = Field(1.0, ge=0, description="penalty weight (P3: 1)")
    eps: Annotated[Eps, EpsRule(allow_zero=True, norm="L2")] = Field(
        Eps("8/255"), description="radius in the weight beta eps^2 / 2 (0: no penalty); '8/255' accepted")
    n_proj: int = Field(1, ge=1, description="random projections per example (Hoffman et al.: 1)")


def unit_sphere(n: int, k: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """(n, k) rows uniform on the unit sphere of R^k (normalised Gaussians), on ``like``'s device and dtype."""
    g = torch.randn((n, k), generator=generator, device=generator.device, dtype=like.dtype).to(like.device)
    return g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)


def fisher_jacobian_estimate(model: nn.Module, x: torch.Tensor, generator: torch.Generator,
                             n_proj: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (logits (N, K), per-example estimate of ``||F_f^{1/2} J(x)||_F^2`` (N,)).

    Both stay in the autograd graph (the estimate through a ``create_graph`` backward pass).
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    log_f = F.log_softmax(logits, dim=1)
    sqrt_f = (0.5 * log_f).exp()
    n, k = logits.shape
    total = torch.zeros(n, device=x.device, dtype=logits.dtype)
    for _ in range(n_proj):
        v = unit_sphere(n, k, generator, logits)
        (w,) = torch.autograd.grad(log_f, x, grad_outputs=sqrt_f * v, create_graph=True)
        total = total + k * w.flatten(1).pow(2).sum(dim=1)
    return logits, total / n_proj


def fisher_penalty_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext,
                        config: FisherPenaltyConfig) -> torch.Tensor:
    """``mean CE + beta eps^2 / 2 * mean estimate`` over the batch."""
    logits, est = fisher_jacobian_estimate(model, x, ctx.generator, config.n_proj)
    return F.cross_entropy(logits, y) + 0.5 * config.beta * config.eps ** 2 * est.mean()


class FisherPenalty(Defense):
    """Training with the Frobenius-norm Fisher-information penalty of P3 Eq. 3.6.

    Args:
        config: :class:`FisherPenaltyConfig` — beta=1, eps=8/255, n_proj=1.
        train: the suite's :class:`bench.api.TrainConfig`.

    Cost: 1 forward and ``2 n_proj + 1`` backward passes per example and epoch (:meth:`cost`).
    """

    Config = FisherPenaltyConfig

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch (``bench.api.cost``), whatever beta and eps (the estimate is always computed):
        the forward pass, ``n_proj`` projected backwards kept with ``create_graph``, and the outer loss's
        backward through each of their graphs (``n_proj`` double backwards) and through the forward graph
        (1 backward): 1 forward + ``2 n_proj + 1`` backwards."""
        return Cost(1.0, 2.0 * self.config.n_proj + 1.0) * (self.train.epochs * n_train)

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config
        return fit_with_loss(model, data, self.train, ctx,
                             lambda m, x, y, c: fisher_penalty_loss(m, x, y, c, config))
