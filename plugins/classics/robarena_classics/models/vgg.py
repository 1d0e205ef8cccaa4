"""VGG13 for CIFAR-sized images, with P0's "normal", "half linear" and "pure linear" variants.

Papers:
    K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", ICLR 2015 (configuration B = VGG13). P0 Sec. 4 / Table 1 trains three variants
    with TRADES on CIFAR-10: "a pure linear VGG13 model without ReLU and with average pooling, a
    half linear VGG13 model without ReLU but using max pooling, a normal VGG 13 model".

Layers (``w`` = ``width``): ten 3x3 convolutions (padding 1) with 64w, 64w | 128w, 128w |
256w, 256w | 512w, 512w | 512w, 512w channels, each followed by batch norm (``batch_norm``)
and, in the ``normal`` variant only, a ReLU; a 2x2 pool (max, or average for ``pure_linear``)
closes each of the five groups; then a global average pool to 1x1 and one linear head on the
512w features (the CIFAR form of VGG, 32 -> 1 after five pools, without the ImageNet 4096-unit
FC layers). On inputs smaller than 32 a group's pool is skipped once the map is 1 pixel high
or wide, and the final adaptive average pool makes any input of side >= 8 work (64x64 ends at
2x2 and is averaged).

``pure_linear`` is an affine function of its input in eval mode (batch norm uses its running
statistics); ``half_linear`` is continuous piecewise affine (max pooling selects one affine
piece per region). Weights use PyTorch's default initialization, as the common CIFAR VGG code.

Written by hand rather than with ``torchvision.models.vgg`` because torchvision hard-wires
ReLU, max pooling and the ImageNet classifier, which are exactly what the variants change.
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
from pydantic import Field
from torch import nn

from bench.api import Classifier
from robarena_classics.models.zoo_common import NormalizedConfig, check_input, positive

#: VGG13 (configuration B): output channels of the convolutions, "M" = pool.
VGG13_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGGConfig(NormalizedConfig):
    """P0's VGG13 variants."""

    variant: Literal["normal", "half_linear", "pure_linear"] = Field(
        "normal", description="normal: ReLU + max pool; half_linear: no ReLU, max pool; "
                              "pure_linear: no ReLU, average pool (P0 Sec. 4)")
    width: float = Field(1.0, gt=0, description="channel multiplier (64w ... 512w channels, rounded, >= 1)")
    batch_norm: bool = Field(True, description="batch norm after every convolution (the common CIFAR VGG)")


class VGG13(Classifier):
    """VGG13 with a variant switch (normal / half linear / pure linear).

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs, any C, H and W >= 8.
        num_classes: K.
        config: :class:`VGGConfig` (``variant="normal"``, ``width=1``, ``batch_norm=True``,
            no normalization).

    Shapes: ``forward`` (N, C, H, W) -> (N, K); ``features`` -> (N, round(512 * width)).
    """

    Config = VGGConfig

    @classmethod
    def smoke_config(cls) -> VGGConfig:
        """Conformance tests: 1/8 of the channels."""
        return cls.Config(width=0.125)

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: Optional[VGGConfig] = None) -> None:
        config = config if config is not None else VGGConfig()
        c, h, w = check_input("VGG13", input_shape, config)
        super().__init__(input_shape, positive(num_classes, "VGG13", "num_classes"), config, config.mean, config.std)
        relu = config.variant == "normal"
        pool = nn.AvgPool2d if config.variant == "pure_linear" else nn.MaxPool2d
        layers: list[nn.Module] = []
        channels, size = c, min(h, w)
        for item in VGG13_LAYERS:
            if item == "M":
                if size >= 2:  # skip the pool once the map is a single pixel high or wide
                    layers.append(pool(2))
                    size //= 2
                continue
            out = max(1, round(item * config.width))
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not config.batch_norm))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(out))
            if relu:
                layers.append(nn.ReLU(inplace=True))
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.feature_dim = channels
        self.head = nn.Linear(channels, self.num_classes)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
