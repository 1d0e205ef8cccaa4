"""Task base: per-trained-model work (transfer, inversion, ...) returning metrics and artifacts."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

import numpy as np
import torch
from torch import nn

from bench.api.config import BaseConfig
from bench.api.data import DatasetSplits
from bench.api.model_state import preserved_model_state
from bench.errors import RobarenaError


@dataclass
class TaskInput:
    """The trained model's data; ``load_dataset(id, params)`` loads other registered datasets;
    :meth:`component` builds other registered components (``registry``: the run's, default the
    installed plugins'); :meth:`progress_bar` shows the progress of a long loop."""

    data: DatasetSplits
    device: torch.device
    load_dataset: Optional[Callable[[str, dict], DatasetSplits]] = None
    progress: bool = False
    registry: Any = None

    def progress_bar(self, total: int, desc: str, unit: str = "step") -> Any:
        """A progress bar for a long loop of the task: a tqdm bar when the run shows progress and stderr is
        a terminal, else one that draws nothing (:mod:`bench.progress`); ``update(n)`` and ``close()``
        (or ``with``) either way::

            with inputs.progress_bar(cfg.steps, "inversion") as bar:
                for step in range(cfg.steps):
                    ...
                    bar.update(1)
        """
        from bench.progress import progress_bar

        return progress_bar(total, desc, unit=unit, enabled=self.progress)

    def component(self, kind: str, ident: str, params: Optional[dict] = None, seed: int = 0) -> Any:
        """The registered attack, probe or task ``ident`` configured with ``params``, seeded with ``seed``.

        A task that runs another plugin's component gets it here, never by importing that plugin,
        and declares it in :meth:`Task.dependencies` (``components={role: (kind, ident)}``, the
        params in ``settings``) so that its version is in the cell's cache key and provenance.
        """
        from pydantic import ValidationError

        from bench.errors import ConfigError, UsageError

        if kind not in ("attack", "probe", "task"):
            raise UsageError(f"TaskInput.component builds attacks, probes and tasks, not {kind!r}")
        if self.registry is None:
            from bench.registry import get_registry

            self.registry = get_registry()
        impl = self.registry.get(kind, ident).load()
        try:
            config = impl.Config(**(params or {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid parameters for {kind} {ident!r}: {exc}") from None
        return impl(config=config, seed=seed)


@dataclass(frozen=True)
class TaskDependency:
    """Something besides the model and the task's own parameters that decides a task's results.

    ``name``: what it is (e.g. ``"judge"``). ``components``: role -> (kind, id) of the registered
    components it builds or runs (e.g. ``{"model": ("model", "classics/small-cnn")}``); the runner
    adds their spec and distribution versions. ``settings``: JSON-able values that decide it
    (seed, training budget, a file's sha256, ...).
    """

    name: str
    components: dict[str, tuple[str, str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    """``metrics``: leaderboard columns (floats). ``artifacts``: name -> PNG bytes or numpy array."""

    metrics: dict[str, float]
    artifacts: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """Subclasses implement :meth:`run`; :meth:`__call__` runs it in eval mode and type-checks the result.

    The call leaves the model exactly as it found it: every submodule's mode, every parameter's
    ``requires_grad`` and ``.grad`` (:func:`bench.api.model_state.preserved_model_state`).
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: Optional[BaseConfig] = None, seed: int = 0) -> None:
        self.config = config if config is not None else self.Config()
        self.seed = int(seed)

    @classmethod
    def smoke_config(cls) -> BaseConfig:
        """A cheap configuration that runs on ``robarena mock-run``'s tiny data (default: the defaults).

        Mock-run trains on a few hundred 8x8 grey digits for one epoch; tasks whose defaults cost
        minutes, or that need data of another shape, override this (the paper defaults stay the
        ``Config`` defaults).
        """
        return cls.Config()

    @abstractmethod
    def run(self, model: nn.Module, inputs: TaskInput, generator: torch.Generator) -> TaskResult:
        """Run the task on a trained, eval-mode ``model``."""

    def columns(self) -> Optional[list[str]]:
        """The metric names this configured task returns, when its parameters decide them (e.g. one
        triple per configured target); None (default): the spec's ``columns``. The runner requires
        every declared column of a task's result (see :func:`declared_columns`)."""
        return None

    def dependencies(self) -> list[TaskDependency]:
        """What else this configured task builds or reads that decides its results (default: nothing).

        The runner puts each dependency, with the versions of its registered components, into
        the task cell's cache key (a change recomputes the cell) and into the record's meta
        (``dependencies``; the components' versions also join the row's spec and plugin versions).
        """
        return []

    def __call__(self, model: nn.Module, inputs: TaskInput) -> TaskResult:
        generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
        with preserved_model_state(model):
            result = self.run(model, inputs, generator)
        if not isinstance(result, TaskResult):
            raise RobarenaError(f"task {type(self).__name__} returned {type(result).__name__}, expected TaskResult")
        metrics = {}
        for key, value in result.metrics.items():
            try:
                metrics[key] = float(value)
            except (TypeError, ValueError):
                raise RobarenaError(f"task {type(self).__name__}: metric {key!r} is {value!r}, not a number") from None
        artifacts = {k: (v if isinstance(v, (bytes, bytearray)) else np.asarray(v)) for k, v in result.artifacts.items()}
        return TaskResult(metrics, artifacts)


def declared_columns(task: Task, spec_columns: list[str]) -> list[str]:
    """The columns ``task`` (configured) declares: its :meth:`Task.columns`, else its spec's ``columns``."""
    own = task.columns()
    return list(spec_columns) if own is None else list(own)
