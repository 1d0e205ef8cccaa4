"""Dataset base class: tensors in [0, 1], NCHW float32, integer labels, and a fingerprint."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import torch

from bench.api.config import BaseConfig
from bench.errors import RobarenaError


def fingerprint(*tensors: torch.Tensor) -> str:
    """sha256 over the exact bytes, dtypes and shapes of the given tensors (first 16 hex digits)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class DatasetSplits:
    """Train and test splits. ``x_*``: (N, C, H, W) float32 in [0, 1]; ``y_*``: (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def subset(self, n_train: Optional[int] = None, n_test: Optional[int] = None) -> "DatasetSplits":
        """The first ``n`` examples of each split (fixed subsets keep numbers comparable)."""
        xt, yt = self.x_train[:n_train], self.y_train[:n_train]
        xs, ys = self.x_test[:n_test], self.y_test[:n_test]
        return DatasetSplits(xt, yt, xs, ys, self.num_classes, self.class_names, dict(self.meta),
                             fingerprint(xt, yt, xs, ys))


class Dataset(ABC):
    """Subclasses implement :meth:`load`; the final :meth:`__call__` validates and fingerprints."""

    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: Optional[BaseConfig] = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def load(self) -> DatasetSplits:
        """Return the splits (fingerprint may be left empty; the base computes it)."""

    def __call__(self) -> DatasetSplits:
        splits = self.load()
        name = type(self).__name__
        for split in ("train", "test"):
            x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
            if x.dim() != 4 or x.dtype != torch.float32:
                raise RobarenaError(f"dataset {name}: x_{split} must be float32 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise RobarenaError(f"dataset {name}: y_{split} must be int64 of shape ({x.shape[0]},)")
            if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
                raise RobarenaError(f"dataset {name}: x_{split} must lie in [0, 1]; put normalization inside the model")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= splits.num_classes):
                raise RobarenaError(f"dataset {name}: y_{split} has labels outside 0..{splits.num_classes - 1}")
        splits.fingerprint = fingerprint(splits.x_train, splits.y_train, splits.x_test, splits.y_test)
        return splits
