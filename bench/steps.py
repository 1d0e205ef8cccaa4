"""``Steps``: the iteration count of an iterative attack, refused below 1 with the reason (torch-free),
and ``StepBudget``: an iterative attack's steps, step length and start, for the eps-reachability check.

``steps: Steps = Field(20, description=...)`` in a config; it dumps as the plain int it is.
"""
from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator


def check_steps(value: int) -> int:
    """Return ``value`` if it is at least 1; else raise ValueError saying why 0 steps measure nothing."""
    if value < 1:
        raise ValueError(f"steps must be >= 1 (got {value}): with no step an iterative attack returns its start "
                         "point (the clean input or a random point of the ball) and measures nothing")
    return value


Steps = Annotated[int, AfterValidator(check_steps)]


class StepBudget(NamedTuple):
    """What an iterative attack can cover in one run, for the plan's eps-reachability check.

    ``steps`` steps of length ``step_size`` in the ``norm`` ball of radius ``eps``, from a random
    point of the ball when ``random_start`` (else from the clean input); ``what`` names the part of
    a component it describes (e.g. ``"inner PGD"``), empty for a plain attack. Attack configs
    report theirs with ``step_budgets(threat)``, defense configs their training attacks' with
    ``step_budgets()``; :mod:`bench.runner.reach_check` applies :func:`bench.stats.check_reach`.
    """

    norm: str
    eps: float
    steps: int
    step_size: float
    random_start: bool
    what: str = ""


class ScaledStepsMixin:
    """For attack configs with ``steps``, ``step_size`` (None: scaled to the threat) and ``random_start``.

    :meth:`absolute_step` is ``step_size`` when given, else :func:`bench.stats.default_step_size`
    (Linf eps / 4, exactly P0's 2/255 at 8/255; L2 2.5 * eps / steps, Madry et al.);
    :meth:`step_budgets` is what the plan's eps-reachability check reads.
    """

    steps: int
    step_size: Any
    random_start: bool

    def absolute_step(self, threat: Any) -> float:
        """``step_size``, or the default scaled to ``threat``."""
        from bench.stats import default_step_size

        if self.step_size is not None:
            return float(self.step_size)
        return default_step_size(threat.norm, float(threat.eps), self.steps)

    def step_budgets(self, threat: Any) -> list[StepBudget]:
        """One run's steps, step length and start at ``threat``."""
        return [StepBudget(threat.norm, float(threat.eps), self.steps, self.absolute_step(threat), self.random_start)]
