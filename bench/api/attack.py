"""Attack base: ``run(model, x, y, threat, generator) -> x_adv``; the base owns the invariants.

The final :meth:`Attack.__call__`:

* checks inputs (shapes, dtype, box, labels) and that the attack supports the threat model;
* puts the model in eval mode and freezes its parameters' ``requires_grad`` for the duration,
  restoring every submodule's mode, ``requires_grad`` and ``.grad`` afterwards, also on errors
  (:func:`bench.api.model_state.preserved_model_state`: an attack never changes the model);
* gives ``run`` its own ``torch.Generator`` seeded from ``seed``: attacks neither reseed nor
  consume the global RNG;
* validates every returned example against the threat model (an exception, not an assert).

Scoring is not the attack's business: the runner does its own forward pass on ``x_adv``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Union

import torch
from torch import nn

from bench.api.config import BaseConfig
from bench.api.model_state import preserved_model_state
from bench.errors import ThreatModelViolation, UsageError
from bench.threat import ThreatModel


@dataclass
class AttackOutput:
    """``x_adv`` (N, C, H, W) plus optional per-example extras (e.g. ``distance`` with inf = failed)."""

    x_adv: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class Attack(ABC):
    """Base class of every attack.

    Args:
        config: the subclass's ``Config`` (steps, step size, restarts, ...).
        seed: seed of the attack's own generator (random starts, sampling).
    Class attributes:
        norms: threat-model norms supported (mirrors the spec's ``norms``).
        supports_targeted / supports_untargeted: which threat models it can run.
    """

    Config: ClassVar[type[BaseConfig]] = BaseConfig
    norms: ClassVar[tuple[str, ...]] = ("Linf", "L2")
    supports_targeted: ClassVar[bool] = False
    supports_untargeted: ClassVar[bool] = True

    def __init__(self, config: Optional[BaseConfig] = None, seed: int = 0) -> None:
        self.config = config if config is not None else self.Config()
        self.seed = int(seed)

    @classmethod
    def smoke_config(cls) -> BaseConfig:
        """A cheap configuration for conformance checks (default: the paper defaults).

        Attacks whose defaults cost thousands of steps override this so that registry-wide
        conformance tests stay fast; the invariants checked do not depend on the budget.
        """
        return cls.Config()

    @abstractmethod
    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> Union[torch.Tensor, AttackOutput]:
        """Return adversarial examples for ``x`` (N, C, H, W) with labels ``y`` (N,).

        For targeted threat models ``target`` (N,) holds the classes to reach.
        """

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                 target: Optional[torch.Tensor] = None) -> AttackOutput:
        name = type(self).__name__
        self._check_inputs(name, x, y, threat, target)
        generator = torch.Generator(device=x.device).manual_seed(self.seed)
        with preserved_model_state(model, freeze=True), torch.enable_grad():
            out = self.run(model, x.detach().clone(), y, threat, generator, target)
        if isinstance(out, torch.Tensor):
            out = AttackOutput(out)
        if not isinstance(out, AttackOutput):
            raise ThreatModelViolation(f"attack {name} returned {type(out).__name__}, expected a tensor or AttackOutput")
        out.x_adv = out.x_adv.detach()
        threat.check(out.x_adv, x, who=f"attack {name}")
        return out

    def _check_inputs(self, name: str, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                      target: Optional[torch.Tensor]) -> None:
        if threat.norm not in self.norms:
            raise UsageError(f"attack {name} supports norms {list(self.norms)}, not {threat.norm!r}")
        if threat.targeted and not self.supports_targeted:
            raise UsageError(f"attack {name} has no targeted mode; remove targeted=true")
        if not threat.targeted and not self.supports_untargeted:
            raise UsageError(f"attack {name} is targeted only; set targeted=true in its threat model")
        if x.dim() < 2 or not x.is_floating_point():
            raise UsageError(f"attack {name}: x must be a float batch (N, ...), got {x.dtype} {tuple(x.shape)}")
        if y.shape != (x.shape[0],):
            raise UsageError(f"attack {name}: y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        lo, hi = threat.bounds
        if x.numel() and (float(x.min()) < lo or float(x.max()) > hi):
            raise UsageError(f"attack {name}: inputs must lie in the box {threat.bounds}; normalize inside the model")
        if threat.targeted and (target is None or target.shape != y.shape):
            raise UsageError(f"attack {name}: a targeted threat model needs target labels of shape {tuple(y.shape)}")
