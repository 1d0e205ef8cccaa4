"""SQLite results store: one record per cell, written atomically, safe for concurrent writers.

Tables: ``cells`` (key -> status, metrics payload, metadata, error, checksum) and ``runs``
(which cell keys a run of a suite produced, so a leaderboard is built from exactly one run's
cells, and the pid and host of the process that wrote it). WAL mode and a busy timeout let two
processes write the same work directory at once.

**Checksums.** Every cell record carries the sha256 of all its columns (key, stage, cell_id,
status, payload, meta with its display labels, error, created; see :func:`record_checksum`).
:meth:`ResultsStore.update_labels`, the one legitimate rewrite, recomputes it after verifying the
old one. :meth:`ResultsStore.get_cell` verifies it on every read: a mismatch (a digit flipped in
the file, an edit by hand) raises :class:`CorruptRecordError`, or with ``on_mismatch="missing"``
reads as absent so the runner recomputes the cell. It guards against damage and hand edits, not
against someone who recomputes the sha256 (a work directory holds no secret to key it with).
A store written before checksums existed is sealed, trusting its records as they are, the
first time it is opened for writing; until then a read-only open reads them unverified.

**Runs.** A run row records its writer's pid and host. Opening the store for writing marks
``running`` runs of this host whose process is gone (killed) as ``interrupted``; read-only
opens report them so without writing (:meth:`ResultsStore.list_runs`).

**Read-only work directories** are read as they are (:class:`bench.store.db.Database`:
``readonly=None``, the default, writes when it can; ``True`` only reads; ``False`` must write).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from bench.store.db import Database, StoreError
from bench.store.liveness import this_host, writer_gone

__all__ = ["ResultsStore", "StoreError", "CorruptRecordError", "record_checksum", "artifact_digests", "utc_now"]

TABLES = {
    "cells": """CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, cell_id TEXT NOT NULL, status TEXT NOT NULL,
    payload TEXT NOT NULL, meta TEXT NOT NULL, error TEXT, created TEXT NOT NULL, checksum TEXT)""",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, suite_version TEXT NOT NULL, started TEXT NOT NULL,
    finished TEXT, status TEXT NOT NULL, cell_keys TEXT NOT NULL, labels TEXT, pid INTEGER, host TEXT)""",
}
RUN_COLUMNS = {"labels": "TEXT", "pid": "INTEGER", "host": "TEXT"}  # added to runs tables of older stores
CELL_COLUMNS = ("key", "stage", "cell_id", "status", "payload", "meta", "error", "created")
CHECKSUM_FORMAT = "robarena-cell/1"
#: payload fields that hold artifact-cache digests (a string, or a dict of name -> digest)
ARTIFACT_FIELDS = ("checkpoint", "arrays", "artifacts", "epoch_checkpoints")  # epoch_checkpoints: probes over training
DAMAGED = "damaged"  # status of a run whose cell list cannot be read (set by `robarena store check --repair`)


