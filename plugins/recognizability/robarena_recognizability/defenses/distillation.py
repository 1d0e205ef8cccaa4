"""Defensive distillation (Papernot et al. 2016), as P3 uses it.

1. A teacher (a fresh, seeded instance of the cell's architecture, ``ctx.build_model()``) is
   trained on hard labels with its softmax at temperature ``tau``: ``CE(softmax(g(x) / tau), y)``.
2. The student (the returned model) is trained on the teacher's soft labels at the same
   temperature: ``-sum_k softmax(g(x) / tau)_k log softmax(f(x) / tau)_k`` (P3 Sec. 2.1.2).
3. At test time the student runs at temperature 1: its logits are ``f(x)``, so the deployed
   model has the bare architecture's structure (no :meth:`Defense.wrap`).

P3 Sec. 4.1: tau = 100 for both. Teacher and student get the suite's training budget each.
Soft labels are computed per minibatch (so they follow any augmentation) by the teacher in
eval mode without gradients. The teacher's epochs are not checkpointed (an interrupted run
retrains it deterministically); its per-epoch losses are logged as ``teacher_train_loss``.

Distillation is known not to be robust (Carlini & Wagner 2016): the large student logits
saturate the softmax at temperature 1, which masks cross-entropy gradients; attack it with
a margin (CW) loss.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.errors import UsageError


class DistillationConfig(BaseConfig):
    """Parameters of :class:`DefensiveDistillation` (default: P3's tau = 100)."""

    temperature: float = Field(100.0, gt=0, description="softmax temperature of teacher and distillation")


def soft_labels(teacher: nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(teacher(x) / tau)`` (N, K), without gradients (the teacher is used as is)."""
    with torch.no_grad():
        return F.softmax(teacher(x) / temperature, dim=1)


def distillation_loss(student_logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean soft cross-entropy ``-sum_k soft_k log softmax(z / tau)_k`` over the batch."""
    return -(soft * F.log_softmax(student_logits / temperature, dim=1)).sum(dim=1).mean()


class DefensiveDistillation(Defense):
    """Teacher at temperature tau, student distilled on its soft labels at tau, deployed at 1.

    Args:
        config: :class:`DistillationConfig` — temperature=100.
        train: the suite's :class:`bench.api.TrainConfig` (used for teacher and student).

    Cost: two standard trainings plus a teacher forward pass per student example (:meth:`cost`).
    """

    Config = DistillationConfig

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch of each of the two trainings (``bench.api.cost``; teacher and student have the
        architecture and budget of the cell): the teacher's training (1 forward + 1 backward), the student's
        (1 forward + 1 backward) and the teacher's soft labels for the student (1 forward, no gradient):
        3 forwards + 2 backwards."""
        return Cost(3.0, 2.0) * (self.train.epochs * n_train)

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        if ctx.build_model is None:
            raise UsageError("defensive distillation builds its teacher with ctx.build_model; call the defense "
                             "(defense(build_model, data, ctx)) rather than fit() directly, or set ctx.build_model")
        tau = self.config.temperature
        teacher = ctx.build_model().to(ctx.device)
        teacher_ctx = dataclasses.replace(ctx, save_epoch=None, load_epoch=None, log={},
                                          description=f"{ctx.description} (teacher)")
        fit_with_loss(teacher, data, self.train, teacher_ctx, lambda m, x, y, c: F.cross_entropy(m(x) / tau, y))
        teacher.eval()
        ctx.log["teacher_train_loss"] = teacher_ctx.log.get("train_loss", [])

        def student_loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            return distillation_loss(m(x), soft_labels(teacher, x, tau), tau)

        return fit_with_loss(model, data, self.train, ctx, student_loss)
