"""FGSM adversarial training as P1 Appendix B.6 describes it: PGD-AT with PGD replaced by FGSM.

P1 B.6: "All the setting[s] are same with that described in appendix B.1 of PGD, except that we
replace PGD with FGSM (Goodfellow et al., 2015)." So the training loop is P1's PGD-AT loop
(every minibatch replaced by adversarial examples crafted against the current model; the model
never sees the clean batch) and the inner maximisation is one FGSM step from the *clean* point:

    x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))          (Goodfellow et al. 2015)

FGSM has no random start and no step size other than eps; P1 names none. This is
:func:`bench.toolkit.pgd_training_loss` with ``steps = 1``, ``step_size = eps``,
``random_start = False`` (the Linf projection is then the identity), run in eval mode as PGD-AT
is. For ``norm = "L2"`` the step is ``eps * g / ||g||_2`` (the L2 FGM), which P1 does not use.

This is *not* Wong, Rice & Kolter's "fast" FGSM training (uniform random start, step 1.25 eps,
catastrophic-overfitting check): that is ``classics/fast-at``, a different defense.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.eps import Eps
from bench.steps import StepBudget
from bench.threat import ThreatConfig
from bench.toolkit import PGDTrainingConfig, pgd_training_loss


class FGSMATConfig(ThreatConfig):
    """Parameters of :class:`FGSMAT`: the threat model only (FGSM has one step of length eps from x)."""

    norm: Literal["Linf", "L2"] = Field("Linf", description="threat model of the FGSM step (P1: Linf)")
    eps: Eps = Field(Eps("8/255"), description="radius = FGSM step length ('AR strength'; P1: 4, 8, 16 /255)")

    def inner(self) -> PGDTrainingConfig:
        """The inner maximisation as a PGD config: one step of length eps from the clean point."""
        return PGDTrainingConfig(norm=self.norm, eps=self.eps, steps=1, step_size=float(self.eps),
                                 random_start=False)

    def step_budgets(self) -> list[StepBudget]:
        """The FGSM step (the plan's eps-reachability check)."""
        return self.inner().step_budgets()


class FGSMAT(Defense):
    """Adversarial training on single-step FGSM examples from the clean point (P1 B.6).

    Args:
        config: :class:`FGSMATConfig` — norm="Linf", eps=8/255.
        train: the suite's :class:`bench.api.TrainConfig` (P1: as its PGD-AT, B.1 / D.3).

    Cost: 2 forward/backward passes per minibatch.
    """

    Config = FGSMATConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        inner = self.config.inner()

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            return pgd_training_loss(m, x, y, inner, c.generator)

        return fit_with_loss(model, data, self.train, ctx, loss_fn)

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch (``bench.api.cost``): the FGSM step (1 forward + 1 backward) and the loss on the
        adversarial batch (1 forward + 1 backward)."""
        return Cost.steps(2) * (self.train.epochs * n_train)
