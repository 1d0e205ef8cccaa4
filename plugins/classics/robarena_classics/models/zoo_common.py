"""Shared pieces of the model zoo: the normalization options and input-shape checks.

Every zoo model takes [0, 1] images (the datasets' range) and normalizes inside, so attack
budgets stay in pixel space. The normalization is a config option, ``mean``/``std``, that
defaults to *none* (identity): a registered model must run unchanged on every dataset the
planner pairs it with (1-channel digits as well as RGB images), and silently applying CIFAR-10
statistics to other data would be wrong. The papers' CIFAR protocols set
``mean = CIFAR10_MEAN, std = CIFAR10_STD`` in their suites (P3 Sec. 4 normalizes "according to
the sample mean and standard deviation of the training data").
"""
from __future__ import annotations

from typing import Optional, Sequence

from pydantic import Field, model_validator

from bench.api import BaseConfig
from bench.errors import UsageError

#: Per-channel mean and standard deviation of the CIFAR-10 training images in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

#: Smallest input side the CIFAR-style zoo models accept: each ends in an adaptive global
#: average pool, so any square (or rectangular) input of at least this side works.
MIN_SIZE = 8


class NormalizedConfig(BaseConfig):
    """Base of the zoo configs: optional per-channel normalization applied inside the model."""

    mean: Optional[tuple[float, ...]] = Field(
        None, description="per-channel mean subtracted inside the model (None: no normalization)")
    std: Optional[tuple[float, ...]] = Field(
        None, description="per-channel standard deviation divided inside the model (None: no normalization)")

    @model_validator(mode="after")
    def _check_mean_std(self) -> "NormalizedConfig":
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither")
        if self.mean is not None:
            if len(self.mean) != len(self.std):
                raise ValueError(f"mean has {len(self.mean)} entries but std has {len(self.std)}")
            if min(self.std) <= 0:
                raise ValueError(f"std must be positive, got {self.std}")
        return self


def check_input(name: str, input_shape: Sequence[int], config: NormalizedConfig,
                min_size: int = MIN_SIZE) -> tuple[int, int, int]:
    """Validate ``(C, H, W)`` against the model's minimum size and the normalization length."""
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"{name} needs input_shape (C, H, W) with positive sizes, got {shape}")
    c, h, w = shape
    if min(h, w) < min_size:
        raise UsageError(f"{name} needs inputs of at least {min_size}x{min_size}, got {h}x{w}")
    if config.mean is not None and len(config.mean) != c:
        raise UsageError(f"{name}: mean/std have {len(config.mean)} entries but the input has {c} channels")
    return c, h, w


def positive(value: int, name: str, what: str) -> int:
    """Raise a clear error for a non-positive count (num_classes, channels)."""
    if int(value) < 1:
        raise UsageError(f"{name}: {what} must be at least 1, got {value}")
    return int(value)
