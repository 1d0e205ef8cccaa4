"""Model zoo: shapes on every accepted input, published parameter counts, the VGG variants'
(piecewise) linearity, Fixup's identity-at-init, initializations, defaults, determinism and the
training conformance check."""
from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from bench.api import Classifier
from bench.errors import UsageError
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from robarena_classics.models.fixup_resnet import FixupResNet, FixupResNetConfig
from robarena_classics.models.lenet import LeNet5, LeNet5Config
from robarena_classics.models.preact_resnet import PreActResNet, PreActResNetConfig
from robarena_classics.models.resnet_cifar import CifarResNet, CifarResNetConfig, ShortcutA
from robarena_classics.models.vgg import VGG13, VGGConfig
from robarena_classics.models.wide_resnet import WideResNet, WideResNetConfig
from robarena_classics.models.zoo_common import CIFAR10_MEAN, CIFAR10_STD

REGISTRY = get_registry()

# Tiny configurations (architecture intact, few channels) for the fast tests.
TINY = {
    "vgg13": (VGG13, VGGConfig(width=1 / 16)),
    "resnet-cifar": (CifarResNet, CifarResNetConfig(depth=8)),
    "fixup-resnet": (FixupResNet, FixupResNetConfig(depth=8)),
    "preact-resnet18": (PreActResNet, PreActResNetConfig(base_width=4)),
    "wrn-50-2": (WideResNet, WideResNetConfig(blocks=(1, 1, 1, 1), width_per_group=4)),
    "lenet5": (LeNet5, LeNet5Config()),
}
FEATURES = {"vgg13": 32, "resnet-cifar": 64, "fixup-resnet": 64, "preact-resnet18": 32, "wrn-50-2": 2048,
            "lenet5": 84}
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 56, 56), (3, 64, 64)]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def seeded(build, seed: int = 0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def inputs(shape, n=2, seed=0) -> torch.Tensor:
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_logits_and_features_shapes_on_every_accepted_input(name, shape):
    cls, config = TINY[name]
    if min(shape[1:]) < REGISTRY.get("model", f"classics/{name}").spec.min_size:
        with pytest.raises(UsageError, match="at least|larger input"):
            cls(shape, 7, config)
        return
    model = seeded(lambda: cls(shape, 7, config)).eval()
    x = inputs(shape)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        feats = model.features(x)
    assert feats.shape == (2, FEATURES[name]) and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", sorted(TINY))
def test_spec_min_size_matches_the_code_and_targets_load(name):
    entry = REGISTRY.get("model", f"classics/{name}")
    cls, config = TINY[name]
    assert entry.load() is cls and issubclass(cls, Classifier)
    m = entry.spec.min_size
    cls((1, m, m), 3, config)
    with pytest.raises(UsageError):
        cls((1, m - 1, m - 1), 3, config)
    assert entry.spec.channels is None  # any channel count: the first layer reads C from input_shape


def test_defaults_match_the_papers():
    assert VGGConfig().model_dump() == {"mean": None, "std": None, "variant": "normal", "width": 1.0,
                                        "batch_norm": True}
    assert CifarResNetConfig().model_dump() == {"mean": None, "std": None, "depth": 20, "width": 1, "shortcut": "A"}
    assert FixupResNetConfig().model_dump() == {"mean": None, "std": None, "depth": 56, "width": 1, "scalars": False}
    assert PreActResNetConfig().model_dump() == {"mean": None, "std": None, "blocks": (2, 2, 2, 2), "base_width": 64}
    assert WideResNetConfig().model_dump() == {"mean": None, "std": None, "blocks": (3, 4, 6, 3),
                                               "width_per_group": 128, "init": "xavier_uniform"}
    assert LeNet5Config().model_dump() == {"mean": None, "std": None, "activation": "relu", "pool": "max",
                                           "conv1_padding": 2}


def test_bad_configs_and_shapes_raise_clear_errors():
    for depth in (21, 2, 7):
        with pytest.raises(ValidationError, match="6n \\+ 2"):
            CifarResNetConfig(depth=depth)
    with pytest.raises(ValidationError, match="both mean and std"):
        VGGConfig(mean=(0.5,))
    with pytest.raises(ValidationError, match="positive"):
        VGGConfig(mean=(0.5,), std=(0.0,))
    with pytest.raises(UsageError, match="3 channels"):
        CifarResNet((3, 32, 32), 10, CifarResNetConfig(depth=8, mean=(0.5,), std=(0.2,)))
    with pytest.raises(UsageError, match="num_classes"):
        LeNet5((1, 28, 28), 0)
    with pytest.raises(UsageError, match=r"\(C, H, W\)"):
        VGG13((32, 32), 10, TINY["vgg13"][1])
    with pytest.raises(ValidationError):
        VGGConfig(variant="linear")


# ---- parameter counts: closed forms, checked against the published numbers ----

def resnet_cifar_count(depth, width=1, classes=10, c=3):
    """He et al. CIFAR ResNet, option A: 3x3 convs without bias, BN (2 per channel), linear head."""
    n, (a, b, d) = (depth - 2) // 6, (16 * width, 32 * width, 64 * width)
    total, prev = 9 * c * a + 2 * a, a
    for ch in (a, b, d):
        for _ in range(n):
            total += 9 * prev * ch + 9 * ch * ch + 4 * ch
            prev = ch
    return total + d * classes + classes


def test_cifar_resnet_parameter_counts_match_he_et_al():
    for depth in (20, 56, 110):
        assert n_params(CifarResNet((3, 32, 32), 10, CifarResNetConfig(depth=depth))) == resnet_cifar_count(depth)
    assert round(resnet_cifar_count(20) / 1e6, 2) == 0.27  # He et al. 2016, Table 6
    assert round(resnet_cifar_count(56) / 1e6, 2) == 0.85
    assert round(resnet_cifar_count(110) / 1e6, 1) == 1.7
    with torch.device("meta"):
        wide = CifarResNet((3, 32, 32), 10, CifarResNetConfig(depth=32, width=10))
    assert n_params(wide) == resnet_cifar_count(32, 10)  # P0's resnet32x10: 46.1M
    # Option B adds a 1x1 conv + BN projection at the two stage transitions.
    b = CifarResNet((3, 32, 32), 10, CifarResNetConfig(depth=20, shortcut="B"))
    assert n_params(b) == resnet_cifar_count(20) + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


def test_preact_resnet18_has_11_2m_parameters():
    def count(classes):
        total, prev = 9 * 3 * 64, 64
        for stage, ch in enumerate((64, 128, 256, 512)):
            for i in range(2):
                total += 2 * prev + 9 * prev * ch + 2 * ch + 9 * ch * ch  # bn1, conv1, bn2, conv2
                total += prev * ch if (prev != ch) else 0  # 1x1 projection
                prev = ch
        return total + 2 * 512 + 512 * classes + classes  # final BN, head
    model = PreActResNet((3, 32, 32), 10)
    assert n_params(model) == count(10) == 11_172_170
    assert round(n_params(model) / 1e6, 1) == 11.2


def test_wrn_50_2_is_torchvision_wide_resnet50_2_with_a_3x3_stem():
    from torchvision.models import wide_resnet50_2

    with torch.device("meta"):
        ours = {k: WideResNet((3, 56, 56), k) for k in (1000, 200)}
        reference = wide_resnet50_2(num_classes=1000)
    stem_saving = (7 * 7 - 3 * 3) * 3 * 64
    assert n_params(reference) == 68_883_240  # torchvision's documented count
    assert n_params(ours[1000]) == 68_883_240 - stem_saving
    assert n_params(ours[200]) == n_params(ours[1000]) - 800 * (2048 + 1)
    net = ours[200].net
    assert isinstance(net.maxpool, nn.Identity) and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert [len(g) for g in (net.layer1, net.layer2, net.layer3, net.layer4)] == [3, 4, 6, 3]
    assert net.layer1[0].conv2.out_channels == 128  # 64 k with k = 2


def test_lenet5_and_vgg13_parameter_counts():
    assert n_params(LeNet5((1, 28, 28), 10)) == 61_706  # LeNet-5's well-known count on 32x32 (here 28 + 2 pad)
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512),
             (512, 512), (512, 512)]
    expected = sum(9 * i * o + 2 * o for i, o in convs) + 512 * 10 + 10
    assert n_params(VGG13((3, 32, 32), 10)) == expected
    assert round(expected / 1e6, 1) == 9.4


