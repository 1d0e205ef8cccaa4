"""Wide ResNet-50-2 (bottleneck) for 56x56 / 64x64 inputs, as P1 trains on Tiny-ImageNet.

Papers:
    S. Zagoruyko, N. Komodakis, "Wide Residual Networks", BMVC 2016 (WRN-50-2-bottleneck).
    P1 Appendix D.2: "50-layered wide residual networks with 4 groups of residual layers and
    [3, 4, 6, 3] bottleneck residual units ... The 3x3 filter of the bottleneck residual units
    have [64k, 128k, 256k, 512k] feature maps with the widen factor k = 2 ... We replace the first
    7x7 convolution layer with 3x3 filters with stride 1 and padding 1. The max pooling layer
    after the first convolutional layer is also removed to fit the 56x56 input size. Batch
    normalization layers are retained ... The weights of convolution layers ... are initialized
    with Xavier uniform ... all dropout layers are omitted."

Built on torchvision's ImageNet ResNet (``ResNet(Bottleneck, [3, 4, 6, 3],
width_per_group=128)``, which is exactly ``torchvision.models.wide_resnet50_2``): its stem
convolution is replaced by a 3x3 stride-1 convolution from the input's C channels to 64, and its
max-pool by the identity. The head is torchvision's final ``fc`` (2048 -> K); ``features`` are
the 2048 globally average-pooled channels. Any input of side >= 8 works (56 -> 7x7 before the
pool). 68.88M parameters for 1000 classes (torchvision's 68,883,240 minus the 7,680 the smaller
stem saves); 67.24M for Tiny-ImageNet's 200 classes.
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
from pydantic import Field, PositiveInt
from torch import nn

from bench.api import Classifier
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive


class WideResNetConfig(NormalizedConfig):
    """Bottleneck counts, bottleneck width and convolution initialization (defaults: WRN-50-2, P1)."""

    blocks: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        (3, 4, 6, 3), description="bottleneck units per group (50 layers)")
    width_per_group: PositiveInt = Field(
        128, description="3x3 width of the first group's bottlenecks: 64 * k, k = 2 for WRN-50-2")
    init: Literal["xavier_uniform", "kaiming_normal"] = Field(
        "xavier_uniform", description="convolution weights: Xavier uniform (P1 D.2) or torchvision's He normal")


class WideResNet(Classifier):
    """WRN-50-2-bottleneck with a 3x3 stride-1 stem and no max-pool (P1's Tiny-ImageNet model).

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 8 (P1: 3x56x56).
        num_classes: K (Tiny-ImageNet: 200).
        config: :class:`WideResNetConfig` (``blocks=(3, 4, 6, 3)``, ``width_per_group=128``,
            ``init="xavier_uniform"``, no normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, 2048).
    """

    Config = WideResNetConfig

    @classmethod
    def smoke_config(cls) -> WideResNetConfig:
        """Conformance tests: one block per stage, 8 channels per group."""
        return cls.Config(blocks=(1, 1, 1, 1), width_per_group=8)

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 config: Optional[WideResNetConfig] = None) -> None:
        from torchvision.models.resnet import Bottleneck, ResNet

        config = config if config is not None else WideResNetConfig()
        c, _, _ = check_input("WideResNet", input_shape, config)
        super().__init__(input_shape, positive(num_classes, "WideResNet", "num_classes"), config,
                         config.mean, config.std)
        net = ResNet(Bottleneck, list(config.blocks), num_classes=self.num_classes,
                     width_per_group=config.width_per_group)
        net.conv1 = nn.Conv2d(c, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                if config.init == "xavier_uniform":
                    nn.init.xavier_uniform_(m.weight)
                else:
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.head = net.fc
        net.fc = nn.Identity()
        self.net = net
        self.feature_dim = self.head.in_features

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
