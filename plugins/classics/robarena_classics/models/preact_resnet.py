"""Pre-activation ResNet-18 for CIFAR-sized images (He et al. 2016b), used by P3.

Papers:
    K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
    (full pre-activation units, Fig. 4e). P3 Sec. 4: "we use a pre-activation ResNet18 and train
    on CIFAR-10".

Layers (``b`` = ``base_width``, 64 by default): a 3x3 stride-1 convolution to b channels (the
CIFAR stem: no BN/ReLU after it, no max-pool); four stages of two pre-activation basic blocks
with b, 2b, 4b, 8b channels, stages 2-4 starting with stride 2; each block computes
``conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut``, where the shortcut is the identity, or,
where the shape changes, a 1x1 convolution applied to ``relu(bn1(x))``; a final BN + ReLU
(He et al. 2016b, after the last addition), a global average pool (the 8b ``features``) and a
linear head. 11.17M parameters for 10 classes, the count usually quoted as 11.2M.

The adaptive average pool makes any input of side >= 8 work (32 -> 4x4 before the pool).
Weights use PyTorch's default initialization, as the CIFAR implementation common in the
adversarial-training literature. Written by hand: torchvision has no pre-activation ResNet and
timm's ``resnetv2`` uses the ImageNet stem.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from bench.api import Classifier
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive


class PreActBlock(nn.Module):
    """Full pre-activation basic block (He et al. 2016b, Fig. 4e)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.projection: Optional[nn.Module] = None
        if stride != 1 or in_channels != out_channels:
            self.projection = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        shortcut = self.projection(pre) if self.projection is not None else x
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNetConfig(NormalizedConfig):
    """Blocks per stage and base width (defaults: ResNet-18)."""

    blocks: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        (2, 2, 2, 2), description="basic blocks per stage (18 layers)")
    base_width: int = Field(64, ge=1, description="channels of the first stage (stages: b, 2b, 4b, 8b)")


class PreActResNet(Classifier):
    """Pre-activation ResNet, by default ResNet-18 (CIFAR stem).

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 8.
        num_classes: K.
        config: :class:`PreActResNetConfig` (``blocks=(2, 2, 2, 2)``, ``base_width=64``, no
            normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, 8 * base_width).
    """

    Config = PreActResNetConfig

    @classmethod
    def smoke_config(cls) -> PreActResNetConfig:
        """Conformance tests: one block per stage, 8 base channels."""
        return cls.Config(blocks=(1, 1, 1, 1), base_width=8)

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 config: Optional[PreActResNetConfig] = None) -> None:
        config = config if config is not None else PreActResNetConfig()
        c, _, _ = check_input("PreActResNet", input_shape, config)
        super().__init__(input_shape, positive(num_classes, "PreActResNet", "num_classes"), config,
                         config.mean, config.std)
        b = config.base_width
        self.stem = nn.Conv2d(c, b, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        in_ch = b
        for stage, count in enumerate(config.blocks):
            out_ch = b * 2 ** stage
            for i in range(count):
                blocks.append(PreActBlock(in_ch, out_ch, 2 if stage > 0 and i == 0 else 1))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.final = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = in_ch
        self.head = nn.Linear(in_ch, self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.final(self.blocks(self.stem(z)))
