"""The web page's ranking: rows ordered by worst-case robust accuracy.

A row's *lowest worst case* is the smallest of its worst-case accuracies
(:attr:`Row.worst_case`, each the per-example worst case over every attack of the row at one
threat model) over its **bounded** threat models; unbounded threat models are sanity checks
that a working attack drives to ~0 % and would make every row tie, so they are left out. With
one threat model this is simply that threat model's worst case; with several it is the weakest
one, the number a reader cannot exceed by choosing a threat model.

Rows are ranked against rows that measured the same thing: the same dataset and the same set of
bounded threat models (a *rank group*; a suite usually has one group per dataset). Within a
group the highest lowest worst case ranks first; equal values share a rank (1, 1, 3); a row
whose worst case at any bounded threat model is missing (a failed cell) or has no examples is
not ranked (its number could only be an overestimate). Rows without bounded threat models are
not ranked either. Flagged rows are ranked: their flags are on the page beside the rank.

The default order of the page is group by group (datasets A-Z), ranked rows by rank (ties by
row id), then the group's unranked rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

from bench.rows.labels import threat_label
from bench.rows.schema import Accuracy, Row, WorstCase

RANK_RULE = ("rows are ranked within each dataset (and set of threat models) by their lowest worst-case robust "
             "accuracy over the bounded threat models: the per-example worst case over the suite's attacks at each "
             "threat model, then the lowest of those; ties share a rank; a row with a failed worst-case cell is "
             "not ranked")


@dataclass(frozen=True)
class Standing:
    """Where one row stands. ``worst`` is its lowest worst case (None: not ranked), at threat ``threat``
    (a label) out of ``threats`` bounded threat models; ``rank`` is 1-based within ``group`` (None when
    not ranked), ``group_size`` counts that group's ranked rows; ``position`` is the 0-based place in
    the page's default order."""

    row_id: str
    worst: Optional[Accuracy]
    threat: Optional[str]
    threats: tuple[str, ...]
    rank: Optional[int]
    group: str
    group_size: int
    position: int


def bounded(row: Row) -> list[WorstCase]:
    """The row's worst cases at threat models with a finite radius."""
    return [w for w in row.worst_case if w.threat.eps is not None and math.isfinite(w.threat.eps)]


def lowest_worst_case(row: Row) -> Optional[WorstCase]:
    """The row's lowest worst case over its bounded threat models; None when it has none, or when
    one of them is missing or has no examples (the true lowest could be that one)."""
    cases = bounded(row)
    if not cases or any(w.accuracy is None or w.accuracy.n == 0 for w in cases):
        return None
    return min(cases, key=lambda w: (w.accuracy.value, threat_label(w.threat)))  # type: ignore[union-attr]


def standings(rows: Iterable[Row]) -> list[Standing]:
    """Every row's standing, in the page's default order."""
    rows = list(rows)
    keys = {r.row_id: tuple(sorted(threat_label(w.threat) for w in bounded(r))) for r in rows}
    per_dataset: dict[str, set[tuple[str, ...]]] = {}
    for r in rows:
        per_dataset.setdefault(r.dataset, set()).add(keys[r.row_id])
    lowest = {r.row_id: lowest_worst_case(r) for r in rows}

    def group_name(row: Row) -> str:
        if len(per_dataset[row.dataset]) == 1:
            return row.dataset
        threats = keys[row.row_id]
        return f"{row.dataset}, threat models {', '.join(threats)}" if threats else f"{row.dataset}, no threat model"

    def order(row: Row) -> tuple:
        w = lowest[row.row_id]
        return (row.dataset, keys[row.row_id], w is None, -(w.accuracy.value if w is not None else 0.0),  # type: ignore[union-attr]
                row.row_id)

    ordered = sorted(rows, key=order)
    ranks: dict[str, Optional[int]] = {}
    sizes: dict[tuple[str, tuple[str, ...]], int] = {}
    previous: dict[tuple[str, tuple[str, ...]], tuple[float, int, int]] = {}  # group -> (value, rank, count)
    for row in ordered:
        w = lowest[row.row_id]
        group = (row.dataset, keys[row.row_id])
        if w is None:
            ranks[row.row_id] = None
            continue
        value = w.accuracy.value  # type: ignore[union-attr]
        last = previous.get(group)
        count = (last[2] if last else 0) + 1
        rank = last[1] if last is not None and last[0] == value else count
        previous[group] = (value, rank, count)
        ranks[row.row_id] = rank
        sizes[group] = count
    out = []
    for position, row in enumerate(ordered):
        w = lowest[row.row_id]
        group = (row.dataset, keys[row.row_id])
        out.append(Standing(
            row.row_id, None if w is None else w.accuracy, None if w is None else threat_label(w.threat),
            keys[row.row_id], ranks[row.row_id], group_name(row), sizes.get(group, 0), position))
    return out
