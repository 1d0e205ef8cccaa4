"""Rows as a pandas DataFrame: one row per trained model, one float column per metric.

Column names are display labels (``robust[pgd Linf 8/255]``). What each metric column *is*
travels with the frame in ``frame.attrs["columns"]`` (kind, component id, parameters, threat as
norm/eps/targeted) and each row's component parameters in ``frame.attrs["params"]``, so code
that reads a frame (claims) selects columns by parameters (:func:`find_columns`), never by
parsing a label. ``frame.attrs["counts"]`` holds each accuracy's count, ``{row_id: {column:
(correct, n)}}``, for the claims' exact tests (:func:`bench.api.claim.accuracy_counts`).
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from bench.rows.io import RowLike, validate_rows
from bench.rows.labels import attack_column, threat_label
from bench.rows.schema import Provenance, Row

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


def column_info(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """What each metric column of :func:`to_frame` is, as plain data (one dict per column)."""
    info: dict[str, dict[str, Any]] = {"clean": {"column": "clean", "kind": "clean"}}
    for row in rows:
        for a in row.attacks:
            info.setdefault(f"robust[{attack_column(a)}]", {
                "column": f"robust[{attack_column(a)}]", "kind": "robust", "id": a.attack_id, "label": a.label,
                "params": dict(a.params), "norm": a.threat.norm, "eps": a.threat.eps, "targeted": a.threat.targeted,
                "transfer": a.substitute is not None})
        for w in row.worst_case:
            info.setdefault(f"ensemble[{threat_label(w.threat)}]", {
                "column": f"ensemble[{threat_label(w.threat)}]", "kind": "worst", "norm": w.threat.norm,
                "eps": w.threat.eps, "targeted": w.threat.targeted})
        for group, results in (("probe", row.probe_results), ("task", row.task_results)):
            for m in results:
                name = f"{group}[{m.label}.{m.column}]"
                info.setdefault(name, {"column": name, "kind": group, "id": m.source_id, "label": m.label,
                                       "params": dict(m.params), "name": m.column})
    return list(info.values())


def _matches(info: dict[str, Any], wanted: dict[str, Any]) -> bool:
    import math

    for key, value in wanted.items():
        if value is None:
            continue
        have = info.get(key)
        if key == "eps":
            if have is None or not math.isclose(have, float(value), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif key == "params":
            if any(info.get("params", {}).get(k) != v for k, v in value.items()):
                return False
        elif have != value:
            return False
    return True


def find_columns(frame: pd.DataFrame, kind: str, **wanted: Any) -> list[str]:
    """Metric columns of ``kind`` ('clean', 'robust', 'worst', 'probe', 'task') whose description matches
    ``wanted`` (``id``, ``label``, ``norm``, ``eps`` (tolerance 1e-9), ``targeted``, ``transfer``, ``name``,
    ``params`` (a subset)); None values match anything. Uses ``frame.attrs["columns"]``."""
    infos = frame.attrs.get("columns")
    if infos is None:
        raise ValueError("this frame carries no column descriptions; build it with bench.rows.frame.to_frame")
    return [i["column"] for i in infos if i["kind"] == kind and i["column"] in frame.columns and _matches(i, wanted)]


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
    frame.attrs["columns"] = [i for i in column_info(rows) if i["column"] in metrics]
    frame.attrs["params"] = {row.row_id: {"dataset": dict(row.dataset_params), "model": dict(row.model_params),
                                          "defense": dict(row.defense_params)} for row in rows}
    frame.attrs["counts"] = {row.row_id: {name: (acc.correct, acc.n) for name, acc in row.accuracies().items()
                                          if acc is not None and name in metrics} for row in rows}
    return frame
