"""The job index in SQLite: the embedded default of a single server (one file in the data directory)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from .index import ADDED_COLUMNS, EVENTS_SCHEMA, SCHEMA, SqlJobIndex


class SqliteJobIndex(SqlJobIndex):
    kind = "sqlite"
    shared = False

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path).resolve()
        self.url = f"sqlite://{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")  # another process on the same file waits, not fails
        self._db.executescript(SCHEMA)
        self._db.executescript(EVENTS_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, sql_type in ADDED_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {sql_type}")
        self._backfill_history()

    def _execute(self, sql: str, params=()) -> tuple[list[dict], int]:
        cursor = self._db.execute(sql, tuple(params))
        if cursor.description is None:
            return [], cursor.rowcount
        names = [desc[0] for desc in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()], cursor.rowcount

    @contextlib.contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")  # takes the write lock now: two claims never interleave
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
