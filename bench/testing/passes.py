"""Count a model's example passes, the unit of :class:`bench.api.Cost` (``robarena run --dry-run``).

A forward hook on the top module adds the batch size of every call to ``forward``; when the
output takes part in autograd, a hook on it adds the batch size again to ``backward`` each time a
gradient flows back through that call (an input gradient and a parameter gradient count alike,
and a backward through the same output reached by two losses counts once, as in ``Cost``).
Submodules called on their own (a probe reading one layer) are not counted. Use it to pin a
component's declared ``cost`` against what it actually does::

    with PassCounter(model) as counted:
        attack.run(model, x, y, threat)
    assert counted.cost == attack.cost(threat) * len(x)   # no early stop in this setting
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.api.cost import Cost


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    if isinstance(output, dict):
        return next((o for o in output.values() if isinstance(o, torch.Tensor)), None)
    return None


class PassCounter:
    """Forward and backward example passes of ``model`` while the counter is attached.

    Args:
        model: the network whose top-level calls are counted (not wrapped: names and
            submodules stay as they are).
    Attributes:
        forward, backward: example passes so far; ``cost`` gives them as a :class:`Cost`.
    """

    def __init__(self, model: nn.Module) -> None:
        self.forward = 0
        self.backward = 0
        self._handle = model.register_forward_hook(self._on_forward)

    def _on_forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        out = _first_tensor(output)
        if out is None or out.dim() == 0:
            return
        n = int(out.shape[0])
        self.forward += n
        if out.requires_grad:
            out.register_hook(lambda grad, n=n: self._on_backward(n))

    def _on_backward(self, n: int) -> None:
        self.backward += n

    @property
    def cost(self) -> Cost:
        return Cost(float(self.forward), float(self.backward))

    def remove(self) -> None:
        """Detach the hook (the counts stay readable)."""
        self._handle.remove()

    def __enter__(self) -> "PassCounter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
