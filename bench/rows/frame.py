"""Rows as a pandas DataFrame: one row per trained model, one float column per metric.

Column names are display labels (``robust[pgd Linf 8/255]``). What each metric column *is*
travels with the frame in ``frame.attrs["columns"]`` (kind, component id, parameters, threat as
norm/eps/targeted) and each row's component parameters in ``frame.attrs["params"]``, so code
that reads a frame (claims) selects columns by parameters (:func:`find_columns`), never by
parsing a label. A certified accuracy (``certified[<probe label> <threat>]``, kind "certified", a
lower bound) comes with its empirical partner (``empirical[...]``, kind "empirical": the upper bound
from attacks on the same classifier); each description names its ``partner`` column. Common
corruptions (kind "corruption"): ``corruption[mean]`` (the mean corruption accuracy), ``corruption[mCE]``
and ``corruption[relative mCE]`` (ratios, not accuracies; only with a suite's baseline row), then
``corruption[<label> s<severity>]`` per corruption and severity.
Probes over training: ``probe[<label>.<column>@e<epoch>]`` (kind "probe" with its ``epoch``) per epoch a
suite asked for; :func:`find_columns` returns them only when asked for an ``epoch``.
``frame.attrs["counts"]`` holds each accuracy's count, ``{row_id: {column: (correct, n)}}``, for the
claims' exact tests (:func:`bench.api.claim.accuracy_counts`).
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from bench.rows.io import RowLike, validate_rows
from bench.rows.labels import attack_column, certified_column, corruption_column, metric_name, threat_label
from bench.rows.schema import Provenance, Row
from bench.rows.labels import published_column, published_partner

PUBLISHED_PREFIX = "published["  # a value published elsewhere (Row.published), beside its measured partner
LABEL_COLUMNS = ["row_id", "dataset", "model", "defense", "seed", "dataset_id", "model_id", "defense_id"]
METRIC_GROUPS = ("clean", "robust", "ensemble", "certified", "empirical", "corruption", "probe", "task")
ACCURACY_PREFIXES = ("clean", "robust[", "ensemble[", "certified[", "empirical[", "corruption[")
#: corruption columns that are ratios of errors, not accuracies (Hendrycks & Dietterich 2019)
CORRUPTION_RATIOS = ("corruption[mCE]", "corruption[relative mCE]")


def metric_group(column: str) -> str:
    """'robust[pgd Linf 0.1]' -> 'robust'."""
    return column.split("[", 1)[0]


def is_accuracy(column: str) -> bool:
    """Clean, robust, ensemble, certified, empirical and corruption columns are accuracies (fractions, shown
    as percentages); the (relative) mCE is not."""
    return column.startswith(ACCURACY_PREFIXES) and column not in CORRUPTION_RATIOS


def is_certified(column: str) -> bool:
    """``certified[...]`` columns: a certified accuracy (lower bound); tables show it as the interval
    ``[certified, empirical]`` with its ``empirical[...]`` partner (:func:`is_empirical`)."""
    return column.startswith("certified[")


def is_empirical(column: str) -> bool:
    """``empirical[...]`` columns: the empirical robust accuracy beside a certified one (upper bound)."""
    return column.startswith("empirical[")


def metric_column_names(rows: Iterable[Row]) -> list[str]:
    """Union of the rows' metric columns: grouped clean/robust/ensemble/probe/task, first-seen order."""
    rows = list(rows)
    names: list[str] = []
    for group in METRIC_GROUPS:
        for row in rows:
            for name in row.metric_columns():
                if metric_group(name) == group and name not in names:
                    names.append(name)
    return _beside_partners(names, rows)


def is_published(column: str) -> bool:
    """``published[...]`` columns: a value published elsewhere (a fraction, shown as a percentage)."""
    return column.startswith(PUBLISHED_PREFIX)


def is_percentage(column: str) -> bool:
    """Accuracies and published values: fractions shown as percentages."""
    return is_accuracy(column) or is_published(column)


