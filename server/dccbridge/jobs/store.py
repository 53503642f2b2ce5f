"""The job index (SQLite) and the result files. Survives restarts.

Result PNGs are written to a temporary name and renamed into place, and the row is
committed before anyone is told the job is done, so a crash never leaves a half result
that looks finished.
"""

from __future__ import annotations

import json
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
            cur = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
            row = cur.fetchone()
            return _as_dict(cur, row) if row else None

    def list(self, limit: int, offset: int, states: list[str] | None = None) -> list[dict]:
        query = "SELECT * FROM jobs"
        params: list = []
        if states:
            query += f" WHERE state IN ({', '.join('?' for _ in states)})"
            params += states
        query += " ORDER BY created_ms DESC, rowid DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._lock:
            cur = self._db.execute(query, params)
            return [_as_dict(cur, row) for row in cur.fetchall()]

    def fail_unfinished(self, now_ms: int) -> int:
        """Jobs left queued/running by a previous process are failed: their inputs are gone."""
        failure = json.dumps(
            {"code": "ABORTED", "message": "the server stopped before this job finished; submit it again", "field": ""}
        )
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state = 'failed', finished_ms = ?, failure_json = ?, sequence = sequence + 1 "
                "WHERE state IN ('queued', 'running')",
                (now_ms, failure),
            )
            return cur.rowcount


def _as_dict(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {desc[0]: value for desc, value in zip(cursor.description, row)}