# ---- VGG13 variants ----

def randomized_bn(model: nn.Module, seed: int = 3) -> nn.Module:
    """Random BN affine parameters and running statistics measured on random images, so that
    eval-mode BN is a non-trivial affine map and the signal neither vanishes nor explodes."""
    g = torch.Generator().manual_seed(seed)
    model = model.double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average: one pass stores that batch's statistics
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        model.train()(inputs(VGG_SHAPE, n=8, seed=seed).double())
    return model.eval()


VGG_SHAPE = (3, 16, 16)  # four of the five pools act (16 -> 1), the fifth is skipped


def vgg(variant, **kw):
    return randomized_bn(seeded(lambda: VGG13(VGG_SHAPE, 5, VGGConfig(variant=variant, width=1 / 16, **kw))))


def test_pure_linear_vgg_is_affine_in_eval_mode_and_normal_vgg_is_not():
    x1, x2 = inputs(VGG_SHAPE, n=3, seed=1).double(), inputs(VGG_SHAPE, n=3, seed=2).double()
    pure = vgg("pure_linear")
    for a in (0.3, -1.5, 2.0):  # any real a: an affine map preserves all affine combinations
        mix = a * x1 + (1 - a) * x2
        with torch.no_grad():
            torch.testing.assert_close(pure(mix), a * pure(x1) + (1 - a) * pure(x2), rtol=1e-9, atol=1e-9)
    normal = vgg("normal")
    with torch.no_grad():
        gap = (normal(mix) - (a * normal(x1) + (1 - a) * normal(x2))).abs().max()
    assert gap > 0.1, "the ReLU network must not pass the affinity check"


