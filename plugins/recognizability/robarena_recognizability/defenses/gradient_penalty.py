"""Input-gradient norm penalty by double backpropagation (P3 Eq. 3.1).

``min_f E_{(x, y)} [ CE(f(x), y) + beta * eps * ||grad_x CE(f(x), y)||_q ]``: the first-order
Taylor approximation of PGD adversarial training, where ``q`` is the dual of the adversary's
norm (``q = 1`` for Linf, ``q = 2`` for L2; Ross & Doshi-Velez, Etmann et al. and Finlay &
Oberman use ``q = 2``). P3 Sec. 4.1: Linf, eps 8/255, beta 64.

The input gradient is taken with ``create_graph=True`` so the penalty is differentiated
w.r.t. the weights (double backpropagation). Each example's gradient is that of its own CE
(the gradient of the summed per-example losses); with batch-norm layers in train mode the
examples of a batch are coupled, as in any double-backprop implementation.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.eps import Eps, EpsOrZero
from bench.threat import ThreatConfig

#: dual norm order of each adversary
DUAL = {"Linf": 1, "L2": 2}


class GradientPenaltyConfig(ThreatConfig):
    """Parameters of :class:`GradientPenalty` (defaults: P3 Sec. 4.1)."""

    beta: float = Field(64.0, ge=0, description="penalty weight (P3: 64)")
    eps: EpsOrZero = Field(Eps("8/255"), description="adversary radius in the weight beta * eps (0: no penalty); "
                                                    "'8/255' accepted")
    norm: Literal["Linf", "L2"] = Field("Linf", description="adversary's norm; the penalty uses its dual")

    @property
    def q(self) -> int:
        return DUAL[self.norm]


def gradient_penalty_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                           q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``CE(f(x), y)`` and ``||grad_x CE||_q``, each (N,), both differentiable w.r.t. the weights."""
    x = x.detach().requires_grad_(True)
    ce = F.cross_entropy(model(x), y, reduction="none")
    (grad,) = torch.autograd.grad(ce.sum(), x, create_graph=True)
    return ce, grad.flatten(1).norm(p=q, dim=1)


def gradient_penalty_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          config: GradientPenaltyConfig) -> torch.Tensor:
    """``mean CE + beta * eps * mean ||grad_x CE||_q`` over the batch."""
    ce, norms = gradient_penalty_terms(model, x, y, config.q)
    return ce.mean() + config.beta * config.eps * norms.mean()


class GradientPenalty(Defense):
    """Training with the dual-norm input-gradient penalty of P3 Eq. 3.1.

    Args:
        config: :class:`GradientPenaltyConfig` — beta=64, eps=8/255, norm="Linf" (q = 1).
        train: the suite's :class:`bench.api.TrainConfig`.

    Cost: 1 forward and 3 backward passes per example and epoch (:meth:`cost`).
    """

    Config = GradientPenaltyConfig

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch (``bench.api.cost``), whatever beta and eps (the penalty is always computed):
        the forward pass, the input-gradient backward (kept with ``create_graph``), and the outer loss's
        backward, which runs back through that backward's graph (the double backward: 1 backward) and
        through the forward graph (1 backward): 1 forward + 3 backwards."""
        return Cost(1.0, 3.0) * (self.train.epochs * n_train)

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config
        return fit_with_loss(model, data, self.train, ctx,
                             lambda m, x, y, c: gradient_penalty_loss(m, x, y, config))
