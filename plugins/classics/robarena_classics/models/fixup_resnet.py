"""Fixup CIFAR ResNet: the He et al. CIFAR ResNet without batch norm, trained via Fixup init.

Papers:
    H. Zhang, Y. N. Dauphin, T. Ma, "Fixup Initialization: Residual Learning Without
    Normalization", ICLR 2019, Sec. 3. P1 Appendix D.3 (spectral-norm experiments of B.4, and by
    D.2 also its CIFAR ResNet-56/110 models): "we use ResNet without additional batch
    normalization (BN) layers ... we rely on the fixup initialization ... The scalar layers in
    Zhang et al. (2018) are also omitted, since it changes spectral norms of layers."

Architecture: as :mod:`.resnet_cifar` (3x3 stem to 16w channels + ReLU; three stages of
``n = (depth - 2) / 6`` basic blocks with 16w, 32w, 64w channels; option-A parameter-free
shortcuts, as the Fixup reference CIFAR code; global average pool; linear head) with every BN
removed and the convolutions bias-free. A block computes ``relu(conv2(relu(conv1(x))) +
shortcut(x))``.

Fixup initialization (paper Sec. 3, with L = 3n residual branches of m = 2 layers):
    1. the classification layer (weight and bias) and the last convolution of every residual
       branch are initialized to 0, so at initialization every block outputs
       ``relu(shortcut(x))`` and the logits are 0;
    2. the other branch convolutions are He normal (std sqrt(2 / fan_out), as the reference
       code) scaled by ``L ** (-1 / (2m - 2)) = L ** -0.5``; the stem is He normal unscaled;
    3. the scalar multiplier (init 1) per branch and the scalar biases (init 0) before every
       convolution, activation and the head are *omitted* by default (``scalars=False``, P1
       D.3: they change the layers' spectral norms); ``scalars=True`` restores them.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from bench.api import Classifier
from robarena_classics.models.resnet_cifar import STAGE_CHANNELS, ShortcutA, blocks_per_stage
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive


def _scalar(value: float) -> nn.Parameter:
    return nn.Parameter(torch.full((1,), float(value)))


class FixupBlock(nn.Module):
    """Basic block without normalization; with ``scalars`` the Fixup biases and multiplier."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, scalars: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        identity = stride == 1 and in_channels == out_channels
        self.shortcut = nn.Identity() if identity else ShortcutA(in_channels, out_channels, stride)
        self.scalars = scalars
        if scalars:
            self.bias1a, self.bias1b, self.bias2a, self.bias2b = (_scalar(0) for _ in range(4))
            self.scale = _scalar(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.scalars:
            return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))
        x = x + self.bias1a
        out = F.relu(self.conv1(x) + self.bias1b)
        out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
        return F.relu(out + self.shortcut(x))


class FixupResNetConfig(NormalizedConfig):
    """Depth 6n + 2, width multiplier, and whether to keep Fixup's scalar layers."""

    depth: int = Field(56, description="6n + 2 (P1 B.4 / D.3: ResNet-56)")
    width: int = Field(1, ge=1, description="channel multiplier: stages have 16w, 32w, 64w channels")
    scalars: bool = Field(False, description="add Fixup's scalar biases and multipliers (P1 D.3 omits them)")

    @field_validator("depth")
    @classmethod
    def _check_depth(cls, v: int) -> int:
        blocks_per_stage(v)
        return v


class FixupResNet(Classifier):
    """CIFAR ResNet of depth 6n + 2 without batch norm, Fixup-initialized (P1 D.3).

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 8.
        num_classes: K.
        config: :class:`FixupResNetConfig` (``depth=56``, ``width=1``, ``scalars=False``, no
            normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, 64 * width).
    """

    Config = FixupResNetConfig

    @classmethod
    def smoke_config(cls) -> FixupResNetConfig:
        """Conformance tests: ResNet-8."""
        return cls.Config(depth=8)

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 config: Optional[FixupResNetConfig] = None) -> None:
        config = config if config is not None else FixupResNetConfig()
        c, _, _ = check_input("FixupResNet", input_shape, config)
        super().__init__(input_shape, positive(num_classes, "FixupResNet", "num_classes"), config,
                         config.mean, config.std)
        n, w = blocks_per_stage(config.depth), config.width
        widths = [ch * w for ch in STAGE_CHANNELS]
        self.stem = nn.Conv2d(c, widths[0], 3, padding=1, bias=False)
        blocks: list[FixupBlock] = []
        in_ch = widths[0]
        for stage, out_ch in enumerate(widths):
            for i in range(n):
                blocks.append(FixupBlock(in_ch, out_ch, 2 if stage > 0 and i == 0 else 1, config.scalars))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        if config.scalars:
            self.bias1, self.bias2 = _scalar(0), _scalar(0)
        self.feature_dim = in_ch
        self.head = nn.Linear(in_ch, self.num_classes)
        self.branch_scale = len(blocks) ** -0.5  # L^(-1/(2m-2)) with m = 2
        nn.init.kaiming_normal_(self.stem.weight, mode="fan_out", nonlinearity="relu")
        for block in blocks:
            fan_out = block.conv1.weight.shape[0] * math.prod(block.conv1.weight.shape[2:])
            nn.init.normal_(block.conv1.weight, 0.0, math.sqrt(2.0 / fan_out) * self.branch_scale)
            nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        out = self.stem(z)
        out = F.relu(out + self.bias1) if self.config.scalars else F.relu(out)
        out = self.pool(self.blocks(out))
        return out + self.bias2 if self.config.scalars else out
