"""TRADES (Zhang et al. 2019), Linf and L2.

``min_f E_{(x, y)} [ CE(f(x), y) + beta * max_{x' in B_eps(x)} KL(f(x) || f(x')) ]``
(P2 Eq. 2, P3 Eq. 2.6): an accuracy term on the *clean* batch plus a smoothness term that
pulls the prediction at the worst point of the ball towards the clean prediction.

Inner maximisation (as in the authors' reference code, P3 footnote): PGD on
``KL(f(x) || f(x'))`` from ``x' = x + 0.001 N(0, I)`` (at ``x' = x`` the KL has a zero
gradient), with the clean distribution held fixed, signed steps for Linf and unit-L2 steps
for L2, each followed by the projection onto the ball and the box. It runs with the model in
eval mode (as the reference code does), so batch-norm layers neither normalise with nor
update their statistics from the iterates; the outer loss is computed in the caller's mode.

Defaults: beta 6, eps 8/255, 10 steps of 2/255 (P0 uses beta 5 = 1/lambda; P3 uses beta 6
and beta 10000 with 7 steps — suites set those). ``beta = 0`` is exactly standard training:
the inner maximisation and the forward pass on ``x'`` are skipped.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.eps import Eps
from bench.steps import StepBudget, Steps
from bench.threat import ThreatConfig, ThreatModel
from bench.toolkit import eval_mode, madry_step_size, steepest_direction


class TRADESConfig(ThreatConfig):
    """Parameters of :class:`TRADES` (defaults: Zhang et al. 2019 CIFAR-10 with P3's beta)."""

    beta: float = Field(6.0, ge=0, description="weight of the KL robustness term (P0: 5; P3: 6 and 10000)")
    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model of the inner maximisation")
    eps: Eps = Field(Eps("8/255"), description="radius of the ball; '8/255' accepted")
    steps: Steps = Field(10, description="PGD steps on the KL (P3: 7)")
    step_size: Optional[float] = Field(2 / 255, gt=0, description="PGD step; None = 2.5 * eps / steps")
    init_std: float = Field(0.001, ge=0, description="std of the Gaussian start x + init_std * N(0, I)")

    def absolute_step(self) -> float:
        """``step_size``, or Madry et al.'s ``2.5 * eps / steps`` when it is None."""
        return float(self.step_size) if self.step_size is not None else madry_step_size(self.eps, self.steps)

    def step_budgets(self) -> list[StepBudget]:
        """The inner maximisation's steps, step length and start (the plan's eps-reachability check); its
        start ``x + init_std * N(0, I)`` stays next to ``x``, so it counts as no random start. None at beta 0."""
        if self.beta == 0:
            return []
        return [StepBudget(self.norm, float(self.eps), self.steps, self.absolute_step(), False,
                           "inner KL maximisation of training")]


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Per-example ``KL(softmax(logits_p) || softmax(logits_q))``, shape (N,), from log-softmaxes."""
    log_p = F.log_softmax(logits_p, dim=1)
    log_q = F.log_softmax(logits_q, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def trades_objective(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                     beta: float) -> torch.Tensor:
    """``mean CE(f(x), y) + beta * mean KL(f(x) || f(x'))``: the outer loss (reference-code reduction)."""
    return F.cross_entropy(logits_clean, y) + beta * kl_divergence(logits_clean, logits_adv).mean()


def trades_inner_max(model: nn.Module, x: torch.Tensor, threat: ThreatModel, *, steps: int, step_size: float,
                     init_std: float, generator: torch.Generator) -> torch.Tensor:
    """``x'`` (N, C, H, W) approximately maximising ``KL(f(x) || f(x'))`` over the ball; model used as is.

    Start ``P(x + init_std * N(0, I))`` (noise drawn from ``generator``), then ``steps`` PGD steps
    ``x' <- P(x' + step_size * argmax_{||u|| <= 1} <u, grad_x' KL>)`` with ``f(x)`` fixed. Gradients
    are taken w.r.t. the input only, so parameter ``.grad`` is untouched.
    """
    x = x.detach()
    with torch.no_grad():
        p_logits = model(x)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    x_adv = threat.project(x + init_std * noise, x)
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        kl = kl_divergence(p_logits, model(x_adv)).sum()
        (grad,) = torch.autograd.grad(kl, x_adv)
        x_adv = threat.project(x_adv.detach() + step_size * steepest_direction(grad, threat.norm), x)
    return x_adv.detach()


def trades_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext,
                config: TRADESConfig) -> torch.Tensor:
    """The TRADES training loss of one minibatch (inner maximisation in eval mode, restored after)."""
    if config.beta == 0:
        return F.cross_entropy(model(x), y)
    with eval_mode(model):
        x_adv = trades_inner_max(model, x, config.threat(), steps=config.steps, step_size=config.absolute_step(),
                                 init_std=config.init_std, generator=ctx.generator)
    return trades_objective(model(x), model(x_adv), y, config.beta)


class TRADES(Defense):
    """TRADES adversarial training with the suite's optimizer, schedule and budget.

    Args:
        config: :class:`TRADESConfig` — beta=6, norm="Linf", eps=8/255, steps=10,
            step_size=2/255 (None: 2.5 * eps / steps), init_std=0.001.
        train: the suite's :class:`bench.api.TrainConfig`.

    Cost: ``steps + 3`` forward and ``steps + 2`` backward passes per example (the outer backward runs
    through both f(x) and f(x')); :meth:`cost`.
    Very large beta (P3: 10000) drives the model towards a constant classifier.
    """

    Config = TRADESConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            return trades_loss(m, x, y, c, config)

        return fit_with_loss(model, data, self.train, ctx, loss_fn)

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch (``bench.api.cost``): beta 0, 1 forward + 1 backward; else the clean
        target f(x) (1 forward, no gradient), ``steps`` forward + backward passes of the KL ascent, and
        the outer loss on x and x' (2 forwards, 2 backwards): ``steps + 3`` forwards, ``steps + 2`` backwards."""
        c = self.config
        per_example = Cost.steps(1) if c.beta == 0 else Cost(c.steps + 3, c.steps + 2)
        return per_example * (self.train.epochs * n_train)