def partner_column(row: Row, published: Any) -> str:
    """The measured column of ``row`` a published value is compared with: ``clean``, or the row's worst
    case at the same threat (norm, eps within 1e-9, targeting; matched on the typed threat, so
    ``8/255`` and ``0.0313725490196`` meet), else :func:`bench.rows.labels.published_partner`."""
    t = published.threat
    if t is not None:
        for w in row.worst_case:
            if w.threat.matches(t.norm, t.eps, t.targeted):
                return f"ensemble[{threat_label(w.threat)}]"
    return published_partner(published)


def _beside_partners(names: list[str], rows: list[Row]) -> list[str]:
    """``names`` with each published column right after the measured column it is compared with
    (:func:`bench.rows.labels.published_partner`), or after the last accuracy when the rows lack it."""
    partners: dict[str, str] = {}
    for row in rows:
        for p in row.published:
            partners.setdefault(published_column(p), partner_column(row, p))
    out = [name for name in names if name not in partners]
    for column, partner in partners.items():
        if partner in out:
            at = out.index(partner) + 1
            while at < len(out) and out[at] in partners:  # after the partner's earlier published columns
                at += 1
        else:
            at = max([i + 1 for i, name in enumerate(out) if is_percentage(name)], default=0)
        out.insert(at, column)
    return out


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
        for c in row.certified:
            for kind in ("certified", "empirical"):
                info.setdefault(f"{kind}[{certified_column(c)}]", {
                    "column": f"{kind}[{certified_column(c)}]", "kind": kind, "id": c.source_id, "label": c.label,
                    "classifier": c.classifier, "norm": c.threat.norm, "eps": c.threat.eps,
                    "targeted": c.threat.targeted, "partner": f"{'empirical' if kind == 'certified' else 'certified'}"
                                                              f"[{certified_column(c)}]"})
        summary = row.corruption_summary
        if summary is not None:
            for name, measure in (("mean", "mean accuracy"), ("mCE", "mCE"), ("relative mCE", "relative mCE")):
                info.setdefault(f"corruption[{name}]", {
                    "column": f"corruption[{name}]", "kind": "corruption", "measure": measure,
                    "corruptions": list(summary.corruptions), "severities": list(summary.severities),
                    "baseline": summary.baseline})
        for r in row.corruptions:
            info.setdefault(f"corruption[{corruption_column(r)}]", {
                "column": f"corruption[{corruption_column(r)}]", "kind": "corruption", "measure": "accuracy",
                "id": r.corruption_id, "label": r.label, "family": r.family, "severity": r.severity})
        for p in row.published:
            info.setdefault(published_column(p), {
                "column": published_column(p), "kind": "published", "metric": p.metric,
                "norm": p.threat.norm if p.threat else None, "eps": p.threat.eps if p.threat else None,
                "targeted": p.threat.targeted if p.threat else None, "evaluation": p.evaluation, "source": p.source,
                "partner": partner_column(row, p)})
        for group, results in (("probe", row.probe_results), ("task", row.task_results)):
            for m in results:
                name = f"{group}[{metric_name(m)}]"
                info.setdefault(name, {"column": name, "kind": group, "id": m.source_id, "label": m.label,
                                       "params": dict(m.params), "name": m.column})
                if m.epoch is not None:  # probes over training
                    info[name]["epoch"] = m.epoch
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
    """Metric columns of ``kind`` ('clean', 'robust', 'worst', 'published', 'certified', 'empirical', 'corruption',
    'probe', 'task') whose description matches ``wanted`` (``id``, ``label``, ``norm``, ``eps`` (tolerance 1e-9),
    ``targeted``, ``transfer``, ``name``, ``classifier``, ``params`` (a subset); corruption columns:
    ``measure`` ('accuracy', 'mean accuracy', 'mCE', 'relative mCE'), ``id``, ``label``, ``family``,
    ``severity``; published columns: ``metric`` ('clean', 'robust'), ``norm``, ``eps``, ``source``,
    ``evaluation``); None values match anything. Uses ``frame.attrs["columns"]``.
    Columns of probes over training match only ``epoch=<k>`` (``epoch=None``: the final model's)."""
    infos = frame.attrs.get("columns")
    if infos is None:
        raise ValueError("this frame carries no column descriptions; build it with bench.rows.frame.to_frame")
    epoch = wanted.pop("epoch", None)
    return [i["column"] for i in infos if i["kind"] == kind and i["column"] in frame.columns
            and i.get("epoch") == epoch and _matches(i, wanted)]


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
