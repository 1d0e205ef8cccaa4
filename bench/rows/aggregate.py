"""Aggregate rows over seeds: one entry per (dataset, model, defense) with mean, std and n_seeds.

Rows that differ only in their seed — same component ids, parameters and labels — form a group.
Every metric of the group's rows is summarized by :func:`bench.stats.seed_summary` (mean, sample
std, Student t interval over seeds); a metric a seed lacks (a failed cell) is left out of its
mean and counted in ``missing``, never imputed. The leaderboard shows these aggregates by
default when a suite has several seeds, and the per-seed rows on demand.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from bench.rows.schema import Row


@dataclass(frozen=True)
class AggregateRow:
    """One (dataset, model, defense) over its seeds; ``metrics``: display column -> SeedSummary."""

    group_id: str
    dataset: str
    model: str
    defense: str
    dataset_id: str
    model_id: str
    defense_id: str
    seeds: tuple[int, ...]
    row_ids: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def group_key(row: Row) -> str:
    """What must be equal for two rows to be seeds of one configuration (everything but the seed)."""
    return json.dumps([row.dataset, row.model, row.defense, row.dataset_id, row.model_id, row.defense_id,
                       row.dataset_params, row.model_params, row.defense_params], sort_keys=True, default=str)


def aggregate_rows(rows: Iterable[Row]) -> list[AggregateRow]:
    """Group rows by configuration (sorted by group id) and summarize every metric over the seeds."""
    from bench.stats import seed_summary

    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    out = []
    for members in groups.values():
        members.sort(key=lambda r: r.seed)
        first = members[0]
        seeds = tuple(r.seed for r in members)
        if len(set(seeds)) != len(seeds):
            dup = sorted({s for s in seeds if seeds.count(s) > 1})
            raise ValueError(f"rows {[r.row_id for r in members]} repeat seed(s) {dup} for one configuration")
        columns: list[str] = []
        for r in members:
            columns += [c for c in r.metric_columns() if c not in columns]
        metrics, missing = {}, {}
        for column in columns:
            values = [v for r in members if (v := r.metric_columns().get(column)) is not None]
            if values:
                metrics[column] = seed_summary(values)
            if len(values) < len(members):
                missing[column] = len(members) - len(values)
        flags: dict[str, int] = {}
        for r in members:
            for flag in r.flags:
                flags[flag] = flags.get(flag, 0) + 1
        out.append(AggregateRow(f"{first.dataset}/{first.model}/{first.defense}", first.dataset, first.model,
                                first.defense, first.dataset_id, first.model_id, first.defense_id, seeds,
                                tuple(r.row_id for r in members), metrics, missing, flags))
    return sorted(out, key=lambda a: a.group_id)


def aggregate_frame(rows: Iterable[Row]) -> Any:
    """Aggregates as a DataFrame: labels, ``n_seeds``, and per metric ``<col>`` (mean), ``<col>.std``."""
    import pandas as pd

    records = []
    for agg in aggregate_rows(rows):
        record: dict[str, Any] = {"group_id": agg.group_id, "dataset": agg.dataset, "model": agg.model,
                                  "defense": agg.defense, "n_seeds": agg.n_seeds,
                                  "seeds": ",".join(str(s) for s in agg.seeds)}
        for column, summary in agg.metrics.items():
            record[column] = summary.mean
            record[f"{column}.std"] = summary.std
        records.append(record)
    return pd.DataFrame.from_records(records)
