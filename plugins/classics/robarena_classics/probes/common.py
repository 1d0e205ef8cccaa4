"""Helpers shared by the probes (batched logits are :func:`bench.toolkit.batched_logits`)."""
from __future__ import annotations

from typing import Optional

import torch


def first(x: Optional[torch.Tensor], y: Optional[torch.Tensor], n: Optional[int]):
    """The first ``n`` examples of (x, y) (all when ``n`` is None)."""
    if x is None or y is None or n is None:
        return x, y
    return x[:n], y[:n]
