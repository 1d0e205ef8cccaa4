"""The rows P2's claims compare, found by defense id and training eps (never by label).

``standard``: the ``classics/standard`` rows. ``PGD-AT`` (P2's robust source, L2 eps 1 on CIFAR,
the data-scaled equivalent in the CPU suites): the ``classics/pgd-at`` rows at the smallest
training ``eps`` of the frame; ``PGD-AT-large`` (P2 Fig. 5's eps > 1 regime, where a suite trains
it): those at the largest, when the frame holds two. Rows at one eps are pooled (every dataset,
model and seed), as P2's claims compare training regimes. The names are role names for the
numbers, not the suite's labels.
"""
from __future__ import annotations

import math
from typing import Any

from bench.api.claim import ClaimDataMissing, component_params

STANDARD, ROBUST, ROBUST_LARGE = "standard", "PGD-AT", "PGD-AT-large"
EPS_ORDER = (STANDARD, ROBUST, ROBUST_LARGE)
STANDARD_ID, PGD_AT_ID = "classics/standard", "classics/pgd-at"


def _require(frame: Any) -> None:
    for name in ("row_id", "defense_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")


def roles(frame: Any) -> dict[str, Any]:
    """Role name -> rows, in increasing training eps: standard and PGD-AT always (else
    :class:`ClaimDataMissing`), PGD-AT-large when a second PGD-AT eps is present."""
    _require(frame)
    standard = frame[frame["defense_id"] == STANDARD_ID]
    if len(standard) == 0:
        raise ClaimDataMissing(f"no {STANDARD} row (defense {STANDARD_ID!r})")
    robust = frame[frame["defense_id"] == PGD_AT_ID]
    eps = [component_params(robust, rid, "defense").get("eps") for rid in robust["row_id"]]
    if any(not isinstance(e, (int, float)) for e in eps):
        raise ClaimDataMissing(f"a {PGD_AT_ID!r} row has no recorded eps")
    distinct: list[float] = []
    for e in sorted(float(x) for x in eps):
        if not distinct or not math.isclose(e, distinct[-1], rel_tol=1e-9, abs_tol=1e-12):
            distinct.append(e)
    if not distinct:
        raise ClaimDataMissing(f"no {ROBUST} row (defense {PGD_AT_ID!r})")
    if len(distinct) > 2:
        raise ClaimDataMissing(f"{len(distinct)} training eps of {PGD_AT_ID!r} ({distinct}); P2's claims compare "
                               f"the robust source and at most one larger eps")
    out = {STANDARD: standard}
    for name, wanted in zip((ROBUST, ROBUST_LARGE), distinct):
        out[name] = robust[[math.isclose(float(e), wanted, rel_tol=1e-9, abs_tol=1e-12) for e in eps]]
    return out


def rows_of(frame: Any, role: str) -> Any:
    """The rows of one role (:data:`STANDARD`, :data:`ROBUST` or :data:`ROBUST_LARGE`)."""
    found = roles(frame)
    if role not in found:
        raise ClaimDataMissing(f"no {role} row (defense {PGD_AT_ID!r} at a second, larger eps)")
    return found[role]
