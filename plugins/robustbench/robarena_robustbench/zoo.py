"""Supported RobustBench model-zoo entries and the ``robustbench/<dataset>/<threat>/<name>`` model ids.

Each :class:`ZooEntry` names the zoo's architecture (as in RobustBench's
``robustbench/model_zoo/cifar10.py``), the input normalization the zoo applies inside the model,
and the values RobustBench publishes for the entry (``model_info/<dataset>/<threat>/<name>.json``
in github.com/RobustBench/robustbench, read at commit 2b95e7eba2d4be712e390dd7543f3bbbc5027270).

The resolver (:data:`RESOLVER`, registered by :mod:`robarena_robustbench.plugin`) turns a model id
into a registry entry whose class builds the network with the zoo's parameter names and loads a
zoo checkpoint through :func:`robarena_robustbench.keys.zoo_state_to_robarena` (``module.``
prefixes, ``{'state_dict': ...}`` wrappers and normalization buffers handled). Unsupported names
fail with the list of supported ones, and the reason where the entry is known to be unsupported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional, Sequence

import torch
from torch import nn

from bench.api import Classifier
from bench.api.config import BaseConfig
from bench.errors import UnknownComponentError
from bench.plugins import PluginInfo
from bench.published import LEADERBOARD_EPS, PublishedValue
from bench.registry import Entry, Resolver
from bench.specs import Kind, ModelSpec

PREFIX = "robustbench/"
#: Where the published values come from.
MODEL_INFO_COMMIT = "2b95e7eba2d4be712e390dd7543f3bbbc5027270"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)
ROBUSTNESS_LIB_STD = (0.2023, 0.1994, 0.2010)  # Engstrom2019Robustness's sigma


@dataclass(frozen=True)
class ZooEntry:
    """One supported zoo entry: architecture, normalization and RobustBench's published values (%)."""

    name: str
    dataset: str
    threat: str
    arch: str  # trades_wrn | dm_wrn | preact | resnet_bottleneck
    arch_kwargs: dict = field(default_factory=dict)
    description: str = ""
    mean: Optional[tuple[float, ...]] = None  # None: the zoo model has no normalization
    std: Optional[tuple[float, ...]] = None
    norm_keys: tuple[str, str] = ("", "")  # names of the normalization buffers in the checkpoint, if any
    clean_acc: float = 0.0
    autoattack_acc: float = 0.0
    eps: str = "8/255"
    paper: str = ""
    link: str = ""

    @property
    def model_id(self) -> str:
        return f"{PREFIX}{self.dataset}/{self.threat}/{self.name}"

    @property
    def source(self) -> str:
        return (f"RobustBench model_info/{self.dataset}/{self.threat}/{self.name}.json "
                f"(github.com/RobustBench/robustbench @ {MODEL_INFO_COMMIT[:7]})")

    def build_net(self, num_classes: int, in_channels: int = 3) -> nn.Module:
        from robarena_robustbench import architectures as A

        kwargs = dict(self.arch_kwargs, num_classes=num_classes, in_channels=in_channels)
        if self.arch == "trades_wrn":
            return A.TradesWideResNet(**kwargs)
        if self.arch == "dm_wrn":
            return A.DMWideResNet(**kwargs)
        if self.arch == "preact":
            return A.PreActResNet(**kwargs)
        if self.arch == "resnet_bottleneck":
            return A.BottleneckResNet(**kwargs)
        raise ValueError(f"unknown zoo architecture kind {self.arch!r}")


def _e(name: str, arch: str, kwargs: dict, description: str, clean: float, aa: float, paper: str, link: str,
       mean: Optional[tuple] = None, std: Optional[tuple] = None, norm_keys: tuple[str, str] = ("", ""),
       eps: str = "8/255", threat: str = "Linf") -> ZooEntry:
    return ZooEntry(name, "cifar10", threat, arch, kwargs, description, mean, std, norm_keys, clean, aa, eps,
                    paper, link)


_MU = ("mu", "sigma")
_DM = ("mean", "std")

