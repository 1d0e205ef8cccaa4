"""CIFAR ResNets (ResNet-20/32/44/56/110, ...) of He et al. (2016), with a width multiplier.

Paper:
    K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
    Sec. 4.2 (the CIFAR-10 networks). Used by P0 (ResNet-20 x1, ResNet-32 x10: "a resnet32
    model with 10x more channels") and P1 (ResNet-56, ResNet-110).

Layers (``n = (depth - 2) / 6``, ``w`` = ``width``): a 3x3 convolution to 16w channels, BN,
ReLU; three stages of ``n`` basic blocks (two 3x3 convolutions with BN, ReLU after the first
and after the addition) with 16w, 32w and 64w channels, the first block of stages 2 and 3
subsampling by stride 2; a global average pool (the 64w ``features``) and a linear head.
Depth counts the 6n convolutions, the stem and the head: 6n + 2.

Shortcuts: option A by default, as the paper uses on CIFAR ("identity shortcuts in all cases,
i.e., option A"): a parameter-free shortcut that subsamples by 2 and zero-pads the new
channels, so ResNet-20 has 0.27M and ResNet-110 1.7M parameters (paper Table 6). Option B
uses a 1x1 convolution + BN projection where the shape changes.

The global average pool is adaptive, so any input of side >= 8 works (32 -> 8x8 before the
pool, 8 -> 2x2, 64 -> 16x16). Initialization: He (Kaiming) normal, std sqrt(2 / fan_in), for
the convolutions and the head (bias 0), BN weights 1 and biases 0 (the paper initializes "as
in [He et al. 2015]").

Written by hand: torchvision's ResNets are the ImageNet family (7x7 stem, four stages).
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from bench.api import Classifier
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive

STAGE_CHANNELS = (16, 32, 64)


def blocks_per_stage(depth: int) -> int:
    """``n`` with ``depth = 6 n + 2``; raises for depths the CIFAR family does not have."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


class ShortcutA(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel and zero-pad the extra channels.

    ``(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))``, the same size a 3x3
    convolution with padding 1 and this stride produces. The padding is split evenly around the
    input channels (as the common CIFAR implementations do). No parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad != (0, 0):
            x = F.pad(x, (0, 0, 0, 0, *self.pad))
        return x


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` (He et al. 2016, Fig. 2)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ShortcutA(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNetConfig(NormalizedConfig):
    """Depth 6n + 2, width multiplier and shortcut type."""

    depth: int = Field(20, description="6n + 2: 20, 32, 44, 56, 110, ... (P0: 20 and 32; P1: 56 and 110)")
    width: int = Field(1, ge=1, description="channel multiplier: stages have 16w, 32w, 64w channels (P0: 1 and 10)")
    shortcut: Literal["A", "B"] = Field("A", description="A: subsample + zero-pad (the paper's CIFAR choice); "
                                                         "B: 1x1 conv + BN projection where the shape changes")

    @field_validator("depth")
    @classmethod
    def _check_depth(cls, v: int) -> int:
        blocks_per_stage(v)
        return v


class CifarResNet(Classifier):
    """He et al. (2016) CIFAR ResNet of depth 6n + 2 and width multiplier w.

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 8.
        num_classes: K.
        config: :class:`CifarResNetConfig` (``depth=20``, ``width=1``, ``shortcut="A"``, no
            normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, 64 * width).
    """

    Config = CifarResNetConfig

    @classmethod
    def smoke_config(cls) -> CifarResNetConfig:
        """Conformance tests: ResNet-8."""
        return cls.Config(depth=8)

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 config: Optional[CifarResNetConfig] = None) -> None:
        config = config if config is not None else CifarResNetConfig()
        c, _, _ = check_input("CifarResNet", input_shape, config)
        super().__init__(input_shape, positive(num_classes, "CifarResNet", "num_classes"), config,
                         config.mean, config.std)
        n, w = blocks_per_stage(config.depth), config.width
        widths = [ch * w for ch in STAGE_CHANNELS]
        self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        in_ch = widths[0]
        for stage, out_ch in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_ch, out_ch, stride, config.shortcut))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = in_ch
        self.head = nn.Linear(in_ch, self.num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(z)))
