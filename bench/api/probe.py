"""Probe base: diagnostics reported next to robust accuracy.

A probe returns scalar leaderboard ``columns`` (plain floats; NaN when undefined),
arrays for plots and optional ``flags``: short names of attack-failure indicators that
fired (e.g. ``"zero-gradients"``), which the runner adds to the row's leaderboard flags.
Probes that certify robustness report ``certified`` accuracies (:class:`CertifiedAccuracy`):
the runner puts each beside the empirical robust accuracy at the same threat in
:attr:`bench.rows.schema.Row.certified` and flags the row when certified > empirical.
Probes that declare ``needs_attacks`` receive the attack stage's adversarial examples
instead of attacking again.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import nn

from bench.api.config import BaseConfig
from bench.api.model_state import preserved_model_state
from bench.errors import RobarenaError
from bench.threat import ThreatModel


@dataclass
class AttackRecord:
    """One attack cell's output on the evaluation subset: ``x_adv`` (N, C, H, W) and its threat model.

    ``transfer``: the examples were crafted on a substitute model (a black-box transfer attack).
    """

    x_adv: torch.Tensor
    threat: ThreatModel
    transfer: bool = False


@dataclass
class ProbeInput:
    """Everything a probe may read. ``x``/``y``: the evaluation subset (test split)."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    device: torch.device
    x_train: Optional[torch.Tensor] = None
    y_train: Optional[torch.Tensor] = None
    attacks: dict[str, AttackRecord] = field(default_factory=dict)
    batch_size: int = 256


@dataclass(frozen=True)
class CertifiedAccuracy:
    """A certified (lower-bound) accuracy at one threat model, reported in structured form.

    ``correct`` of ``n`` evaluation examples are certified robust in the ``norm`` ball of radius
    ``eps`` (``eps_display``: the radius as written, e.g. ``"8/255"``). ``classifier``: ``"base"``
    (the row's model itself; the runner compares it with the row's worst case over its attacks at the
    same threat) or ``"smoothed"`` (its Gaussian-smoothed version; the probe gives the empirical
    partner itself: ``empirical_correct`` of the same ``n`` examples survived the probe's own attack on
    the smoothed classifier, ``empirical_source`` saying which attack). Untargeted threats only.
    """

    norm: str
    eps: float
    eps_display: str
    correct: int
    n: int
    classifier: str = "base"
    empirical_correct: Optional[int] = None
    empirical_source: Optional[str] = None


@dataclass
class ProbeResult:
    """``scalars``: column -> float; ``arrays``: name -> array (plots); ``flags``: indicators that fired;
    ``certified``: certified accuracies (:class:`CertifiedAccuracy`), for probes that certify.

    A flag is a short text without ';', ',' or line breaks (exports join flags with them), e.g.
    ``"zero-gradients"`` or ``"attack-loss-not-converged:Linf 8/255"``.
    """

    scalars: dict[str, float]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    certified: list[CertifiedAccuracy] = field(default_factory=list)


def _check_certified(name: str, items: object) -> list[CertifiedAccuracy]:
    """Validated certified accuracies (bad entries are a :class:`RobarenaError` naming the probe)."""
    if not isinstance(items, (list, tuple)):
        raise RobarenaError(f"probe {name}: certified must be a list of CertifiedAccuracy, got {type(items).__name__}")
    out: list[CertifiedAccuracy] = []
    seen = set()
    for c in items:
        if not isinstance(c, CertifiedAccuracy):
            raise RobarenaError(f"probe {name}: certified entry {c!r} is not a CertifiedAccuracy")
        where = f"probe {name}: certified accuracy at {c.norm} {c.eps_display}"
        if c.norm not in ("Linf", "L2"):
            raise RobarenaError(f"{where}: norm must be 'Linf' or 'L2', got {c.norm!r}")
        if c.classifier not in ("base", "smoothed"):
            raise RobarenaError(f"{where}: classifier must be 'base' or 'smoothed', got {c.classifier!r}")
        try:
            eps = float(c.eps)
        except (TypeError, ValueError):
            eps = math.nan
        if not math.isfinite(eps) or eps <= 0:
            raise RobarenaError(f"{where}: eps must be a finite radius > 0, got {c.eps!r}")
        if not isinstance(c.eps_display, str) or not c.eps_display.strip():
            raise RobarenaError(f"{where}: eps_display must be the radius as written, got {c.eps_display!r}")
        counts = [c.correct, c.n] + ([c.empirical_correct] if c.empirical_correct is not None else [])
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in counts):
            raise RobarenaError(f"{where}: correct, n and empirical_correct must be integers >= 0, got {counts}")
        if c.correct > c.n or (c.empirical_correct is not None and c.empirical_correct > c.n):
            raise RobarenaError(f"{where}: a count exceeds n = {c.n} ({counts})")
        if c.classifier == "smoothed" and c.empirical_correct is not None and not c.empirical_source:
            raise RobarenaError(f"{where}: an empirical count needs its empirical_source (the attack that gave it)")
        key = (c.norm, eps, c.classifier)
        if key in seen:
            raise RobarenaError(f"{where}: reported twice for the {c.classifier} classifier")
        seen.add(key)
        out.append(CertifiedAccuracy(c.norm, eps, c.eps_display, int(c.correct), int(c.n), c.classifier,
                                     None if c.empirical_correct is None else int(c.empirical_correct),
                                     c.empirical_source))
    return out


def _check_flags(name: str, flags: object) -> list[str]:
    """Validated flags in first-seen order, duplicates dropped."""
    if isinstance(flags, str) or not isinstance(flags, (list, tuple)):
        raise RobarenaError(f"probe {name}: flags must be a list of strings, got {type(flags).__name__}")
    out: list[str] = []
    for flag in flags:
        if not isinstance(flag, str) or not flag.strip():
            raise RobarenaError(f"probe {name}: flag {flag!r} is not a non-empty string")
        if any(c in flag for c in ";,\n\r"):
            raise RobarenaError(f"probe {name}: flag {flag!r} may not contain ';', ',' or line breaks")
        if flag not in out:
            out.append(flag)
    return out


class Probe(ABC):
    """Subclasses implement :meth:`run`; :meth:`__call__` runs it in eval mode and type-checks the result.

    The call leaves the model exactly as it found it: every submodule's mode, every parameter's
    ``requires_grad`` and ``.grad`` (:func:`bench.api.model_state.preserved_model_state`).
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: Optional[BaseConfig] = None, seed: int = 0) -> None:
        self.config = config if config is not None else self.Config()
        self.seed = int(seed)

    @abstractmethod
    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        """Compute the probe on ``model`` (eval mode)."""

    def __call__(self, model: nn.Module, data: ProbeInput) -> ProbeResult:
        generator = torch.Generator(device=data.x.device).manual_seed(self.seed)
        with preserved_model_state(model):
            result = self.run(model, data, generator)
        name = type(self).__name__
        if not isinstance(result, ProbeResult):
            raise RobarenaError(f"probe {name} returned {type(result).__name__}, expected ProbeResult")
        scalars = {}
        for key, value in result.scalars.items():
            try:
                scalars[key] = float(value)
            except (TypeError, ValueError):
                raise RobarenaError(f"probe {name}: column {key!r} is {value!r}, not a number") from None
            if math.isinf(scalars[key]):
                scalars[key] = math.inf if scalars[key] > 0 else -math.inf
        arrays = {k: np.asarray(v) for k, v in result.arrays.items()}
        return ProbeResult(scalars, arrays, _check_flags(name, result.flags), _check_certified(name, result.certified))