def test_half_linear_vgg_is_piecewise_linear_and_positively_homogeneous_without_biases():
    x1, x2 = inputs(VGG_SHAPE, n=3, seed=1).double(), inputs(VGG_SHAPE, n=3, seed=2).double()
    half = vgg("half_linear")
    d = torch.randn(x1.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        f0, f1, f2 = half(x1), half(x1 + 1e-7 * d), half(x1 + 2e-7 * d)
        # locally affine: along a tiny segment the output moves linearly (no max-pool switch)
        torch.testing.assert_close(f2 - f0, 2 * (f1 - f0), rtol=1e-5, atol=1e-12)
        # but not globally affine: max pooling switches pieces between distant inputs
        assert (half(0.5 * x1 + 0.5 * x2) - 0.5 * (half(x1) + half(x2))).abs().max() > 0.1
    # Without batch norm and with zero biases, max pooling commutes with positive scaling:
    # f(c x) = c f(x) for c > 0 (positively homogeneous of degree 1).
    nobias = seeded(lambda: VGG13(VGG_SHAPE, 5, VGGConfig(variant="half_linear", width=1 / 16,
                                                            batch_norm=False))).double().eval()
    with torch.no_grad():
        for m in nobias.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.bias.zero_()
        torch.testing.assert_close(nobias(3.7 * x1), 3.7 * nobias(x1), rtol=1e-9, atol=1e-12)
    assert not any(isinstance(m, nn.ReLU) for m in half.modules())
    assert sum(isinstance(m, nn.MaxPool2d) for m in half.modules()) == 4  # fifth skipped at 1x1
    full = VGG13((3, 32, 32), 5, VGGConfig(variant="pure_linear", width=1 / 16))
    assert sum(isinstance(m, nn.AvgPool2d) for m in full.modules()) == 5
    assert sum(isinstance(m, nn.Conv2d) for m in half.modules()) == 10  # VGG13: 10 conv + 1 head = 13 layers


# ---- CIFAR ResNet option A and Fixup ----

def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 4, 7, 7, generator=torch.Generator().manual_seed(0))
    out = ShortcutA(4, 8, 2)(x)
    assert out.shape == (2, 8, 4, 4)  # ceil(7 / 2), as a stride-2 3x3 conv with padding 1
    torch.testing.assert_close(out[:, 2:6], x[:, :, ::2, ::2])
    assert out[:, :2].abs().sum() == 0 and out[:, 6:].abs().sum() == 0


