"""Model helpers for plugins: evaluation mode for a block, batched gradient-free logits."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from bench.errors import UsageError


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode; afterwards every submodule has its own mode back.

    For inner maximisations during training: the adversary attacks the deterministic function that
    is evaluated, and batch-norm layers neither normalise with nor update their statistics from
    the iterates.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


@torch.no_grad()
def batched_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """Logits (N, K) of ``x`` (N, C, H, W), computed on ``device`` in batches, returned as float32 on the CPU."""
    out = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    if not out:
        raise UsageError("a probe got an empty batch; the evaluation subset needs at least one example")
    return torch.cat(out)
