"""LeNet-5-like CNN: P4's substitute model for black-box transfer attacks.

Papers:
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document
    Recognition", Proc. IEEE 1998 (LeNet-5). P4 Appendix ("Implementation details"): "For the
    substitute model in black-box attacks, we train a LeNet-5-like CNN model on the full training
    set."

Layers: C1 5x5 convolution to 6 channels (padding ``conv1_padding`` = 2, which makes a 28x28
MNIST digit behave as LeNet-5's 32x32 input), activation, 2x2 pool; C3 5x5 convolution to 16
channels (no padding), activation, 2x2 pool; flatten; C5 fully connected to 120, activation;
F6 fully connected to 84, activation (the 84 ``features``); and a linear head to K classes.
"LeNet-5-like" is the modern reading of the 1998 network: ReLU and max pooling by default
(``activation="tanh"``, ``pool="avg"`` give the original's smooth units and subsampling, without
its trainable subsampling coefficients, sparse C3 connections and RBF output layer).

Input size: C3 and the two pools need ``H + 2 p - 4 >= 2`` twice over, i.e. a side of at least
12 with the default padding; 28x28 -> 16x5x5 before C5 (400 inputs, as LeNet-5). Smaller inputs
(the 8x8 digits) raise an error; the spec declares ``min_size=12`` so the planner skips them.
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
from pydantic import Field
from torch import nn

from bench.api import Classifier
from bench.errors import UsageError
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive

#: Smallest input side with the default ``conv1_padding=2``.
MIN_SIZE = 12


def _after_trunk(size: int, padding: int) -> int:
    """Spatial side after C1 (5x5, padding p), pool, C3 (5x5), pool (floor division)."""
    return ((size + 2 * padding - 4) // 2 - 4) // 2


class LeNet5Config(NormalizedConfig):
    """Activation, pooling and first-layer padding."""

    activation: Literal["relu", "tanh"] = Field("relu", description="after every conv and hidden FC layer")
    pool: Literal["max", "avg"] = Field("max", description="2x2 pooling after each convolution")
    conv1_padding: int = Field(2, ge=0, description="zero padding of C1 (2: a 28x28 input acts as LeNet-5's 32x32)")


class LeNet5(Classifier):
    """LeNet-5-like substitute CNN (P4's black-box attacks).

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 12 (with the default
            padding).
        num_classes: K.
        config: :class:`LeNet5Config` (``activation="relu"``, ``pool="max"``,
            ``conv1_padding=2``, no normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, 84).
    """

    Config = LeNet5Config

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: Optional[LeNet5Config] = None) -> None:
        config = config if config is not None else LeNet5Config()
        c, h, w = check_input("LeNet5", input_shape, config, min_size=1)
        super().__init__(input_shape, positive(num_classes, "LeNet5", "num_classes"), config, config.mean, config.std)
        oh, ow = _after_trunk(h, config.conv1_padding), _after_trunk(w, config.conv1_padding)
        if min(oh, ow) < 1:
            raise UsageError(f"LeNet5 with conv1_padding={config.conv1_padding} needs a larger input than {h}x{w}: "
                             f"two 5x5 convolutions and two 2x2 pools leave nothing (a side of {MIN_SIZE} "
                             "works with the default padding)")
        act = nn.ReLU if config.activation == "relu" else nn.Tanh
        pool = nn.MaxPool2d if config.pool == "max" else nn.AvgPool2d
        self.body = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=config.conv1_padding), act(), pool(2),
            nn.Conv2d(6, 16, 5), act(), pool(2),
            nn.Flatten(),
            nn.Linear(16 * oh * ow, 120), act(),
            nn.Linear(120, 84), act(),
        )
        self.feature_dim = 84
        self.head = nn.Linear(84, self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