#: The supported entries (CIFAR-10; Linf, and L2 for Rice2020Overfitting), values copied from RobustBench's model_info JSON files.
ENTRIES: tuple[ZooEntry, ...] = (
    _e("Standard", "trades_wrn", {"depth": 28, "widen": 10}, "WideResNet-28-10 (TRADES layout), no normalization",
       94.78, 0.0, "Standardly trained model", "https://github.com/RobustBench/robustbench/"),
    _e("Carmon2019Unlabeled", "trades_wrn", {"depth": 28, "widen": 10, "sub_block1": True},
       "WideResNet-28-10 (TRADES layout, sub_block1), no normalization", 89.69, 59.53,
       "Unlabeled Data Improves Adversarial Robustness (NeurIPS 2019)", "https://arxiv.org/abs/1905.13736"),
    _e("Zhang2019Theoretically", "trades_wrn", {"depth": 34, "widen": 10, "sub_block1": True},
       "WideResNet-34-10 (TRADES layout, sub_block1), no normalization", 84.92, 53.08,
       "Theoretically Principled Trade-off between Robustness and Accuracy (ICML 2019)",
       "https://arxiv.org/abs/1901.08573", eps="0.031"),
    _e("Rice2020Overfitting", "trades_wrn", {"depth": 34, "widen": 20},
       "WideResNet-34-20 (TRADES layout) with an input normalization layer (mu, sigma)", 85.34, 53.42,
       "Overfitting in adversarially robust deep learning (ICML 2020)", "https://arxiv.org/abs/2002.11569",
       CIFAR10_MEAN, CIFAR10_STD, _MU),
    _e("Gowal2020Uncovering_28_10_extra", "dm_wrn", {"depth": 28, "width": 10, "activation": "swish"},
       "WideResNet-28-10 (DeepMind layout, Swish) with input normalization (mean, std)", 89.48, 62.76,
       "Uncovering the Limits of Adversarial Training against Norm-Bounded Adversarial Examples (arXiv, Oct 2020)",
       "https://arxiv.org/abs/2010.03593", CIFAR10_MEAN, CIFAR10_STD, _DM),
    _e("Gowal2020Uncovering_70_16_extra", "dm_wrn", {"depth": 70, "width": 16, "activation": "swish"},
       "WideResNet-70-16 (DeepMind layout, Swish) with input normalization (mean, std)", 91.10, 65.87,
       "Uncovering the Limits of Adversarial Training against Norm-Bounded Adversarial Examples (arXiv, Oct 2020)",
       "https://arxiv.org/abs/2010.03593", CIFAR10_MEAN, CIFAR10_STD, _DM),
    _e("Wong2020Fast", "preact", {"blocks": (2, 2, 2, 2)},
       "PreAct ResNet-18 with an input normalization layer (mu, sigma)", 83.34, 43.21,
       "Fast is better than free: Revisiting adversarial training (ICLR 2020)", "https://arxiv.org/abs/2001.03994",
       CIFAR10_MEAN, CIFAR10_STD, _MU),
    _e("Engstrom2019Robustness", "resnet_bottleneck", {"blocks": (3, 4, 6, 3)},
       "ResNet-50 (CIFAR stem) with an input normalization layer (mu, sigma)", 87.03, 49.25,
       "Robustness library (GitHub, Oct 2019)", "https://github.com/MadryLab/robustness",
       CIFAR10_MEAN, ROBUSTNESS_LIB_STD, _MU),
    _e("Rice2020Overfitting", "preact", {"blocks": (2, 2, 2, 2), "v2": True, "bn_before_fc": True},
       "PreAct ResNet-18 (PreActBlockV2, BN before the linear layer) with an input normalization layer (mu, sigma)",
       88.67, 67.68, "Overfitting in adversarially robust deep learning (ICML 2020)",
       "https://arxiv.org/abs/2002.11569", CIFAR10_MEAN, CIFAR10_STD, _MU, eps="0.5", threat="L2"),
)

#: Zoo entries known not to be supported, with the reason (the list is not exhaustive: any name not
#: in :data:`ENTRIES` is unsupported).
UNSUPPORTED: dict[str, str] = {
    "Chen2020Adversarial": "an ensemble of three ResNet-50 branches averaging softmax outputs",
    "Ding2020MMA": "per-image input standardization inside the model",
    "Pang2020Boosting": "BoostingWideResNet (normalized features and weights)",
    "Huang2021Exploring": "RobustWideResNet (searched channel/depth configuration)",
    "Kang2021Stable": "SODEF (neural-ODE layers)",
    "Dai2021Parameterizing": "PSSiLU WideResNet (learned activation)",
    "Debenedetti2022Light_XCiT-S12": "XCiT transformer loaded through timm's pretrained weights",
    "Debenedetti2022Light_XCiT-M12": "XCiT transformer loaded through timm's pretrained weights",
    "Debenedetti2022Light_XCiT-L12": "XCiT transformer loaded through timm's pretrained weights",
    "Sehwag2021Proxy_ResNest152": "ResNeSt-152",
    "Hendrycks2019Using": "WideResNet with a 2x-1 input map (not mapped yet)",
}

