"""Test helpers: RobustBench zoo checkpoints written from the zoo's layout, independently of the plugin's modules.

The key names and shapes below are transcribed from RobustBench's ``model_zoo/architectures``
(``wide_resnet.py``, ``dm_wide_resnet.py``, ``resnet.py``) and ``model_zoo/cifar10.py``; the
plugin's networks are never used to make them, so a wrong parameter name or shape in the plugin
fails strict loading.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class Layout:
    """Ordered key -> shape of one checkpoint, with random values on demand."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}

    def conv(self, key: str, cout: int, cin: int, k: int) -> None:
        self.shapes[f"{key}.weight"] = (cout, cin, k, k)

    def bn(self, key: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            self.shapes[f"{key}.{name}"] = (c,)
        self.shapes[f"{key}.num_batches_tracked"] = ()

    def linear(self, key: str, cout: int, cin: int) -> None:
        self.shapes[f"{key}.weight"] = (cout, cin)
        self.shapes[f"{key}.bias"] = (cout,)

    def random(self, seed: int = 0, device: str = "cpu") -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        out = {}
        for key, shape in self.shapes.items():
            if device == "meta":
                dtype = torch.long if key.endswith("num_batches_tracked") else torch.float32
                out[key] = torch.empty(shape, device="meta", dtype=dtype)
            elif key.endswith("num_batches_tracked"):
                out[key] = torch.tensor(100)
            elif key.endswith("running_var"):
                out[key] = torch.rand(shape, generator=g) + 0.5
            elif key.endswith("running_mean") or key.endswith("bias"):
                out[key] = 0.1 * torch.randn(shape, generator=g)
            elif len(shape) == 1:  # BN weight
                out[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
            else:
                fan_in = math.prod(shape[1:])
                out[key] = torch.randn(shape, generator=g) * math.sqrt(1.0 / fan_in)
        return out


def trades_wrn(depth: int, widen: int, sub_block1: bool = False, classes: int = 10) -> Layout:
    L, n = Layout(), (depth - 4) // 6
    ch = [16, 16 * widen, 32 * widen, 64 * widen]
    L.conv("conv1", ch[0], 3, 3)
    groups = [("block1", ch[0], ch[1])] + ([("sub_block1", ch[0], ch[1])] if sub_block1 else []) + \
        [("block2", ch[1], ch[2]), ("block3", ch[2], ch[3])]
    for name, cin, cout in groups:
        for i in range(n):
            c_in = cin if i == 0 else cout
            p = f"{name}.layer.{i}"
            L.bn(f"{p}.bn1", c_in)
            L.conv(f"{p}.conv1", cout, c_in, 3)
            L.bn(f"{p}.bn2", cout)
            L.conv(f"{p}.conv2", cout, cout, 3)
            if c_in != cout:
                L.conv(f"{p}.convShortcut", cout, c_in, 1)
    L.bn("bn1", ch[3])
    L.linear("fc", classes, ch[3])
    return L


def dm_wrn(depth: int, width: int, classes: int = 10) -> Layout:
    L, n = Layout(), (depth - 4) // 6
    ch = [16, 16 * width, 32 * width, 64 * width]
    L.conv("init_conv", ch[0], 3, 3)
    for g in range(3):
        for i in range(n):
            c_in = ch[g] if i == 0 else ch[g + 1]
            p = f"layer.{g}.block.{i}"
            L.bn(f"{p}.batchnorm_0", c_in)
            L.conv(f"{p}.conv_0", ch[g + 1], c_in, 3)
            L.bn(f"{p}.batchnorm_1", ch[g + 1])
            L.conv(f"{p}.conv_1", ch[g + 1], ch[g + 1], 3)
            if c_in != ch[g + 1]:
                L.conv(f"{p}.shortcut", ch[g + 1], c_in, 1)
    L.bn("batchnorm", ch[3])
    L.linear("logits", classes, ch[3])
    return L


def preact18(classes: int = 10, bn_before_fc: bool = False) -> Layout:
    L, cin = Layout(), 64
    L.conv("conv1", 64, 3, 3)
    for s, planes in enumerate((64, 128, 256, 512)):
        for i in range(2):
            stride = 2 if (s > 0 and i == 0) else 1
            p = f"layer{s + 1}.{i}"
            L.bn(f"{p}.bn1", cin)
            L.conv(f"{p}.conv1", planes, cin, 3)
            L.bn(f"{p}.bn2", planes)
            L.conv(f"{p}.conv2", planes, planes, 3)
            if stride != 1 or cin != planes:
                L.conv(f"{p}.shortcut.0", planes, cin, 1)
            cin = planes
    if bn_before_fc:
        L.bn("bn", 512)
    L.linear("linear", classes, 512)
    return L


def resnet50(classes: int = 10) -> Layout:
    L, cin = Layout(), 64
    L.conv("conv1", 64, 3, 3)
    L.bn("bn1", 64)
    for s, (planes, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for i in range(n):
            stride = 2 if (s > 0 and i == 0) else 1
            p = f"layer{s + 1}.{i}"
            L.conv(f"{p}.conv1", planes, cin, 1)
            L.bn(f"{p}.bn1", planes)
            L.conv(f"{p}.conv2", planes, planes, 3)
            L.bn(f"{p}.bn2", planes)
            L.conv(f"{p}.conv3", 4 * planes, planes, 1)
            L.bn(f"{p}.bn3", 4 * planes)
            if stride != 1 or cin != 4 * planes:
                L.conv(f"{p}.shortcut.0", 4 * planes, cin, 1)
                L.bn(f"{p}.shortcut.1", 4 * planes)
            cin = 4 * planes
    L.linear("linear", classes, 2048)
    return L


def as_zoo_file(state: dict[str, torch.Tensor], data_parallel: bool = True, wrap: bool = True) -> dict:
    """The form the zoo's files take: ``{'state_dict': {'module.<key>': tensor}}``."""
    if data_parallel:
        state = {f"module.{k}": v for k, v in state.items()}
    return {"state_dict": state} if wrap else state


# ---------------------------------------------------------------- functional references (zoo forward passes)
def _bn(sd: dict, key: str, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, sd[f"{key}.running_mean"], sd[f"{key}.running_var"], sd[f"{key}.weight"],
                        sd[f"{key}.bias"], training=False, eps=1e-5)


def preact18_reference(sd: dict, x: torch.Tensor, v2: bool = False) -> torch.Tensor:
    """RobustBench's PreActResNet forward: with PreActBlock the shortcut conv reads the raw block input, with
    PreActBlockV2 (``v2``) the activated one; a ``bn`` key means BN + ReLU before the pool."""
    out = F.conv2d(x, sd["conv1.weight"], padding=1)
    for s in range(4):
        for i in range(2):
            p, stride = f"layer{s + 1}.{i}", (2 if (s > 0 and i == 0) else 1)
            act = F.relu(_bn(sd, f"{p}.bn1", out))
            short = F.conv2d(act if v2 else out, sd[f"{p}.shortcut.0.weight"], stride=stride) if f"{p}.shortcut.0.weight" in sd \
                else out
            o = F.conv2d(act, sd[f"{p}.conv1.weight"], stride=stride, padding=1)
            o = F.conv2d(F.relu(_bn(sd, f"{p}.bn2", o)), sd[f"{p}.conv2.weight"], padding=1)
            out = o + short
    if "bn.weight" in sd:
        out = F.relu(_bn(sd, "bn", out))
    out = F.avg_pool2d(out, 4).flatten(1)
    return F.linear(out, sd["linear.weight"], sd["linear.bias"])


def dm_wrn_reference(sd: dict, x: torch.Tensor, depth: int) -> torch.Tensor:
    """DeepMind's WideResNet forward with Swish and the explicit 'SAME' padding of each block."""
    swish = lambda t: t * torch.sigmoid(t)  # noqa: E731
    n = (depth - 4) // 6
    out = F.conv2d(x, sd["init_conv.weight"], padding=1)
    for g in range(3):
        for i in range(n):
            p, stride = f"layer.{g}.block.{i}", (2 if (g > 0 and i == 0) else 1)
            act = swish(_bn(sd, f"{p}.batchnorm_0", out))
            v = F.pad(act, (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1))
            o = F.conv2d(v, sd[f"{p}.conv_0.weight"], stride=stride)
            o = F.conv2d(swish(_bn(sd, f"{p}.batchnorm_1", o)), sd[f"{p}.conv_1.weight"], padding=1)
            short = F.conv2d(act, sd[f"{p}.shortcut.weight"], stride=stride) if f"{p}.shortcut.weight" in sd else out
            out = short + o
    out = swish(_bn(sd, "batchnorm", out))
    out = F.avg_pool2d(out, 8).flatten(1)
    return F.linear(out, sd["logits.weight"], sd["logits.bias"])
