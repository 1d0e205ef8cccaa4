"""Standard training: minimise the cross-entropy of clean examples (P3 Eq. 2.4).

``min_f E_{(x, y)} [ CE(e_y, f(x)) ]`` with the suite's optimizer, schedule, augmentation
and epochs (``bench.api.training.fit_with_loss``), shuffling with the defense's generator.
"""
from __future__ import annotations

from torch import nn

from bench.api import BaseConfig, Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.toolkit import cross_entropy_loss


class StandardConfig(BaseConfig):
    """No parameters: the training budget comes from the suite's ``[train]`` table."""


class Standard(Defense):
    """Undefended baseline: cross-entropy training on clean data (P3 Eq. 2.4).

    Args:
        config: :class:`StandardConfig` (empty).
        train: the suite's :class:`bench.api.TrainConfig` budget.
    """

    Config = StandardConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        return fit_with_loss(model, data, self.train, ctx, cross_entropy_loss)

    def cost(self, n_train: int) -> Cost:
        """1 forward + 1 backward per example and epoch (``bench.api.cost``)."""
        return Cost.steps(1) * (self.train.epochs * n_train)
