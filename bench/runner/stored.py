"""A finished run read back from a work directory: its rows and the cell records behind each.

Nothing is recomputed. ``suite=None`` picks the only suite with a finished run in the work
directory; a suite file's path (``my_suite.toml``) stands for the suite it names. Rows are
selected by exact id or by a unique substring of one, as in ``robarena show``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from bench.errors import LeaderboardError, UsageError
from bench.rows.schema import Row

PathLike = Union[str, Path]


def suite_name(suite: Optional[PathLike], workdir: PathLike) -> str:
    """The suite whose latest run to read: ``suite`` itself, the name inside a suite file, or the only
    suite with a finished run in ``workdir`` when ``suite`` is None."""
    if suite is not None:
        text = str(suite)
        if (Path(text) / "results.sqlite").is_file():
            raise UsageError(f"{text!r} is a work directory, not a suite; pass it as workdir={text!r}")
        if text.endswith(".toml") and Path(text).is_file():
            from bench.runner.suite import load_suite_file

            return load_suite_file(text).name
        return text
    from bench.store.results import DAMAGED, ResultsStore

    path = Path(workdir) / "results.sqlite"
    if not path.is_file():
        raise LeaderboardError(f"no results in {workdir!s}: run a suite first (or pass workdir=...)")
    store = ResultsStore(path, readonly=True)
    try:
        names = sorted({r["suite"] for r in store.list_runs() if r["finished"] and r["status"] != DAMAGED})
    finally:
        store.close()
    if len(names) != 1:
        have = ", ".join(names) or "none"
        raise UsageError(f"{len(names)} suites have finished runs in {workdir!s} ({have}); name one with suite=...")
    return names[0]


def select_row(rows: list[Row], wanted: Union[str, Row]) -> Row:
    """The row with id ``wanted`` (a string, or a Row's id), else the one row whose id contains it."""
    key = wanted.row_id if isinstance(wanted, Row) else str(wanted)
    matches = [r for r in rows if r.row_id == key] or [r for r in rows if key in r.row_id]
    if len(matches) != 1:
        ids = ", ".join(r.row_id for r in rows) or "none"
        raise UsageError(f"{len(matches)} rows match {key!r}; give a row id or a substring matching one of: {ids}")
    return matches[0]


@dataclass
class StoredRun:
    """The latest finished run of ``suite`` in ``workdir``: rows and each row's cell records."""

    workdir: Path
    suite: str
    suite_version: str
    rows: list[Row]
    records: dict[str, list[dict]]  # row_id -> the row's cell records, labelled as this run labelled them

    @classmethod
    def open(cls, workdir: PathLike = ".robarena", suite: Optional[PathLike] = None) -> "StoredRun":
        from bench.rows.corruption import with_mce
        from bench.runner.results import assemble_row, load_run_records
        from bench.store.cache import ArtifactCache

        workdir = Path(workdir)
        name = suite_name(suite, workdir)
        records, version = load_run_records(workdir, name)
        by_row: dict[str, list[dict]] = defaultdict(list)
        for rec in records:
            by_row[rec["meta"]["row_id"]].append(rec)
        cache = ArtifactCache(workdir / "cache")
        rows = with_mce([assemble_row(cache, recs, name, version) for _, recs in sorted(by_row.items())])
        return cls(workdir, name, version, rows, dict(by_row))

    def row(self, wanted: Union[str, Row]) -> Row:
        return select_row(self.rows, wanted)

    def stage_records(self, row: Row, stage: str) -> list[dict]:
        """The row's records of one stage ('train', 'clean', 'attack', 'probe', 'task', 'corruption'), in run order."""
        return [r for r in self.records[row.row_id] if r["stage"] == stage]

    def train_record(self, row: Row) -> dict[str, Any]:
        """The row's ok training record; a clear error when its training failed."""
        found = self.stage_records(row, "train")
        if not found:
            raise LeaderboardError(f"row {row.row_id!r} has no training record in this run of {self.suite!r}")
        rec = found[0]
        if rec["status"] != "ok":
            raise LeaderboardError(f"row {row.row_id!r}: its training failed ({rec.get('error')}); no model to load")
        return rec


def load_rows(suite: Optional[PathLike] = None, workdir: PathLike = ".robarena") -> list[Row]:
    """The rows of the latest finished run of ``suite`` in ``workdir`` (nothing is re-run)."""
    return StoredRun.open(workdir, suite).rows


def results(suite: Optional[PathLike] = None, workdir: PathLike = ".robarena", provenance: bool = True) -> Any:
    """The rows of the latest finished run of ``suite`` in ``workdir`` as a pandas DataFrame, as
    ``bench.run(...).to_pandas()`` gives them (nothing is re-run)."""
    from bench.rows.frame import to_frame

    return to_frame(load_rows(suite, workdir), provenance=provenance)
