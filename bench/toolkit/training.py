"""Training losses for defenses: clean cross-entropy and PGD adversarial training's loss (P3 Eq. 2.4, 2.5).

``PGDTrainingConfig`` holds the inner maximisation's parameters (P1 Appendix B.1 defaults:
Linf, eps 8/255, 10 steps of 2/255, random start); defenses that train on PGD examples
subclass it (classics' PGD-AT, margins' spectral clipping) so that the fields, their checks and
their cache keys are the same everywhere.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.eps import Eps
from bench.steps import StepBudget, Steps
from bench.threat import ThreatConfig
from bench.toolkit.gradients import madry_step_size, pgd_steps
from bench.toolkit.models import eval_mode


class PGDTrainingConfig(ThreatConfig):
    """The inner PGD of adversarial training (defaults: P1 Appendix B.1)."""

    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model of the inner maximisation")
    eps: Eps = Field(Eps("8/255"), description="radius of the training ball ('AR strength'); '8/255' accepted")
    steps: Steps = Field(10, description="PGD steps of the inner maximisation (P1: 10)")
    step_size: Optional[float] = Field(2 / 255, gt=0, description="PGD step (P1: 2/255); None = 2.5 * eps / steps")
    random_start: bool = Field(True, description="start each inner maximisation uniformly in the ball")

    def absolute_step(self) -> float:
        """``step_size``, or Madry et al.'s ``2.5 * eps / steps`` when it is None."""
        return float(self.step_size) if self.step_size is not None else madry_step_size(self.eps, self.steps)

    def step_budgets(self) -> list[StepBudget]:
        """The inner PGD's steps, step length and start (the plan's eps-reachability check)."""
        return [StepBudget(self.norm, float(self.eps), self.steps, self.absolute_step(), self.random_start,
                           "inner PGD of training")]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: object = None) -> torch.Tensor:
    """Mean cross-entropy of the clean batch (standard training; ``ctx`` is unused)."""
    return F.cross_entropy(model(x), y)


def pgd_training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: PGDTrainingConfig,
                      generator: torch.Generator) -> torch.Tensor:
    """Mean CE of PGD examples crafted against ``model`` (the outer-minimisation loss, P3 Eq. 2.5).

    The inner maximisation runs in eval mode (:func:`~bench.toolkit.models.eval_mode`, every
    submodule's mode restored after); the final loss is computed in the caller's mode (train mode
    during training). Gradients of the inner loop are taken w.r.t. the input only, so parameter
    ``.grad`` stays clean; random starts are drawn from ``generator``; all steps run (no early stop).
    """
    with eval_mode(model):
        x_adv = pgd_steps(model, x, y, config.threat(), steps=config.steps, step_size=config.absolute_step(),
                          loss="ce", random_init=config.random_start, generator=generator, early_stop=False)
    return F.cross_entropy(model(x_adv), y)
