"""SmallCNN: a two-convolution network for small images, fast on a CPU.

Layers (``w`` = ``width`` multiplier): conv3x3(C, 32w) ReLU, conv3x3(32w, 64w) ReLU
(padding 1, stride 1); then, for inputs of height >= 16, a 2x2 max-pool followed by an
adaptive average pool to 2x2, and for smaller inputs (e.g. 8x8 digits) no pooling at all;
flatten, Linear(., 128) ReLU (the ``features``), and the head Linear(128, K).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Classifier
from bench.errors import UsageError

FEATURES = 128
POOL_FROM = 16  # inputs at least this tall get max-pool + adaptive average pool


class SmallCNNConfig(BaseConfig):
    width: int = Field(1, ge=1, description="channel multiplier: convolutions have 32*width and 64*width channels")


class SmallCNN(Classifier):
    """Two 3x3 conv layers (32w, 64w channels) + FC 128 + linear head.

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C; H, W >= 1.
        num_classes: K, the number of logits.
        config: :class:`SmallCNNConfig` (``width=1``).
        mean, std: optional per-channel normalization inside the model.

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` (N, C, H, W) -> (N, 128).
    """

    Config = SmallCNNConfig

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: Optional[SmallCNNConfig] = None,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None) -> None:
        super().__init__(input_shape, num_classes, config, mean, std)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise UsageError(f"SmallCNN needs input_shape (C, H, W) with positive sizes, got {self.input_shape}")
        c, h, w = self.input_shape
        c1, c2 = 32 * self.config.width, 64 * self.config.width
        layers: list[nn.Module] = [
            nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
        ]
        if h >= POOL_FROM:
            layers += [nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((2, 2))]
            flat = c2 * 4
        else:
            flat = c2 * h * w
        layers += [nn.Flatten(), nn.Linear(flat, FEATURES), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(FEATURES, self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
