"""The RobustBench zoo's CIFAR architectures, written for robarena with the zoo's parameter names.

Each network's ``state_dict()`` keys and shapes are those of the zoo's checkpoints (after the
``module.`` prefix of DataParallel is removed and the normalization buffers are taken out, see
:mod:`robarena_robustbench.keys`), so a zoo file loads with ``strict=True``. The forward passes
follow the zoo's definitions (RobustBench ``model_zoo/architectures``: ``wide_resnet.py`` after
TRADES, ``dm_wide_resnet.py`` after DeepMind, ``resnet.py``), including their quirks:

* ``TradesWideResNet``: pre-activation blocks whose 1x1 shortcut (``convShortcut``) reads the
  activated input; ``sub_block1`` is an unused extra first group that some checkpoints carry
  (Carmon2019Unlabeled, Zhang2019Theoretically), kept so their keys load.
* ``DMWideResNet``: explicit "SAME" padding before the first convolution of each block
  ((1,1,1,1) at stride 1, (0,1,0,1) at stride 2), Swish (= SiLU) or ReLU activations.
* ``PreActResNet``: ``PreActBlock`` adds a shortcut computed from the *raw* input; the ``v2``
  block (``PreActBlockV2``) from the activated one; optional BN+ReLU before the linear layer.
* ``BottleneckResNet``: the CIFAR ResNet-50 (3x3 stem, no max-pool) of the robustness library.

Every network exposes ``features(z)`` (the pooled penultimate vector) and ``classifier`` (the
final linear layer). Pooling is a global average, equal to the zoo's fixed ``avg_pool2d`` on
32x32 inputs.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name in ("swish", "silu"):
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r} (relu, swish)")


# ---------------------------------------------------------------- WideResNet (TRADES layout)
class _TradesBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal = in_planes == out_planes
        self.convShortcut: Optional[nn.Module] = None
        if not self.equal:
            self.convShortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(act))))
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        return shortcut + out


class _TradesGroup(nn.Module):
    def __init__(self, n: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[_TradesBlock(in_planes if i == 0 else out_planes, out_planes,
                                                  stride if i == 0 else 1) for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class TradesWideResNet(nn.Module):
    """WRN-depth-widen with keys ``conv1``, ``block{1,2,3}.layer.{i}.*``, ``bn1``, ``fc``."""

    def __init__(self, depth: int = 28, widen: int = 10, num_classes: int = 10, sub_block1: bool = False,
                 in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, stride=1, padding=1, bias=False)
        self.block1 = _TradesGroup(n, ch[0], ch[1], 1)
        if sub_block1:  # present in some checkpoints, never used by the forward pass
            self.sub_block1 = _TradesGroup(n, ch[0], ch[1], 1)
        self.block2 = _TradesGroup(n, ch[1], ch[2], 2)
        self.block3 = _TradesGroup(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.fc = nn.Linear(ch[3], num_classes)

    @property
    def classifier(self) -> nn.Linear:
        return self.fc

    def features(self, z: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(z))))
        return F.adaptive_avg_pool2d(F.relu(self.bn1(out)), 1).flatten(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(z))


# ---------------------------------------------------------------- WideResNet (DeepMind layout)
class _DMBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int, activation: str) -> None:
        super().__init__()
        self.batchnorm_0 = nn.BatchNorm2d(in_planes)
        self.relu_0 = _activation(activation)
        self.conv_0 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=0, bias=False)
        self.batchnorm_1 = nn.BatchNorm2d(out_planes)
        self.relu_1 = _activation(activation)
        self.conv_1 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: Optional[nn.Module] = None
        if in_planes != out_planes:
            self.shortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        if stride not in (1, 2):
            raise ValueError(f"unsupported stride {stride}")
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu_0(self.batchnorm_0(x))
        v = F.pad(act, (1, 1, 1, 1) if self.stride == 1 else (0, 1, 0, 1))
        out = self.conv_1(self.relu_1(self.batchnorm_1(self.conv_0(v))))
        return (x if self.shortcut is None else self.shortcut(act)) + out


class _DMGroup(nn.Module):
    def __init__(self, n: int, in_planes: int, out_planes: int, stride: int, activation: str) -> None:
        super().__init__()
        self.block = nn.Sequential(*[_DMBlock(in_planes if i == 0 else out_planes, out_planes,
                                              stride if i == 0 else 1, activation) for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DMWideResNet(nn.Module):
    """WRN with keys ``init_conv``, ``layer.{g}.block.{i}.*``, ``batchnorm``, ``logits``."""

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10, activation: str = "swish",
                 in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        ch = [16, 16 * width, 32 * width, 64 * width]
        self.init_conv = nn.Conv2d(in_channels, ch[0], 3, stride=1, padding=1, bias=False)
        self.layer = nn.Sequential(_DMGroup(n, ch[0], ch[1], 1, activation), _DMGroup(n, ch[1], ch[2], 2, activation),
                                   _DMGroup(n, ch[2], ch[3], 2, activation))
        self.batchnorm = nn.BatchNorm2d(ch[3])
        self.relu = _activation(activation)
        self.logits = nn.Linear(ch[3], num_classes)

    @property
    def classifier(self) -> nn.Linear:
        return self.logits

    def features(self, z: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.batchnorm(self.layer(self.init_conv(z))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(z))


# ---------------------------------------------------------------- pre-activation ResNet-18
class _PreActBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, v2: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.v2 = v2
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        if hasattr(self, "shortcut"):
            shortcut = self.shortcut(act if self.v2 else x)
        else:
            shortcut = x
        return self.conv2(F.relu(self.bn2(self.conv1(act)))) + shortcut


class PreActResNet(nn.Module):
    """Pre-activation ResNet with keys ``conv1``, ``layer{1..4}.{i}.*``, optional ``bn``, ``linear``."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10, v2: bool = False,
                 bn_before_fc: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        planes_in = 64
        for index, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            stride = 1 if index == 0 else 2
            layers = []
            for i in range(n):
                layers.append(_PreActBlock(planes_in, planes, stride if i == 0 else 1, v2))
                planes_in = planes
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.bn_before_fc = bn_before_fc
        if bn_before_fc:
            self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    @property
    def classifier(self) -> nn.Linear:
        return self.linear

    def features(self, z: torch.Tensor) -> torch.Tensor:
        out = self.conv1(z)
        for name in ("layer1", "layer2", "layer3", "layer4"):
            out = getattr(self, name)(out)
        if self.bn_before_fc:
            out = F.relu(self.bn(out))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(z))


# ---------------------------------------------------------------- CIFAR ResNet-50 (bottleneck)
class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != 4 * planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, 4 * planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(4 * planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class BottleneckResNet(nn.Module):
    """CIFAR ResNet with bottlenecks (ResNet-50: 3,4,6,3); keys ``conv1``, ``bn1``, ``layer{1..4}``, ``linear``."""

    def __init__(self, blocks: tuple[int, ...] = (3, 4, 6, 3), num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes_in = 64
        for index, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            stride = 1 if index == 0 else 2
            layers = []
            for i in range(n):
                layers.append(_Bottleneck(planes_in, planes, stride if i == 0 else 1))
                planes_in = 4 * planes
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(2048, num_classes)

    @property
    def classifier(self) -> nn.Linear:
        return self.linear

    def features(self, z: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(z)))
        for name in ("layer1", "layer2", "layer3", "layer4"):
            out = getattr(self, name)(out)
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(z))
