"""One rule for every component call: the model leaves it exactly as it came in.

:func:`preserved_model_state` records, for every submodule, its ``training`` flag and, for every
parameter, its ``requires_grad`` flag and its ``.grad`` (``None`` or the very tensor object),
and restores all of them on exit, also when the body raises. Attacks, probes and tasks run their
``run()`` inside it (see their base classes' ``__call__``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn


@dataclass(frozen=True)
class ModelState:
    """A snapshot of the flags and gradients that components may change (not the weights)."""

    training: tuple[tuple[nn.Module, bool], ...]
    requires_grad: tuple[tuple[nn.Parameter, bool], ...]
    grads: tuple[tuple[nn.Parameter, Optional[torch.Tensor]], ...]

    @classmethod
    def of(cls, model: nn.Module) -> "ModelState":
        params = list(model.parameters())
        return cls(training=tuple((m, m.training) for m in model.modules()),
                   requires_grad=tuple((p, p.requires_grad) for p in params),
                   grads=tuple((p, p.grad) for p in params))

    def restore(self) -> None:
        for module, mode in self.training:
            module.training = mode
        for param, flag in self.requires_grad:
            param.requires_grad_(flag)
        for param, grad in self.grads:
            param.grad = grad


@contextmanager
def preserved_model_state(model: nn.Module, *, eval_mode: bool = True,
                          freeze: bool = False) -> Iterator[nn.Module]:
    """Run the body on ``model`` and put every mode flag, ``requires_grad`` and ``.grad`` back afterwards.

    Inside the body the model is in eval mode (``eval_mode``), its parameters' ``.grad`` are
    ``None`` (the caller's gradients are set aside, so a backward pass in the body neither reads
    nor accumulates into them) and, with ``freeze``, no parameter requires gradients. On exit,
    normal or by an exception, each submodule's ``training``, each parameter's ``requires_grad``
    and its original ``.grad`` object (or ``None``) are restored, whatever the body did.
    Parameter values and buffers are not copied: components must not write to them.
    """
    state = ModelState.of(model)
    try:
        for param, _ in state.grads:
            param.grad = None
        if eval_mode:
            model.eval()
        if freeze:
            for param, _ in state.requires_grad:
                param.requires_grad_(False)
        yield model
    finally:
        state.restore()
