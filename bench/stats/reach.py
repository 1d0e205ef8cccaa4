"""Can an iterative attack reach the eps boundary? A plan-time check on steps × step size.

PGD-style attacks take ``steps`` steps of fixed length ``step_size`` in the threat's norm: Linf
attacks step by ``step_size * sign(grad)`` (every pixel moves by ``step_size``), L2 attacks by
``step_size * grad / ||grad||_2``. Projection onto the eps ball and the pixel box never lengthens
a step, so after ``steps`` steps the iterate is at most ``steps * step_size`` away from its start.

The rule (``check_reach``):

* **unreachable** when ``steps * step_size < eps``: even walking straight out of the clean point
  the attack never touches the boundary, where strong adversarial examples usually lie. It
  under-attacks; refuse the configuration.
* **marginal** when ``random_start`` and ``steps * step_size < 2 * eps``: a random start lies
  anywhere in the ball, and the far side of the boundary can then be up to ``2 * eps`` away (the
  diameter), so some starts cannot reach every boundary point. Worth a warning, not a refusal.
* **reachable** otherwise.

A relative slack of 1e-9 absorbs float rounding (e.g. ``10 * 0.03`` falls just short of ``0.3``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.stats._checks import StatisticsError, as_count

NORMS = ("Linf", "L2")
_RTOL = 1e-9


@dataclass(frozen=True)
class Reach:
    """Outcome of ``check_reach``: ``status`` is "reachable", "marginal" or "unreachable"."""

    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        """False only when the boundary cannot be reached at all."""
        return self.status != "unreachable"


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise StatisticsError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _norm(norm: Any) -> str:
    if norm not in NORMS:
        raise StatisticsError(f"norm must be one of {', '.join(NORMS)} (an eps ball has a boundary to reach), "
                              f"got {norm!r}")
    return norm


def check_reach(norm: str, eps: float, step_size: float, steps: int, random_start: bool = False) -> Reach:
    """Apply the rule of this module to one attack configuration."""
    norm = _norm(norm)
    eps = _positive(eps, "eps")
    step_size = _positive(step_size, "step_size")
    steps = as_count(steps, "steps")
    total = steps * step_size
    budget = f"steps × step_size = {steps} × {step_size:.4g} = {total:.4g}"
    if total < eps * (1 - _RTOL):
        return Reach("unreachable",
                     f"{budget} < eps = {eps:.4g} ({norm}): the attack can move at most {total:.4g} from the "
                     f"clean input and never reaches the eps boundary, so it under-attacks; use "
                     f"step_size >= eps / steps = {eps / max(steps, 1):.4g} or more steps")
    if random_start and total < 2 * eps * (1 - _RTOL):
        return Reach("marginal",
                     f"{budget} < 2 × eps = {2 * eps:.4g} ({norm}) with a random start: from a start near one "
                     f"side of the ball the far boundary (up to 2 × eps away) is out of reach; "
                     f"step_size >= 2 × eps / steps = {2 * eps / steps:.4g} removes this")
    return Reach("reachable")


def steps_reach_boundary(norm: str, eps: float, step_size: float, steps: int, random_start: bool = False) -> bool:
    """True unless ``check_reach`` finds the eps boundary unreachable (marginal counts as reachable)."""
    return check_reach(norm, eps, step_size, steps, random_start).ok


def reach_problem(norm: str, eps: float, step_size: float, steps: int, random_start: bool = False) -> str | None:
    """None when the configuration is fine; otherwise "unreachable: ..." or "marginal: ..." with the reason."""
    reach = check_reach(norm, eps, step_size, steps, random_start)
    return None if reach.status == "reachable" else f"{reach.status}: {reach.reason}"


def default_step_size(norm: str, eps: float, steps: int) -> float:
    """Step size scaled to the threat: Linf ``eps / 4`` (2/255 at eps 8/255, the usual CIFAR value),
    L2 ``2.5 * eps / steps`` (Madry et al., 2018)."""
    norm = _norm(norm)
    eps = _positive(eps, "eps")
    steps = as_count(steps, "steps")
    if steps < 1:
        raise StatisticsError("steps must be >= 1")
    return eps / 4 if norm == "Linf" else 2.5 * eps / steps
