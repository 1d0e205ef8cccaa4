"""PGD adversarial training (Madry et al. 2018), Linf and L2.

``min_f E_{(x, y)} [ max_{delta in B_eps} CE(e_y, f(x + delta)) ]`` (P3 Eq. 2.5): every
minibatch is replaced by PGD examples crafted against the current model, and the model
never sees the clean batch. Defaults are P1's (Appendix B.1): Linf, 10 steps of 2/255
with a random start, eps 8/255 (P1 trains with eps in {4, 8, 16}/255).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from bench.api import BaseConfig, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.threat import ThreatModel, parse_eps
from robarena_classics.attacks.core import pgd_steps


class InnerAttackConfig(BaseConfig):
    """Shared behaviour of configs with an inner PGD (fields norm, eps, steps, step_size)."""

    @field_validator("eps", mode="before", check_fields=False)
    @classmethod
    def _parse_eps(cls, v: Any) -> Any:
        return parse_eps(v)[0] if isinstance(v, str) else v

    def threat(self) -> ThreatModel:
        return ThreatModel(norm=self.norm, eps=self.eps)

    def absolute_step(self) -> float:
        return float(self.step_size) if self.step_size is not None else 2.5 * self.eps / self.steps


class PGDATConfig(InnerAttackConfig):
    """Parameters of :class:`PGDAT` (defaults: P1 Appendix B.1)."""

    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model of the inner maximisation")
    eps: float = Field(8 / 255, ge=0, description="radius of the training ball ('AR strength'); '8/255' accepted")
    steps: int = Field(10, ge=1, description="PGD steps of the inner maximisation (P1: 10)")
    step_size: Optional[float] = Field(2 / 255, gt=0, description="PGD step (P1: 2/255); None = 2.5 * eps / steps")
    random_start: bool = Field(True, description="start each inner maximisation uniformly in the ball")



def adversarial_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext,
                     config: PGDATConfig) -> torch.Tensor:
    """Mean CE of PGD examples crafted against ``model`` (the outer-minimisation loss).

    The inner maximisation runs with the model in **eval mode** (restored afterwards):
    the adversary attacks the same deterministic function that is evaluated, and layers
    with batch statistics (BatchNorm) neither normalise with nor update their running
    estimates from the intermediate PGD iterates. The final loss is computed in the
    caller's mode (train mode during training). Gradients of the inner loop are taken
    w.r.t. the input only (``torch.autograd.grad``), so parameter ``.grad`` stays clean;
    random starts are drawn from ``ctx.generator``; no early stopping (all steps run).
    """
    was_training = model.training
    model.eval()
    try:
        x_adv = pgd_steps(model, x, y, config.threat(), steps=config.steps, step_size=config.absolute_step(),
                          loss="ce", random_init=config.random_start, generator=ctx.generator, early_stop=False)
    finally:
        model.train(was_training)
    return F.cross_entropy(model(x_adv), y)


class PGDAT(Defense):
    """Madry PGD adversarial training with the suite's optimizer, schedule and budget.

    Args:
        config: :class:`PGDATConfig` — norm="Linf", eps=8/255, steps=10, step_size=2/255
            (None: 2.5 * eps / steps, e.g. for L2), random_start=True.
        train: the suite's :class:`bench.api.TrainConfig`.

    Cost: ``steps + 1`` forward/backward passes per minibatch.
    """

    Config = PGDATConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            return adversarial_loss(m, x, y, c, config)

        return fit_with_loss(model, data, self.train, ctx, loss_fn)
