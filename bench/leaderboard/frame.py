"""Rows as a pandas DataFrame: one row per trained model, one float column per metric."""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from bench.leaderboard.rows import RowLike, validate_rows
from bench.leaderboard.schema import Provenance, Row

LABEL_COLUMNS = ["row_id", "dataset", "model", "defense", "seed", "dataset_id", "model_id", "defense_id"]
METRIC_GROUPS = ("clean", "robust", "ensemble", "probe", "task")
ACCURACY_PREFIXES = ("clean", "robust[", "ensemble[")


def metric_group(column: str) -> str:
    """'robust[pgd Linf 0.1]' -> 'robust'."""
    return column.split("[", 1)[0]


def is_accuracy(column: str) -> bool:
    """Clean, robust and ensemble columns are accuracies (fractions, shown as percentages)."""
    return column.startswith(ACCURACY_PREFIXES)


def metric_column_names(rows: Iterable[Row]) -> list[str]:
    """Union of the rows' metric columns: grouped clean/robust/ensemble/probe/task, first-seen order."""
    rows = list(rows)
    names: list[str] = []
    for group in METRIC_GROUPS:
        for row in rows:
            for name in row.metric_columns():
                if metric_group(name) == group and name not in names:
                    names.append(name)
    return names


def join_mapping(mapping: dict[str, Any]) -> str:
    """{'b': '2', 'a': '1'} -> 'a=1;b=2' (sorted, for flat exports)."""
    return ";".join(f"{k}={v}" for k, v in sorted(mapping.items()))


def flat_provenance(prov: Provenance) -> dict[str, Any]:
    """Provenance as 'prov.<field>' -> scalar; mappings joined with :func:`join_mapping`."""
    out = {}
    for name, value in prov.model_dump().items():
        out[f"prov.{name}"] = join_mapping(value) if isinstance(value, dict) else value
    return out


def to_frame(rows: Iterable[RowLike], provenance: bool = True) -> pd.DataFrame:
    """One row per model (sorted by row_id): labels, metric columns as float64 (NaN where missing),
    ``flags`` joined by ";", ``errors`` by newlines, ``artifacts`` as 'name=hash;...', and ``prov.*`` columns."""
    rows = validate_rows(rows)
    metrics = metric_column_names(rows)
    records = []
    for row in rows:
        record: dict[str, Any] = {name: getattr(row, name) for name in LABEL_COLUMNS}
        values = row.metric_columns()
        record.update({name: values.get(name) for name in metrics})
        record["flags"] = ";".join(row.flags)
        record["errors"] = "\n".join(row.errors)
        record["artifacts"] = join_mapping(row.artifacts)
        if provenance:
            record.update(flat_provenance(row.provenance))
        records.append(record)
    columns = LABEL_COLUMNS + metrics + ["flags", "errors", "artifacts"]
    if provenance:
        columns += [f"prov.{name}" for name in Provenance.model_fields]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in metrics:
        frame[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    frame["seed"] = frame["seed"].astype("int64")
    return frame
