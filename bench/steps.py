"""``Steps``: the iteration count of an iterative attack, refused below 1 with the reason (torch-free).

``steps: Steps = Field(20, description=...)`` in a config; it dumps as the plain int it is.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def check_steps(value: int) -> int:
    """Return ``value`` if it is at least 1; else raise ValueError saying why 0 steps measure nothing."""
    if value < 1:
        raise ValueError(f"steps must be >= 1 (got {value}): with no step an iterative attack returns its start "
                         "point (the clean input or a random point of the ball) and measures nothing")
    return value


Steps = Annotated[int, AfterValidator(check_steps)]
