"""SQLite results store: one record per cell, written atomically, safe for concurrent writers.

Tables: ``cells`` (key -> status, metrics payload, metadata, error) and ``runs`` (which cell
keys a run of a suite produced, so a leaderboard is built from exactly one run's cells).
WAL mode and a busy timeout let two processes write the same work directory at once.
"""
from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    meta TEXT NOT NULL,
    error TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    suite_version TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    cell_keys TEXT NOT NULL,
    labels TEXT
);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=60000")
        self.conn.executescript(SCHEMA)
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
        if "labels" not in columns:  # a work directory from before labels were kept per run
            self.conn.execute("ALTER TABLE runs ADD COLUMN labels TEXT")

    def close(self) -> None:
        self.conn.close()

    def _write(self, sql: str, args: Iterable[Any]) -> None:
        for attempt in range(20):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(sql, tuple(args))
                self.conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if "locked" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # ------------------------------------------------------------------ cells
    def put_cell(self, key: str, stage: str, cell_id: str, status: str, payload: dict, meta: dict,
                 error: Optional[str] = None) -> dict:
        record = {"key": key, "stage": stage, "cell_id": cell_id, "status": status, "payload": payload,
                  "meta": meta, "error": error, "created": utc_now()}
        self._write(
            "INSERT OR REPLACE INTO cells (key, stage, cell_id, status, payload, meta, error, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, stage, cell_id, status, json.dumps(payload, sort_keys=True), json.dumps(meta, sort_keys=True),
             error, record["created"]),
        )
        return record

    def get_cell(self, key: str) -> Optional[dict]:
        row = self.conn.execute(
            "SELECT key, stage, cell_id, status, payload, meta, error, created FROM cells WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return {"key": row[0], "stage": row[1], "cell_id": row[2], "status": row[3],
                "payload": json.loads(row[4]), "meta": json.loads(row[5]), "error": row[6], "created": row[7]}

    def update_labels(self, key: str, cell_id: str, meta: dict) -> None:
        """Rewrite a record's display labels (its results and creation date stay)."""
        self._write("UPDATE cells SET cell_id = ?, meta = ? WHERE key = ?", (cell_id, json.dumps(meta, sort_keys=True), key))

    def delete_cell(self, key: str) -> None:
        self._write("DELETE FROM cells WHERE key = ?", (key,))

    def count_cells(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, suite: str, suite_version: str, cell_keys: list[str]) -> None:
        self._write(
            "INSERT INTO runs (run_id, suite, suite_version, started, status, cell_keys) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, suite, suite_version, utc_now(), "running", json.dumps(cell_keys)),
        )

    def finish_run(self, run_id: str, status: str, cell_keys: list[str], labels: Optional[dict] = None) -> None:
        """Close a run with its cell keys and the display labels this run gave each cell
        (labels are not part of cache keys, so two suites may label one cell differently)."""
        self._write("UPDATE runs SET finished = ?, status = ?, cell_keys = ?, labels = ? WHERE run_id = ?",
                    (utc_now(), status, json.dumps(cell_keys), json.dumps(labels or {}), run_id))

    def latest_run(self, suite: str) -> Optional[dict]:
        row = self.conn.execute(
            "SELECT run_id, suite, suite_version, started, finished, status, cell_keys, labels FROM runs "
            "WHERE suite = ? AND finished IS NOT NULL ORDER BY finished DESC, rowid DESC LIMIT 1", (suite,)
        ).fetchone()
        if row is None:
            return None
        return {"run_id": row[0], "suite": row[1], "suite_version": row[2], "started": row[3],
                "finished": row[4], "status": row[5], "cell_keys": json.loads(row[6]),
                "labels": json.loads(row[7] or "{}")}
