"""An SQLite file opened for writing when it can be, else read-only, with errors that name the
file and the fix (a directory or a file where the database should be, a damaged header, a
read-only work directory, a lock held too long).

``readonly=None`` (the default) opens for writing when it can and read-only otherwise (writes
then raise :class:`StoreError`); ``readonly=True`` only reads; ``readonly=False`` fails at once
unless the file can be written. A writable open runs the subclass's ``_migrate(conn)`` in one
write transaction.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from bench.errors import RobarenaError


class StoreError(RobarenaError):
    """The results store cannot be opened, read or written."""


def _readonly_error(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


class Database:
    def __init__(self, path: Path, readonly: Optional[bool] = None) -> None:
        self.path = Path(path)
        self.readonly = False
        self._check_location(create=readonly is not True)
        if readonly:
            self._open_readonly()
        else:
            try:
                self._open_writable()
            except _NotWritable:
                if readonly is False:
                    raise StoreError(self._readonly_message()) from None
                self._open_readonly()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create or upgrade the schema (a writable open calls it inside a write transaction)."""

    # ------------------------------------------------------------------ opening
    def _check_location(self, create: bool) -> None:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise StoreError(f"work directory {parent} is a file, not a directory; pass --workdir a directory "
                             "(it is created when missing)")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a results database; move it aside (e.g. "
                             f"`mv {self.path} {self.path}.bak`) or pass another --workdir")
        if create and not parent.exists():
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create work directory {parent}: {exc.strerror}; pass a --workdir "
                                 "you can write") from None

    def _open_writable(self) -> None:
        try:
            conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise (_NotWritable() if _readonly_error(exc) else self._damaged(exc)) from None
        self.conn = conn
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA journal_mode=WAL")
            self._transact(self._migrate, guard=False)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise (_NotWritable() if _readonly_error(exc) else self._damaged(exc)) from None

    def _open_readonly(self) -> None:
        if not self.path.is_file():
            raise StoreError(f"no results database at {self.path}: run a suite with --workdir {self.path.parent} "
                             "first")
        try:
            self.path.open("rb").close()
        except OSError as exc:
            raise StoreError(f"{self.path} cannot be read ({exc.strerror}); fix its permissions or run robarena as "
                             "a user who may read it") from None
        uri = self.path.resolve().as_uri()
        # immutable=1: a WAL database in a directory we cannot write (no -shm file can be made); nobody
        # without write access can change it under us
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(uri + query, uri=True, timeout=60.0, isolation_level=None)
            except sqlite3.DatabaseError as exc:
                raise self._damaged(exc) from None
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                conn.close()
                if "immutable" in query or not _readonly_error(exc):
                    raise self._damaged(exc) from None
                continue
            self.conn, self.readonly = conn, True
            return

    def _damaged(self, exc: Exception) -> StoreError:
        if "locked" in str(exc):
            return StoreError(f"{self.path} stayed locked by another process ({exc}); wait for the other robarena "
                              "command on this work directory to finish, then try again")
        return StoreError(
            f"{self.path} cannot be read as a results database ({exc}); robarena leaves it untouched: restore it "
            f"from a backup, or move it aside (`mv {self.path} {self.path}.damaged`) and run the suite again to "
            f"recompute its results (the artifact cache in {self.path.parent / 'cache'} is reused)")

    def _readonly_message(self) -> str:
        return (f"work directory {self.path.parent} is read-only ({self.path.name} cannot be written): make it "
                "writable, or copy it and pass the copy as --workdir (`robarena show`, `leaderboard build` and "
                "`store check` without --repair read it as it is)")

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ low level
    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn an SQLite error while reading into a :class:`StoreError` naming the file and the fix."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _transact(self, body: Callable[[sqlite3.Connection], Any], guard: bool = True) -> Any:
        """Run ``body(conn)`` in one write transaction, retrying while another writer holds the lock."""
        if self.readonly:
            raise StoreError(self._readonly_message())
        for attempt in range(20):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                result = body(self.conn)
                self.conn.execute("COMMIT")
                return result
            except sqlite3.DatabaseError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if not isinstance(exc, sqlite3.OperationalError) or "locked" not in str(exc) or attempt == 19:
                    if not guard:
                        raise
                    if _readonly_error(exc):
                        raise StoreError(self._readonly_message()) from None
                    raise self._damaged(exc) from None
                time.sleep(0.05 * (attempt + 1))
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, sql: str, args: tuple) -> None:
        self._transact(lambda conn: conn.execute(sql, args))


class _NotWritable(Exception):
    """The store could not be opened for writing (read-only file or directory)."""

