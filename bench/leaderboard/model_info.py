"""Export rows as RobustBench model-info JSON files (``robarena leaderboard export --format model-info``).

One file per row and bounded, untargeted Linf/L2 threat at which the row has a worst case:
``<dir>/<dataset>/<norm>/<model>__<defense>__seed<seed>.json`` (RobustBench's
``model_info/<dataset>/<threat>/<name>.json`` layout; ``__eps<eps>`` is added when a row has several
radii of one norm). ``clean_acc`` is the row's clean accuracy and ``autoattack_acc`` (and
``reported``) its worst case per example over the suite's attacks at that threat, in percent with two
decimals as RobustBench writes them. robarena adds fields RobustBench's readers ignore:
``threat_model`` (the norm), ``evaluation_eps`` (the radius evaluated), ``evaluation`` (the attacks
of the worst case), ``clean_evaluation`` and ``robarena`` (row id, counts, 95 % Clopper–Pearson
intervals and the provenance). :func:`bench.published.load_model_info` reads such a file back as
published values (clean and robust at the same threat).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from bench.errors import LeaderboardError
from bench.published import ModelInfo, model_info_for_row, write_model_info
from bench.rows.io import RowLike, validate_rows
from bench.rows.schema import Accuracy, Row


def _safe(text: str) -> str:
    """``text`` as a file-name part: letters, digits, '.', '-' and '_' kept, anything else '_'."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text).strip(".") or "_"


def _counts(acc: Accuracy) -> dict:
    return {"correct": acc.correct, "n": acc.n, "low": acc.low, "high": acc.high}


def model_info_entries(rows: Iterable[RowLike]) -> list[tuple[str, ModelInfo]]:
    """(relative path, :class:`ModelInfo`) per row and bounded untargeted Linf/L2 worst case of the rows."""
    out = []
    for row in validate_rows(rows):
        if row.clean is None or row.clean.n == 0:
            continue
        threats = [w for w in row.worst_case if w.accuracy is not None and not w.threat.targeted
                   and w.threat.norm in ("Linf", "L2") and w.threat.eps is not None]
        for w in threats:
            same_norm = sum(1 for o in threats if o.threat.norm == w.threat.norm) > 1
            name = f"{_safe(row.model)}__{_safe(row.defense)}__seed{row.seed}"
            if same_norm:
                name += f"__eps{_safe(w.threat.eps_display.replace('/', 'over'))}"
            out.append((f"{_safe(row.dataset)}/{w.threat.norm}/{name}.json", _entry(row, w)))
    return out


def _entry(row: Row, worst) -> ModelInfo:  # noqa: ANN001 - a WorstCase
    attacks = ", ".join(worst.attacks)
    assert row.clean is not None and worst.accuracy is not None  # filtered by the caller
    return model_info_for_row(
        row.model, clean=row.clean.value, worst_case=worst.accuracy.value, eps=worst.threat.eps_display,
        architecture=row.model_id, dataset=row.dataset, venue="robarena",
        footnote=(f"robarena row {row.row_id}: worst case per example over {attacks} at {worst.threat.norm} "
                  f"{worst.threat.eps_display} on {worst.accuracy.n} test examples"),
        threat_model=worst.threat.norm, evaluation_eps=worst.threat.eps_display,
        evaluation=f"robarena worst case over {attacks}", clean_evaluation=f"first {row.clean.n} test examples",
        robarena={"row_id": row.row_id, "defense": row.defense, "defense_id": row.defense_id, "seed": row.seed,
                  "clean": _counts(row.clean), "robust": _counts(worst.accuracy), "attacks": list(worst.attacks),
                  "provenance": row.provenance.model_dump()})


def export_model_info(rows: Iterable[RowLike], directory: str | Path) -> list[Path]:
    """Write :func:`model_info_entries` under ``directory`` (created); the paths written."""
    root = Path(directory)
    entries = model_info_entries(rows)
    if not entries:
        raise LeaderboardError("no row has a clean accuracy and a worst case at a bounded, untargeted Linf or L2 "
                               "threat: nothing to write in RobustBench's model-info form")
    written = []
    for relative, info in entries:
        path = root / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_model_info(info, path))
        except OSError as exc:
            raise LeaderboardError(f"cannot write {path}: {exc.strerror}; give -o a writable directory") from None
    return written
