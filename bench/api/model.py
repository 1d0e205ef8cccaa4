"""Classifier base: an ``nn.Module`` from [0, 1] images to logits, normalization inside.

``features(x)`` returns the penultimate representation (N, D) used by transfer and
inversion; ``forward(x) = head(features(x))``. Subclasses build ``self.head`` and
implement :meth:`extract` on the *normalized* input.
"""
from __future__ import annotations

from typing import ClassVar, Optional, Sequence

import torch
from torch import nn

from bench.api.config import BaseConfig


class Normalize(nn.Module):
    """(x - mean) / std per channel, as a layer so every epsilon stays in pixel space."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Base of every registered architecture.

    Args:
        input_shape: (C, H, W) of the [0, 1] inputs.
        num_classes: number of logits.
        config: the subclass's ``Config`` instance.
        mean, std: per-channel normalization applied inside the model (default: none).
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig
    head: nn.Module

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        config: Optional[BaseConfig] = None,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.config = config if config is not None else self.Config()
        channels = self.input_shape[0]
        self.normalize = Normalize(mean or [0.0] * channels, std or [1.0] * channels)

    @classmethod
    def smoke_config(cls) -> BaseConfig:
        """The smallest sensible configuration, for registry-wide conformance tests (default: defaults)."""
        return cls.Config()

    def extract(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Map a normalized batch (N, C, H, W) to features (N, D)."""
        raise NotImplementedError(f"{type(self).__name__} must implement extract()")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, D) of [0, 1] inputs (N, C, H, W)."""
        return self.extract(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class WrappedClassifier(Classifier):
    """Adapts any ``nn.Module`` (a timm model, a user's factory) to the Classifier contract.

    ``features`` uses timm's ``forward_features`` + ``forward_head(pre_logits=True)`` when the
    module has them; otherwise ``features`` raises and only logits are available.
    """

    def __init__(self, module: nn.Module, input_shape: Sequence[int], num_classes: int,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None) -> None:
        super().__init__(input_shape, num_classes, mean=mean, std=std)
        self.module = module
        self.head = nn.Identity()

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        if hasattr(self.module, "forward_features") and hasattr(self.module, "forward_head"):
            return self.module.forward_head(self.module.forward_features(z), pre_logits=True)
        raise NotImplementedError(
            f"{type(self.module).__name__} exposes no feature extractor; wrap it in a "
            "bench.api.Classifier subclass to use transfer or inversion tasks"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.normalize(x)
        if hasattr(self.module, "forward_features") and hasattr(self.module, "forward_head"):
            return self.module.forward_head(self.module.forward_features(z))
        return self.module(z)