class CorruptRecordError(StoreError):
    """A stored cell record does not match its checksum."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_checksum(key: str, stage: str, cell_id: str, status: str, payload: str, meta: str,
                    error: Optional[str], created: str) -> str:
    """sha256 over a record's stored columns (``payload`` and ``meta`` as their stored JSON text)."""
    text = json.dumps([CHECKSUM_FORMAT, key, stage, cell_id, status, payload, meta, error, created],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def artifact_digests(payload: dict) -> list[tuple[str, str]]:
    """``(field, digest)`` for every artifact a record's payload refers to."""
    out = []
    for name in ARTIFACT_FIELDS:
        value = payload.get(name)
        for label, digest in (value.items() if isinstance(value, dict) else [(name, value)]):
            if isinstance(digest, str) and digest:
                out.append((name if label == name else f"{name}.{label}", digest))
    return out


class ResultsStore(Database):
    def __init__(self, path: Path, readonly: Optional[bool] = None) -> None:
        super().__init__(path, readonly)
        with self._guard():
            self._cell_columns = {row[1] for row in self.conn.execute("PRAGMA table_info(cells)")}
            self._run_columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
        if not self._cell_columns or not self._run_columns:
            self.conn.close()
            raise StoreError(f"{self.path} is an SQLite database but not a robarena results store (it has no "
                             f"cells or runs table); pass the --workdir of a robarena run")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the tables; add the columns older stores lack (sealing their records); mark dead runs."""
        for sql in TABLES.values():
            conn.execute(sql)
        cell_columns = {row[1] for row in conn.execute("PRAGMA table_info(cells)")}
        if "checksum" not in cell_columns:  # a store from before checksums: trust its records once, now
            conn.execute("ALTER TABLE cells ADD COLUMN checksum TEXT")
            rows = conn.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM cells").fetchall()
            conn.executemany("UPDATE cells SET checksum = ? WHERE key = ?",
                             [(record_checksum(*row), row[0]) for row in rows])
        run_columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for name, kind in RUN_COLUMNS.items():
            if name not in run_columns:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
        gone = [run_id for run_id, pid, host in conn.execute(
            "SELECT run_id, pid, host FROM runs WHERE status = 'running'") if writer_gone(pid, host)]
        conn.executemany("UPDATE runs SET status = 'interrupted' WHERE run_id = ? AND status = 'running'",
                         [(run_id,) for run_id in gone])

    # ------------------------------------------------------------------ cells
    def put_cell(self, key: str, stage: str, cell_id: str, status: str, payload: dict, meta: dict,
                 error: Optional[str] = None) -> dict:
        record = {"key": key, "stage": stage, "cell_id": cell_id, "status": status, "payload": payload,
                  "meta": meta, "error": error, "created": utc_now()}
        columns = (key, stage, cell_id, status, json.dumps(payload, sort_keys=True), json.dumps(meta, sort_keys=True),
                   error, record["created"])
        self._write("INSERT OR REPLACE INTO cells (key, stage, cell_id, status, payload, meta, error, created, "
                    "checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (*columns, record_checksum(*columns)))
        return record

    def _select(self) -> str:
        checksum = "checksum" if "checksum" in self._cell_columns else "NULL"
        return f"SELECT {', '.join(CELL_COLUMNS)}, {checksum} FROM cells"

    def _decode(self, row: tuple) -> tuple[Optional[dict], Optional[str]]:
        """(record, None) for a row that verifies; (None, what is wrong) otherwise."""
        *columns, checksum = row
        if "checksum" in self._cell_columns and checksum != record_checksum(*columns):
            return None, "has no checksum" if checksum is None else "does not match its checksum"
        key, stage, cell_id, status, payload, meta, error, created = columns
        try:
            payload, meta = json.loads(payload), json.loads(meta)
        except (TypeError, ValueError):
            return None, "holds unreadable JSON"
        if not isinstance(payload, dict) or not isinstance(meta, dict):
            return None, "holds a payload or meta that is not a JSON object"
        return {"key": key, "stage": stage, "cell_id": cell_id, "status": status, "payload": payload,
                "meta": meta, "error": error, "created": created}, None

    def corrupt_message(self, key: str, cell_id: str, problem: str) -> str:
        return (f"cell record {cell_id!r} (key {key}) in {self.path} {problem}: it was changed outside robarena or "
                f"the file is damaged, so its results are not used. Recompute it: `robarena store check --workdir "
                f"{self.path.parent} --repair` deletes the broken record(s), then run the suite again")

    def get_cell(self, key: str, on_mismatch: str = "raise") -> Optional[dict]:
        """The verified record for ``key``, or None when there is none.

        A record failing its checksum raises :class:`CorruptRecordError` (``on_mismatch="raise"``)
        or, with ``on_mismatch="missing"``, reads as None after a warning, so that the caller
        recomputes and overwrites it (what the runner's cache lookup wants).
        """
        if on_mismatch not in ("raise", "missing"):
            raise ValueError(f"on_mismatch must be 'raise' or 'missing', not {on_mismatch!r}")
        with self._guard():
            row = self.conn.execute(f"{self._select()} WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        record, problem = self._decode(row)
        if problem is None:
            return record
        message = self.corrupt_message(key, row[2], problem)
        if on_mismatch == "raise":
            raise CorruptRecordError(message)
        warnings.warn(f"{message.split(': it was')[0]}: treated as missing, it is recomputed", RuntimeWarning,
                      stacklevel=2)
        return None

    def iter_cells(self) -> Iterator[tuple[str, str, Optional[dict], Optional[str]]]:
        """``(key, cell_id, record or None, problem or None)`` for every stored record."""
        with self._guard():
            rows = self.conn.execute(f"{self._select()} ORDER BY key").fetchall()
        for row in rows:
            record, problem = self._decode(row)
            yield row[0], row[2], record, problem

    def update_labels(self, key: str, cell_id: str, meta: dict) -> None:
        """Rewrite a record's display labels (its results and creation date stay) and its checksum.

        The old checksum is verified first, so a tampered record is never re-sealed.
        """
        meta_text = json.dumps(meta, sort_keys=True)

        def body(conn: sqlite3.Connection) -> None:
            row = conn.execute(f"{self._select()} WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            _, problem = self._decode(row)
            if problem is not None:
                raise CorruptRecordError(self.corrupt_message(key, row[2], problem))
            columns = (key, row[1], cell_id, row[3], row[4], meta_text, row[6], row[7])
            conn.execute("UPDATE cells SET cell_id = ?, meta = ?, checksum = ? WHERE key = ?",
                         (cell_id, meta_text, record_checksum(*columns), key))

        self._transact(body)

    def delete_cell(self, key: str) -> None:
        self._write("DELETE FROM cells WHERE key = ?", (key,))

    def count_cells(self) -> int:
        with self._guard():
            return int(self.conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, suite: str, suite_version: str, cell_keys: list[str]) -> None:
        self._write(
            "INSERT INTO runs (run_id, suite, suite_version, started, status, cell_keys, pid, host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, suite, suite_version, utc_now(), "running", json.dumps(cell_keys), os.getpid(), this_host()),
        )

    def finish_run(self, run_id: str, status: str, cell_keys: list[str], labels: Optional[dict] = None) -> None:
        """Close a run with its cell keys and the display labels this run gave each cell
        (labels are not part of cache keys, so two suites may label one cell differently)."""
        self._write("UPDATE runs SET finished = ?, status = ?, cell_keys = ?, labels = ? WHERE run_id = ?",
                    (utc_now(), status, json.dumps(cell_keys), json.dumps(labels or {}), run_id))

    def mark_run(self, run_id: str, status: str) -> None:
        """Set a run's status (``store check --repair`` sets damaged runs aside this way)."""
        self._write("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def _run_select(self) -> str:
        extra = [c if c in self._run_columns else "NULL" for c in ("labels", "pid", "host")]
        return ("SELECT run_id, suite, suite_version, started, finished, status, cell_keys, "
                f"{', '.join(extra)} FROM runs")

    def _run(self, row: tuple, strict: bool = True) -> dict:
        run = {"run_id": row[0], "suite": row[1], "suite_version": row[2], "started": row[3], "finished": row[4],
               "status": row[5], "pid": row[8], "host": row[9]}
        if run["status"] == "running" and writer_gone(run["pid"], run["host"]):
            run["status"] = "interrupted"  # a read-only store cannot record it
        try:
            keys, labels = json.loads(row[6]), json.loads(row[7] or "{}")
            if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys) and isinstance(labels, dict)):
                raise ValueError("not a list of keys and a labels object")
        except (TypeError, ValueError) as exc:
            if strict:
                raise StoreError(
                    f"run {row[0]} of suite {row[1]!r} in {self.path} has a damaged cell list ({exc}); "
                    f"`robarena store check --workdir {self.path.parent} --repair` sets it aside (the suite's "
                    "previous run is used), or run the suite again") from None
            keys, labels, run["problem"] = None, {}, f"has a damaged cell list ({exc})"
        run.update(cell_keys=keys, labels=labels)
        return run

    def latest_run(self, suite: str) -> Optional[dict]:
        with self._guard():
            row = self.conn.execute(
                f"{self._run_select()} WHERE suite = ? AND finished IS NOT NULL AND status != ? "
                "ORDER BY finished DESC, rowid DESC LIMIT 1", (suite, DAMAGED)).fetchone()
        return None if row is None else self._run(row)

    def list_runs(self, suite: Optional[str] = None) -> list[dict]:
        """Every run (of ``suite``), oldest first; a damaged one has ``cell_keys`` None and a ``problem``."""
        where, args = ("WHERE suite = ?", (suite,)) if suite is not None else ("", ())
        with self._guard():
            rows = self.conn.execute(f"{self._run_select()} {where} ORDER BY started, rowid", args).fetchall()
        return [self._run(row, strict=False) for row in rows]