@pytest.mark.parametrize("scalars", [False, True])
def test_fixup_blocks_are_their_shortcut_at_init_and_logits_are_zero(scalars):
    model = seeded(lambda: FixupResNet((3, 8, 8), 10, FixupResNetConfig(depth=14, width=2, scalars=scalars)))
    x = inputs((3, 8, 8), n=4)
    g = torch.Generator().manual_seed(1)
    h = torch.randn(4, 32, 8, 8, generator=g)
    with torch.no_grad():
        for block in model.blocks:
            h_in = h[:, :block.conv1.in_channels]
            torch.testing.assert_close(block(h_in), F.relu(block.shortcut(h_in)), rtol=0, atol=0)
            h = torch.randn(4, block.conv2.out_channels, *block(h_in).shape[2:], generator=g)
        # the whole network: relu(stem), then subsample + zero-pad twice, then average
        s = F.relu(model.stem(x))
        s = F.pad(s[:, :, ::2, ::2], (0, 0, 0, 0, 16, 16))
        s = F.pad(s[:, :, ::2, ::2], (0, 0, 0, 0, 32, 32))
        torch.testing.assert_close(model.features(x), s.mean((2, 3)))
        assert model(x).abs().max() == 0  # zero-initialized classification layer
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    scalar_count = sum(p.numel() for n, p in model.named_parameters() if "bias" in n or "scale" in n) - 10
    assert scalar_count == (5 * 6 + 2 if scalars else 0)  # head bias (10) excluded


def test_fixup_branch_init_is_he_normal_scaled_by_L_to_minus_half():
    model = seeded(lambda: FixupResNet((3, 32, 32), 10))  # ResNet-56: L = 27 branches, m = 2
    assert len(model.blocks) == 27
    w = model.blocks[-1].conv1.weight  # 64 x 64 x 3 x 3 = 36,864 draws
    expected = math.sqrt(2 / (64 * 9)) * 27 ** -0.5
    assert abs(w.std().item() / expected - 1) < 0.03 and abs(w.mean().item()) < 0.03 * expected
    assert all(b.conv2.weight.abs().sum() == 0 for b in model.blocks)


def test_wrn_convolutions_are_xavier_uniform():
    model = seeded(lambda: WideResNet((3, 56, 56), 10, WideResNetConfig(blocks=(1, 1, 1, 1), width_per_group=16)))
    conv = model.net.layer4[0].conv1  # 1024 -> 128, 1x1: 131,072 draws
    fan_in, fan_out = conv.in_channels, conv.out_channels
    bound = math.sqrt(6 / (fan_in + fan_out))
    w = conv.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 0.02


# ---- normalization, determinism, conformance ----

def test_normalization_inside_equals_normalizing_the_input():
    cfg = CifarResNetConfig(depth=8, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    normed = seeded(lambda: CifarResNet((3, 32, 32), 10, cfg)).eval()
    plain = seeded(lambda: CifarResNet((3, 32, 32), 10, CifarResNetConfig(depth=8))).eval()
    x = inputs((3, 32, 32))
    z = (x - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(normed(x), plain(z))


@pytest.mark.parametrize("name", sorted(TINY))
def test_construction_is_deterministic_for_a_seed(name):
    cls, config = TINY[name]
    a, b, c = (seeded(lambda: cls((3, 32, 32), 10, config), seed=s) for s in (5, 5, 6))
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    if name != "fixup-resnet":  # fixup's head is zero whatever the seed; its convs still differ
        assert not torch.equal(a.head.weight, c.head.weight)
    assert any(not torch.equal(u, v) for u, v in zip(a.state_dict().values(), c.state_dict().values()))


@pytest.mark.parametrize("name", ["resnet-cifar", "fixup-resnet"])
def test_standard_training_conformance(name):
    cls, config = TINY[name]
    model = check_defense(REGISTRY.get("defense", "classics/standard"), model_cls=functools.partial(cls, config=config))
    assert isinstance(model, cls)
    if name == "fixup-resnet":  # zero-initialized layers must have started to learn
        assert model.head.weight.abs().sum() > 0 and model.blocks[0].conv2.weight.abs().sum() > 0
