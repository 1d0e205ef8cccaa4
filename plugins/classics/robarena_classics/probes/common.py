"""Helpers shared by the probes: batched, gradient-free logits."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from bench.errors import UsageError


@torch.no_grad()
def batched_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """Logits (N, K) of ``x`` (N, C, H, W), computed on ``device`` in batches, returned on the CPU."""
    out = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    if not out:
        raise UsageError("a probe got an empty batch; the evaluation subset needs at least one example")
    return torch.cat(out)


def first(x: Optional[torch.Tensor], y: Optional[torch.Tensor], n: Optional[int]):
    """The first ``n`` examples of (x, y) (all when ``n`` is None)."""
    if x is None or y is None or n is None:
        return x, y
    return x[:n], y[:n]
