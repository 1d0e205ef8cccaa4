"""LinearClassifier: logits = W vec(x) + b, the affine baseline with closed-form attacks.

For an affine model the worst-case Linf perturbation of the margin between classes y and
j is ``-eps * sign(w_y - w_j)`` (L2: ``-eps * (w_y - w_j) / ||w_y - w_j||_2``), which makes
it the reference model for testing attacks against known answers.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from bench.api import BaseConfig, Classifier


class LinearClassifierConfig(BaseConfig):
    """No parameters: flatten and one linear layer."""


class LinearClassifier(Classifier):
    """Flatten -> Linear(C*H*W, K); ``features(x)`` is the flattened (normalized) input.

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs.
        num_classes: K.
        config: :class:`LinearClassifierConfig` (empty).
        mean, std: optional per-channel normalization inside the model.

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, C*H*W).
    """

    Config = LinearClassifierConfig

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 config: Optional[LinearClassifierConfig] = None,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None) -> None:
        super().__init__(input_shape, num_classes, config, mean, std)
        self.head = nn.Linear(math.prod(self.input_shape), self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return z.flatten(1)
