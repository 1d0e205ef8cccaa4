"""PGD adversarial training (Madry et al. 2018), Linf and L2.

``min_f E_{(x, y)} [ max_{delta in B_eps} CE(e_y, f(x + delta)) ]`` (P3 Eq. 2.5): every
minibatch is replaced by PGD examples crafted against the current model, and the model
never sees the clean batch. Defaults are P1's (Appendix B.1): Linf, 10 steps of 2/255
with a random start, eps 8/255 (P1 trains with eps in {4, 8, 16}/255).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.toolkit import PGDTrainingConfig, pgd_training_loss


class PGDATConfig(PGDTrainingConfig):
    """Parameters of :class:`PGDAT` (defaults: P1 Appendix B.1): norm, eps, steps, step_size, random_start."""


def adversarial_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext,
                     config: PGDTrainingConfig) -> torch.Tensor:
    """:func:`bench.toolkit.pgd_training_loss` with the defense's generator (inner PGD in eval mode)."""
    return pgd_training_loss(model, x, y, config, ctx.generator)


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

    def cost(self, n_train: int) -> Cost:
        """``steps`` forward + backward passes of the inner PGD (no early stop) and 1 of the training loss,
        per example and epoch (``bench.api.cost``)."""
        return Cost.steps(self.config.steps + 1) * (self.train.epochs * n_train)
