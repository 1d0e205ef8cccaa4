"""Spectral-norm clipping at the end of every epoch (P1 Appendix B.4 and D.3).

P1 controls a network's capacity (its spectral complexity, the product of the layers'
spectral norms, P1 Def. 7) by clipping every layer's spectral norm to a bound in
{1, 3, 5, uncontrolled} at the end of each epoch, following Sedghi et al. (2018), and trains
with PGD adversarial training at eps in {4, 8, 16}/255. Here:

* the base training is PGD-AT (:func:`bench.toolkit.pgd_training_loss`, the loss of classics'
  ``pgd-at``: P1's 10 steps of 2/255 at eps 8/255 by default) or standard cross-entropy
  (:func:`bench.toolkit.cross_entropy_loss`, ``base="standard"``);
* after every epoch each ``Conv2d`` is clipped as an operator on its input grid
  (:func:`robarena_margins.spectral.clip_conv_weight`, see that module for zero padding and
  strides) and each ``Linear`` by its SVD; ``bound=None`` is P1's "uncontrolled" row (no clip);
* biases, batch-norm scales, the input normalisation and convolutions the forward pass does
  not use are not controlled (P1 uses ResNets without batch norm, Fixup-initialised, for this
  experiment); the names of such modules with parameters are logged as ``uncontrolled_layers``;
* ``ctx.log["spectral_norms"]`` holds every layer's largest singular value before each clip.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Cost, Defense, DatasetSplits, TrainContext
from bench.api.training import fit_with_loss
from bench.steps import StepBudget
from bench.toolkit import PGDTrainingConfig, cross_entropy_loss, pgd_training_loss
from robarena_margins.spectral import clip_model, conv_input_sizes, layer_spectral_norms

#: P1 Table 6's bounds (None = "SP uncontrolled").
P1_BOUNDS = (1.0, 3.0, 5.0, None)


class SpectralClipConfig(PGDTrainingConfig):
    """Parameters of :class:`SpectralClip`: the bound, the base training and PGD-AT's parameters.

    The PGD fields (norm, eps, steps, step_size, random_start; P1 defaults) apply when
    ``base="pgd-at"`` and are ignored for ``base="standard"``.
    """

    bound: Optional[float] = Field(1.0, gt=0, description="spectral-norm bound per layer; None = uncontrolled")
    base: Literal["pgd-at", "standard"] = Field("pgd-at", description="training loss between the clips")
    grid: Literal["input", "padded"] = Field("input", description="conv operator grid for zero padding "
                                             "(see robarena_margins.spectral)")

    def step_budgets(self) -> list[StepBudget]:
        """PGD-AT's inner PGD when ``base="pgd-at"``; none for standard training (the plan's reach check)."""
        return super().step_budgets() if self.base == "pgd-at" else []


def _uncontrolled(model: nn.Module, sizes: dict[str, tuple[int, int]]) -> list[str]:
    """Modules with their own parameters that are not clipped (batch norm, unused convolutions, ...)."""
    return [name for name, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))
            and not isinstance(m, nn.Linear) and not (isinstance(m, nn.Conv2d) and name in sizes)]


class SpectralClip(Defense):
    """PGD-AT (or standard training) with every layer's spectral norm clipped after each epoch.

    Args:
        config: :class:`SpectralClipConfig` — bound=1.0, base="pgd-at", grid="input", and
            PGD-AT's norm="Linf", eps=8/255, steps=10, step_size=2/255, random_start=True.
        train: the suite's :class:`bench.api.TrainConfig` (P1 D.3: batch 256, 200 epochs,
            lr 0.05 divided by 10 at epochs 100 and 150, momentum 0.9).
    """

    Config = SpectralClipConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        config = self.config
        sizes = conv_input_sizes(model, data.x_train[:1].to(ctx.device))
        ctx.log["spectral_norms"] = {}  # per epoch, saved with each epoch checkpoint (complete after a resume)

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            if config.base == "standard":
                return cross_entropy_loss(m, x, y, c)
            return pgd_training_loss(m, x, y, config, c.generator)

        def after_epoch(m: nn.Module, epoch: int) -> None:
            norms = layer_spectral_norms(m, sizes, config.grid)
            for name, value in norms.items():
                ctx.log["spectral_norms"].setdefault(name, []).append(value)
            if config.bound is not None:
                clip_model(m, config.bound, sizes, config.grid, norms)

        model = fit_with_loss(model, data, self.train, ctx, loss_fn, after_epoch=after_epoch)
        ctx.log["uncontrolled_layers"] = _uncontrolled(model, sizes)
        return model

    def cost(self, n_train: int) -> Cost:
        """Per example and epoch (``bench.api.cost``): PGD-AT's ``steps`` forward + backward passes of the inner
        PGD (no early stop) and 1 of the loss, or 1 for ``base="standard"``; plus one forward of one training
        example, once, for the convolutions' input grids. The clipping after each epoch works on the weights
        (FFTs and SVDs): no passes."""
        per = 1 if self.config.base == "standard" else self.config.steps + 1
        return Cost.steps(per) * (self.train.epochs * n_train) + Cost(1, 0)
