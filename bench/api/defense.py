"""Defense base: trains (or wraps) a classifier deterministically for a seed."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

import torch
from torch import nn

from bench.api.config import BaseConfig, TrainConfig
from bench.api.data import DatasetSplits


@dataclass
class TrainContext:
    """What the runner gives a defense besides the data.

    ``device``: where to train. ``progress``: show a progress bar. ``generator``: the
    defense's own RNG (shuffling, random starts) seeded from the cell seed.
    ``save_epoch`` / ``load_epoch``: epoch checkpoints so an interrupted training resumes.
    ``build_model``: a fresh, seeded instance of the cell's architecture (for teachers etc.).
    """

    device: torch.device
    seed: int
    generator: torch.Generator
    progress: bool = False
    description: str = "train"
    save_epoch: Optional[Callable[[int, dict], None]] = None
    load_epoch: Optional[Callable[[], Optional[tuple[int, dict]]]] = None
    build_model: Optional[Callable[[], nn.Module]] = None
    log: dict[str, Any] = field(default_factory=dict)


class Defense(ABC):
    """Subclasses implement :meth:`fit`; :meth:`__call__` seeds, trains and returns an eval-mode model.

    Args:
        config: the subclass's ``Config`` (method parameters such as eps or beta).
        train: the suite's training budget (:class:`TrainConfig`).
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: Optional[BaseConfig] = None, train: Optional[TrainConfig] = None) -> None:
        self.config = config if config is not None else self.Config()
        self.train = train if train is not None else TrainConfig()

    def wrap(self, model: nn.Module) -> nn.Module:
        """Wrap the bare architecture (distillation, VIB, ...); default: unchanged.

        The runner rebuilds a cached model as ``wrap(build_model())`` before loading its
        checkpoint, so the wrapped module's ``state_dict`` must hold every trained weight.
        """
        return model

    @abstractmethod
    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        """Train ``model`` (already on ``ctx.device``) and return the defended classifier."""

    def __call__(self, build_model: Callable[[], nn.Module], data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        with torch.random.fork_rng(devices=_cuda_devices(ctx.device)):
            torch.manual_seed(ctx.seed)
            model = self.wrap(build_model()).to(ctx.device)
            ctx.build_model = build_model
            model = self.fit(model, data, ctx)
        return model.eval()


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []
