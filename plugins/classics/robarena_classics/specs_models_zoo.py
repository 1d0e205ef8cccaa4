"""Specs for the papers' architectures (VGG13 variants, CIFAR ResNets, Fixup ResNet, PreAct
ResNet-18, WRN-50-2, LeNet-5). Lists of specs only: no torch import.

Every model takes [0, 1] inputs with any number of channels and normalizes inside with its
``mean``/``std`` options (default: none; ``robarena_classics.models.zoo_common.CIFAR10_MEAN`` /
``CIFAR10_STD`` hold the CIFAR-10 statistics for the papers' CIFAR protocols). The CIFAR-style
models end in an adaptive global average pool and accept any input side >= 8 (digits 8x8 and
28x28, CIFAR 32x32, Tiny-ImageNet 56x56 / 64x64); LeNet-5 needs a side >= 12.
"""
from __future__ import annotations

from bench.specs import ModelSpec, Paper

PKG = "robarena_classics.models"

VGG = Paper(title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
            authors="K. Simonyan, A. Zisserman", year=2015, url="https://arxiv.org/abs/1409.1556",
            key="Simonyan2015")
HE2016 = Paper(title="Deep Residual Learning for Image Recognition",
               authors="K. He, X. Zhang, S. Ren, J. Sun", year=2016, url="https://arxiv.org/abs/1512.03385",
               key="He2016")
HE2016B = Paper(title="Identity Mappings in Deep Residual Networks",
                authors="K. He, X. Zhang, S. Ren, J. Sun", year=2016, url="https://arxiv.org/abs/1603.05027",
                key="He2016b")
FIXUP = Paper(title="Fixup Initialization: Residual Learning Without Normalization",
              authors="H. Zhang, Y. N. Dauphin, T. Ma", year=2019, url="https://arxiv.org/abs/1901.09321",
              key="Zhang2019Fixup")
WRN = Paper(title="Wide Residual Networks", authors="S. Zagoruyko, N. Komodakis", year=2016,
            url="https://arxiv.org/abs/1605.07146", key="Zagoruyko2016")
LENET = Paper(title="Gradient-Based Learning Applied to Document Recognition",
              authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner", year=1998,
              url="https://doi.org/10.1109/5.726791", key="LeCun1998")

ATTACKS: list = []
DEFENSES: list = []
PROBES: list = []
SUITES: list = []

MODELS: list = [
    ModelSpec(
        name="vgg13", version="1", target=f"{PKG}.vgg:VGG13", paper=VGG, min_size=8,
        summary="CIFAR VGG13 (BN, 512w features, one linear head); variant normal | half_linear "
                "(no ReLU, max pool) | pure_linear (no ReLU, average pool) as in P0 Table 1",
    ),
    ModelSpec(
        name="resnet-cifar", version="1", target=f"{PKG}.resnet_cifar:CifarResNet", paper=HE2016, min_size=8,
        summary="He et al. CIFAR ResNet, depth 6n+2 (default 20; P0: 20, 32x10; P1: 56, 110), width "
                "multiplier, option-A shortcuts (B optional)",
    ),
    ModelSpec(
        name="fixup-resnet", version="1", target=f"{PKG}.fixup_resnet:FixupResNet", paper=FIXUP, min_size=8,
        summary="CIFAR ResNet without batch norm, Fixup init, no scalar layers (P1 D.3; default depth 56)",
    ),
    ModelSpec(
        name="preact-resnet18", version="1", target=f"{PKG}.preact_resnet:PreActResNet", paper=HE2016B,
        min_size=8, summary="pre-activation ResNet-18 with the CIFAR 3x3 stem, 11.2M parameters (P3)",
    ),
    ModelSpec(
        name="wrn-50-2", version="1", target=f"{PKG}.wide_resnet:WideResNet", paper=WRN, min_size=8,
        summary="torchvision WRN-50-2 bottleneck with a 3x3 stride-1 stem and no max-pool, Xavier-uniform "
                "convolutions (P1 Tiny-ImageNet, 56x56)",
    ),
    ModelSpec(
        name="lenet5", version="1", target=f"{PKG}.lenet:LeNet5", paper=LENET, min_size=12,
        summary="LeNet-5-like CNN (conv 6, conv 16, FC 120, 84; ReLU, max pool): P4's black-box substitute",
    ),
]
