"""The P4 CNN (P4 Appendix F, "Implementation details").

Layers: conv 4x4 stride 2 with 32 filters, batch norm, ReLU; conv 4x4 stride 2 with 64
filters, batch norm, ReLU; flatten; fully connected 512, 256, 128, each followed by ReLU;
the classification head Linear(128, K) (logits; P4's "softmax activation" is the softmax of
the cross-entropy loss). P4 does not state the convolution padding; we use padding 1, the
PyTorch equivalent of TensorFlow's "same" for a 4x4 stride-2 kernel on even sizes
(28 -> 14 -> 7, 8 -> 4 -> 2).

The same layout is the skeleton of the label-hypothesis network (C-JS / C-DV, where the
hypothesis is concatenated after the second convolution) and of the VIB baseline (whose
stochastic layer follows the second fully connected layer): :meth:`GuessFirstCNN.conv_trunk`
and :meth:`GuessFirstCNN.split_after_fc` expose those cut points.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from pydantic import Field, field_validator
from torch import nn

from bench.api import BaseConfig, Classifier
from bench.errors import UsageError


class GuessFirstCNNConfig(BaseConfig):
    channels: tuple[int, int] = Field((32, 64), description="filters of the two convolutions (P4: 32, 64)")
    fc: tuple[int, ...] = Field((512, 256, 128), description="fully connected widths (P4: 512, 256, 128)")
    padding: int = Field(1, ge=0, description="convolution padding (not stated by P4; 1 = 'same' for even sizes)")

    @field_validator("fc")
    @classmethod
    def _two_fc(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) < 2 or min(v) < 1:
            raise ValueError(f"fc needs at least two positive widths (IE and VIB act after the second), got {v}")
        return v

    @field_validator("channels")
    @classmethod
    def _positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError(f"channels must be positive, got {v}")
        return v


KERNEL, STRIDE = 4, 2


def conv_out(size: int, padding: int) -> int:
    """Spatial size after one 4x4 stride-2 convolution."""
    return (size + 2 * padding - KERNEL) // STRIDE + 1


def min_size(padding: int) -> int:
    """Smallest H (or W) that leaves at least one pixel after both convolutions."""
    return next(s for s in range(1, 64) if conv_out(conv_out(s, padding), padding) >= 1)


def fc_stack(widths: Sequence[int], d_in: int) -> nn.Sequential:
    """Linear + ReLU for each width: ``[Linear(d_in, w1), ReLU, Linear(w1, w2), ReLU, ...]``."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(d_in, w), nn.ReLU()]
        d_in = w
    return nn.Sequential(*layers)


class GuessFirstCNN(Classifier):
    """P4's baseline CNN: 2 x (conv 4x4/2, BN, ReLU) + FC 512-256-128 (ReLU) + Linear head.

    Args:
        input_shape: (C, H, W); P4 uses 1-channel 28x28 images, any C works; H, W must
            survive two 4x4 stride-2 convolutions (>= 4 with padding 1; the spec declares 8).
        num_classes: K.
        config: :class:`GuessFirstCNNConfig` (channels (32, 64), fc (512, 256, 128), padding 1).
        mean, std: optional normalization inside the model.

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, fc[-1]).
    """

    Config = GuessFirstCNNConfig

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: Optional[GuessFirstCNNConfig] = None,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None) -> None:
        super().__init__(input_shape, num_classes, config, mean, std)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise UsageError(f"GuessFirstCNN needs input_shape (C, H, W) with positive sizes, got {self.input_shape}")
        c, h, w = self.input_shape
        p = self.config.padding
        oh, ow = conv_out(conv_out(h, p), p), conv_out(conv_out(w, p), p)
        if oh < 1 or ow < 1:
            raise UsageError(f"GuessFirstCNN: input {h}x{w} is too small for two 4x4 stride-2 convolutions "
                             f"with padding {p} (use H, W >= {min_size(p)})")
        c1, c2 = self.config.channels
        self.convs = nn.Sequential(
            nn.Conv2d(c, c1, KERNEL, STRIDE, p), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c2, KERNEL, STRIDE, p), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Flatten(),
        )
        self.conv_dim = c2 * oh * ow
        self.fcs = fc_stack(self.config.fc, self.conv_dim)
        self.head = nn.Linear(self.config.fc[-1], self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.fcs(self.convs(z))

    def conv_trunk(self) -> tuple[nn.Module, int]:
        """The label-free part up to the 2nd convolution: (module on normalized input -> (N, D), D)."""
        return self.convs, self.conv_dim

    def split_after_fc(self, k: int) -> tuple[nn.Module, int, nn.Module]:
        """(encoder: normalized input -> output of the k-th FC layer after ReLU, its width, decoder -> logits)."""
        if not 1 <= k <= len(self.config.fc):
            raise UsageError(f"split_after_fc: k must be in 1..{len(self.config.fc)}, got {k}")
        encoder = nn.Sequential(self.convs, *self.fcs[:2 * k])
        decoder = nn.Sequential(*self.fcs[2 * k:], self.head)
        return encoder, self.config.fc[k - 1], decoder
