"""``Steps``: the iteration count of an iterative attack, refused below 1 with the reason (torch-free),
and ``StepBudget``: an iterative attack's steps, step length and start, for the eps-reachability check.

``steps: Steps = Field(20, description=...)`` in a config; it dumps as the plain int it is.
"""
from __future__ import annotations

from typing import Annotated, NamedTuple

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