_BY_ID = {e.model_id: e for e in ENTRIES}


def supported_ids() -> list[str]:
    return sorted(_BY_ID)


def entry_for(model_id: str) -> ZooEntry:
    """The :class:`ZooEntry` of ``robustbench/<dataset>/<threat>/<name>``; unknown ids fail with the list."""
    if model_id in _BY_ID:
        return _BY_ID[model_id]
    parts = model_id[len(PREFIX):].split("/") if model_id.startswith(PREFIX) else []
    name = parts[-1] if len(parts) == 3 else ""
    why = ""
    if len(parts) != 3:
        why = " The id must look like robustbench/<dataset>/<threat>/<model name>."
    elif name in UNSUPPORTED:
        why = f" {name} is not supported: {UNSUPPORTED[name]}."
    else:
        import difflib

        same = [e for e in ENTRIES if (e.dataset, e.threat) == tuple(parts[:2])]
        names = {e.name: e.model_id for e in [*ENTRIES, *same]}  # this dataset and threat's entries win
        hints = difflib.get_close_matches(name, list(names), n=1, cutoff=0.8)
        if hints:
            why = f" Did you mean {names[hints[0]]}?"
    raise UnknownComponentError(
        f"unknown RobustBench model {model_id!r}.{why} Supported: {', '.join(supported_ids())}. "
        "See docs/robustbench.md for the supported and unsupported zoo entries.")


class ZooConfig(BaseConfig):
    """Zoo models take no parameters: architecture and normalization are fixed by the entry."""


class ZooClassifier(Classifier):
    """A zoo network (``self.net``, the zoo's parameter names) behind robarena's Classifier contract.

    ``load_state_dict`` accepts a zoo checkpoint's state dict as it is (see
    :func:`robarena_robustbench.keys.zoo_state_to_robarena`) as well as robarena's own layout.
    """

    Config = ZooConfig
    zoo: ZooEntry

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: Optional[ZooConfig] = None) -> None:
        super().__init__(input_shape, num_classes, config, mean=list(self.zoo.mean) if self.zoo.mean else None,
                         std=list(self.zoo.std) if self.zoo.std else None)
        self.net = self.zoo.build_net(num_classes, in_channels=self.input_shape[0])

    @property
    def head(self) -> nn.Module:  # type: ignore[override]
        return self.net.classifier

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.features(z)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):  # type: ignore[override]
        from robarena_robustbench.keys import zoo_state_to_robarena

        return super().load_state_dict(zoo_state_to_robarena(state_dict, self.zoo), strict=strict, assign=assign)


@lru_cache(maxsize=None)
def zoo_class(model_id: str) -> type:
    entry = entry_for(model_id)
    cls = type(f"RobustBench[{entry.name}]", (ZooClassifier,), {"zoo": entry, "__module__": __name__})
    return cls


class ZooModelEntry(Entry[ModelSpec]):
    def load(self) -> Any:
        return zoo_class(self.qualified_id)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("robarena-robustbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def published_values(entry: ZooEntry) -> list[PublishedValue]:
    """RobustBench's published clean and AutoAttack accuracy of ``entry`` (fractions); the robust one at
    the leaderboard's radius for the entry's dataset and threat (the entry's own ``eps`` otherwise)."""
    eps = LEADERBOARD_EPS.get((entry.dataset, entry.threat), entry.eps)
    return [PublishedValue(metric="clean", value=round(entry.clean_acc / 100.0, 6), source=entry.source,
                           evaluation="clean test set"),
            PublishedValue(metric="robust", norm=entry.threat, eps=eps, value=round(entry.autoattack_acc / 100.0, 6),
                           source=entry.source, evaluation="AutoAttack (standard)")]


def zoo_entry(model_id: str) -> ZooModelEntry:
    """The registry entry of a supported ``robustbench/...`` id (raises for the others)."""
    entry = entry_for(model_id)
    spec = ModelSpec(name=f"{entry.dataset}-{entry.threat}-{entry.name}".lower(), version="1",
                     target="robarena_robustbench.zoo:ZooConfig", channels=[3], min_size=32, max_size=32,
                     summary=f"RobustBench {entry.dataset}/{entry.threat}/{entry.name}: {entry.description}",
                     published=published_values(entry))
    return ZooModelEntry(model_id, spec, PluginInfo("robustbench", "robarena_robustbench.plugin",
                                                    "robarena-robustbench", _version()))


#: ``robustbench/<dataset>/<threat>/<name>`` model ids, for the registry.
RESOLVER = Resolver(Kind.MODEL, PREFIX, zoo_entry)
