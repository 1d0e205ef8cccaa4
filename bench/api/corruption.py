"""Corruption base: a common corruption (Hendrycks & Dietterich 2019) at severity 1..5.

``run(x, severity, generator) -> x_corrupted``; the final :meth:`Corruption.__call__` owns the
invariants: ``x`` is a float tensor (N, C, H, W) in [0, 1], ``severity`` an int in 1..5, every
random draw comes from ``generator`` (a CPU ``torch.Generator``, so a seed fixes the output), and
the result has the input's shape and dtype, is finite and lies in [0, 1] (values a rounding error
outside are clipped; more is an error of the implementation). The runner scores the corrupted
images with its own forward pass; a corruption never sees the model.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Optional

import torch

from bench.api.config import BaseConfig
from bench.errors import RobarenaError, UsageError

SEVERITIES = (1, 2, 3, 4, 5)
_BOX_TOLERANCE = 1e-5


class Corruption(ABC):
    """Base class of every corruption component; subclasses implement :meth:`run`.

    Args:
        config: the validated ``Config`` (default: ``Config()``).
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: Optional[BaseConfig] = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(self, x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
        """The corrupted images (N, C, H, W) of ``x`` (N, C, H, W) in [0, 1] at ``severity``."""

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
        name = type(self).__name__
        if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
            raise UsageError(f"corruption {name}: severity must be an int in 1..5, got {severity!r}")
        if not isinstance(generator, torch.Generator):
            raise UsageError(f"corruption {name}: generator must be a torch.Generator, got {type(generator).__name__}")
        if x.dim() != 4 or not x.is_floating_point():
            raise UsageError(f"corruption {name}: expected a float tensor (N, C, H, W), got {x.dtype} "
                             f"{tuple(x.shape)}")
        out = self.run(x, severity, generator)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise RobarenaError(f"corruption {name} returned {got}, expected shape {tuple(x.shape)}")
        if not torch.isfinite(out).all():
            raise RobarenaError(f"corruption {name} returned non-finite values at severity {severity}")
        if out.numel() and (out.min() < -_BOX_TOLERANCE or out.max() > 1 + _BOX_TOLERANCE):
            raise RobarenaError(f"corruption {name} left the box [0, 1] at severity {severity} "
                                f"(range [{float(out.min()):.4g}, {float(out.max()):.4g}])")
        return out.clamp(0.0, 1.0).to(device=x.device, dtype=x.dtype)
