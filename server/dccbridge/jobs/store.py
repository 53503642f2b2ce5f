"""The job index (SQLite) and the result files. Survives restarts.

Result PNGs are written to a temporary name and renamed into place, and the row is
committed before anyone is told the job is done, so a crash never leaves a half result
that looks finished. A `*.part` file left by a crash mid-write is removed at open.

The index is the truth about which jobs exist: an unfinished job's row keeps its inputs
(`payload`, opaque bytes the API layer knows how to rebuild), options and attempt count,
so a restarted server runs what was queued and re-runs what was running.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    task_type TEXT NOT NULL,
    model_id TEXT NOT NULL,
    label TEXT NOT NULL,
    client TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER NOT NULL DEFAULT 0,
    finished_ms INTEGER NOT NULL DEFAULT 0,
    sequence INTEGER NOT NULL DEFAULT 0,
    task_json TEXT NOT NULL,
    result_json TEXT,
    failure_json TEXT,
    cancel_reason TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ms);
"""

# Columns added after the first release: (name, SQL type and default). Old databases get them by ALTER TABLE.
ADDED_COLUMNS = (
    ("payload", "BLOB"),                           # an unfinished job's inputs; dropped when it finishes
    ("options_json", "TEXT NOT NULL DEFAULT ''"),  # JobOptions as JSON
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),    # how many times a worker started the job
)
UNFINISHED = ("queued", "running")
# Every column but the inputs: what listing and looking up a job read.
INDEX_COLUMNS = ("job_id, state, task_type, model_id, label, client, created_ms, started_ms, finished_ms, sequence, "
                 "task_json, result_json, failure_json, cancel_reason, options_json, attempts")


class JobStore:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.results_dir = self.data_dir / "results"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.data_dir / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()
        self.removed_partial_files = self._remove_partial_files()

    def _migrate(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, sql_type in ADDED_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {sql_type}")

    def _remove_partial_files(self) -> int:
        """A crash between write and rename leaves `NAME.part`: never a result, so it goes."""
        removed = 0
        for part in self.results_dir.glob("*/*.part"):
            part.unlink(missing_ok=True)
            removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def result_path(self, job_id: str, name: str) -> Path:
        return self.results_dir / job_id / name

    def write_file(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def insert(self, row: dict) -> None:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(row.values()))

    def update(self, job_id: str, **fields) -> None:
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*fields.values(), job_id))

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            cur = self._db.execute(f"SELECT {INDEX_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
            row = cur.fetchone()
            return _as_dict(cur, row) if row else None

    def list(self, limit: int, offset: int, states: list[str] | None = None) -> list[dict]:
        query = f"SELECT {INDEX_COLUMNS} FROM jobs"
        params: list = []
        if states:
            query += f" WHERE state IN ({', '.join('?' for _ in states)})"
            params += states
        query += " ORDER BY created_ms DESC, rowid DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._lock:
            cur = self._db.execute(query, params)
            return [_as_dict(cur, row) for row in cur.fetchall()]

    def unfinished(self) -> list[dict]:
        """Jobs a previous process left queued or running, oldest first (the order they were accepted in)."""
        marks = ", ".join("?" for _ in UNFINISHED)
        with self._lock:
            cur = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_ms, rowid", UNFINISHED
            )
            return [_as_dict(cur, row) for row in cur.fetchall()]

    def finish(self, job_id: str, **fields) -> None:
        """Record a terminal state; the job's inputs are no longer needed."""
        self.update(job_id, payload=None, **fields)

    def count_by_state(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


def _as_dict(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {desc[0]: value for desc, value in zip(cursor.description, row)}
