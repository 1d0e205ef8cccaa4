"""The rows P2's claims compare, per source, found by ids and parameters (never by label).

Sources. A claim never pools rows of different sources: :func:`sources` splits a frame into one
sub-frame per (dataset id + parameters, model id + parameters) (``frame.attrs`` travel with each), and
:func:`per_source` runs a claim on each and combines their decisions with
:func:`bench.api.claim_stats.every` (the claim holds when it holds for every source); a source without
the rows or columns the claim needs is named in the detail, and none with them is
:class:`ClaimDataMissing`.

Roles within one source, by defense id and training eps: ``standard`` (the ``classics/standard``
rows, eps 0) and every ``classics/pgd-at`` training eps in increasing order (:func:`sweep`). The
robust source P2 transfers from, role ``PGD-AT`` (:data:`ROBUST`), is the PGD-AT rows at eps 1
(:data:`P2_ROBUST_EPS`, P2: "eps = 1 for CIFAR") where the source trains eps 1, else at the smallest
eps (the CPU suites scale the radius to their data); the other eps are named ``PGD-AT eps=<eps>``.
Rows of one role (seeds) are compared seed by seed. The names are role names for the numbers, not
the suite's labels.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

from bench.api.claim import DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, component_params
from bench.api.claim_stats import every
from bench.stats import Decision

STANDARD, ROBUST = "standard", "PGD-AT"
STANDARD_ID, PGD_AT_ID = "classics/standard", "classics/pgd-at"
#: P2's robust training radius on CIFAR (L2): the robust source when a source trains it
P2_ROBUST_EPS = 1.0


def _require(frame: Any) -> None:
    for name in ("row_id", "defense_id", "dataset_id", "model_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _key(params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def sources(frame: Any) -> dict[str, Any]:
    """Source name -> its rows: one sub-frame per (dataset id + parameters, model id + parameters), in order
    of first appearance. The name is ``<dataset>/<model>`` from the rows' labels, for display only (with
    the ids and parameters appended where two sources would share it)."""
    _require(frame)
    keys, names = [], {}
    for rid, d_id, m_id, d_label, m_label in zip(frame["row_id"], frame["dataset_id"], frame["model_id"],
                                                 frame.get("dataset", frame["dataset_id"]),
                                                 frame.get("model", frame["model_id"])):
        key = (d_id, _key(component_params(frame, rid, "dataset")), m_id, _key(component_params(frame, rid, "model")))
        keys.append(key)
        names.setdefault(key, f"{d_label}/{m_label}")
    shown = list(names.values())
    out = {}
    for key, name in names.items():
        if shown.count(name) > 1:
            name = f"{name} ({key[0]} {key[1]}, {key[2]} {key[3]})"
        out[name] = frame[[k == key for k in keys]]
    if not out:
        raise ClaimDataMissing("no rows")
    return out


def per_source(check: Callable[[Any], ClaimResult], frame: Any, level: float = DEFAULT_LEVEL) -> ClaimResult:
    """``check`` on each source's rows (:func:`sources`), combined by :func:`bench.api.claim_stats.every`.

    One source: its result, the source named on a last line. Several: holds when every source's
    decision holds (numbers prefixed ``<source>: ``); a source whose data are missing is left out and
    named; none with data is :class:`ClaimDataMissing`.
    """
    results, missing = {}, {}
    for name, rows in sources(frame).items():
        try:
            results[name] = check(rows)
        except ClaimDataMissing as exc:
            missing[name] = str(exc)
    if not results:
        raise ClaimDataMissing("; ".join(f"{name}: {why}" for name, why in missing.items()))
    left_out = ("\nleft out (missing data): " + "; ".join(f"{n}: {w}" for n, w in missing.items())) if missing else ""
    if len(results) == 1:
        (name, only), = results.items()
        only.detail += f"\nsource: {name}" + left_out
        return only
    parts = {name: Decision(r.verdict, r.test, r.statistic, r.p_value, r.level, r.detail.replace("\n", " | "),
                            r.p_reverse) for name, r in results.items()}
    numbers = {f"{name}: {k}": v for name, r in results.items() for k, v in r.numbers.items()}
    return ClaimResult.of(every(parts, level), numbers, f"per source: {', '.join(results)}" + left_out)


def _eps_of(rows: Any) -> list[float]:
    eps = [component_params(rows, rid, "defense").get("eps") for rid in rows["row_id"]]
    if any(isinstance(e, bool) or not isinstance(e, (int, float)) for e in eps):
        raise ClaimDataMissing(f"a {PGD_AT_ID!r} row has no recorded eps")
    return [float(e) for e in eps]


def _single_source(frame: Any) -> None:
    if len(sources(frame)) > 1:
        raise ClaimDataMissing(f"rows of {len(sources(frame))} sources ({sorted(sources(frame))}); P2's claims "
                               "compare rows of one source (run the claim through per_source)")


def robust_eps(values: Sequence[float]) -> float:
    """The robust source's training eps among ``values``: :data:`P2_ROBUST_EPS` if trained, else the smallest."""
    return next((e for e in values if _close(e, P2_ROBUST_EPS)), min(values))


def sweep(frame: Any) -> list[tuple[str, float, Any]]:
    """(role, training eps, rows) of one source in increasing eps: ``standard`` at 0 (else
    :class:`ClaimDataMissing`), then each PGD-AT eps (at least one, else :class:`ClaimDataMissing`)."""
    _require(frame)
    _single_source(frame)
    standard = frame[frame["defense_id"] == STANDARD_ID]
    if len(standard) == 0:
        raise ClaimDataMissing(f"no {STANDARD} row (defense {STANDARD_ID!r})")
    robust = frame[frame["defense_id"] == PGD_AT_ID]
    eps = _eps_of(robust)
    distinct: list[float] = []
    for e in sorted(eps):
        if not distinct or not _close(e, distinct[-1]):
            distinct.append(e)
    if not distinct:
        raise ClaimDataMissing(f"no {ROBUST} row (defense {PGD_AT_ID!r})")
    source = robust_eps(distinct)
    out = [(STANDARD, 0.0, standard)]
    for wanted in distinct:
        name = ROBUST if _close(wanted, source) else f"{ROBUST} eps={wanted:g}"
        out.append((name, wanted, robust[[_close(e, wanted) for e in eps]]))
    return out


def roles(frame: Any) -> dict[str, Any]:
    """Role name -> rows of one source, in increasing training eps (:func:`sweep`)."""
    return {name: rows for name, _, rows in sweep(frame)}


def rows_of(frame: Any, role: str) -> Any:
    """The rows of one role of one source (:data:`STANDARD`, :data:`ROBUST` or ``PGD-AT eps=<eps>``)."""
    found = roles(frame)
    if role not in found:
        raise ClaimDataMissing(f"no {role} row; this source has {list(found)}")
    return found[role]


def larger(frame: Any) -> list[tuple[str, float, Any]]:
    """(role, eps, rows) of the PGD-AT eps above the robust source's (P2 Fig. 5's eps > 1 regime)."""
    items = sweep(frame)
    source = next(e for name, e, _ in items if name == ROBUST)
    return [item for item in items if item[1] > source and not _close(item[1], source)]
