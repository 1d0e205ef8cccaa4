"""A test plugin with one defense that wraps the architecture (loaded with ``-p robarena_wrapkit``).

``shifted`` trains ``Shifted(model)``: the model's logits plus a learned per-class shift (pulled
towards unequal values, so it changes predictions), so the trained weights hold ``inner.*`` and
``shift`` and only the wrapped module can load them.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.api import Defense
from bench.api.training import fit_with_loss
from bench.hookspecs import hookimpl
from bench.specs import DefenseSpec


class Shifted(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shift = nn.Parameter(torch.zeros(inner.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + self.shift


class ShiftedERM(Defense):
    def wrap(self, model: nn.Module) -> nn.Module:
        return Shifted(model)

    def fit(self, model, data, ctx):
        def loss(m, x, y, c):  # cross-entropy, and the shift pulled towards 0, 0.2, ..., 1.8
            target = torch.linspace(0, 1.8, m.shift.numel(), device=x.device)
            return nn.functional.cross_entropy(m(x), y) + (m.shift - target).square().sum()

        return fit_with_loss(model, data, self.train, ctx, loss)


@hookimpl
def robarena_defenses():
    return [DefenseSpec(name="shifted", version="1", target="robarena_wrapkit:ShiftedERM")]
