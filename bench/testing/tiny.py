"""Tiny in-code models and batches (no downloads) for tests."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from bench.api.model import Classifier


class TinyLinear(Classifier):
    """Affine classifier ``W x + b`` on flattened [0, 1] inputs; features are the flattened input."""

    def __init__(self, input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10, config=None,
                 seed: int = 0) -> None:
        super().__init__(input_shape, num_classes, config)
        d = 1
        for s in input_shape:
            d *= int(s)
        gen = torch.Generator().manual_seed(seed)
        self.head = nn.Linear(d, num_classes)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(num_classes, d, generator=gen) / d ** 0.5)
            self.head.bias.copy_(torch.randn(num_classes, generator=gen) * 0.1)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return z.flatten(1)


class TinyConv(Classifier):
    """One conv layer + linear head: a non-linear model with a batch-norm layer (train/eval differ)."""

    def __init__(self, input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10, config=None) -> None:
        super().__init__(input_shape, num_classes, config)
        c = input_shape[0]
        self.body = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


def tiny_batch(shape: Sequence[int] = (1, 8, 8), n: int = 8, num_classes: int = 10,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (n, *shape) uniform in [0, 1] and labels ``y`` (n,), from a private generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=gen), torch.randint(0, num_classes, (n,), generator=gen)
