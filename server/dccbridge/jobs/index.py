"""The job index: one interface, one SQL schema, two engines behind it (SQLite embedded, PostgreSQL shared).

`open_index(url)` picks the implementation from a URL: `sqlite:///PATH` (the default, `DATA_DIR/jobs.sqlite3`) or
`postgresql://USER[:PASSWORD]@HOST:PORT/DB`. Both run the same statements (written with `?` marks; the
PostgreSQL module turns them into `%s`), so a behaviour tested on one holds on the other.

Ownership: an unfinished job belongs to one process (`owner`, a node id) until `lease_until_ms`; the owner renews
its lease by a heartbeat, and any process may claim a job whose owner left it (`owner = ''`) or whose lease
expired. Writes of a job's state are fenced by owner: a process that lost a job cannot overwrite its new owner's
record. Events (queued, started, latest progress, terminal) are stored so that any process can show a job another
process runs. docs/job-store.md.
"""

from __future__ import annotations

import abc
import threading
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from .history import JobFilter, derived_columns, search_text, task_kind, where_clause

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
    ("owner", "TEXT NOT NULL DEFAULT ''"),         # the node that runs it ('' = nobody: any node may claim it)
    ("lease_until_ms", "INTEGER NOT NULL DEFAULT 0"),  # the owner's claim lapses then unless renewed
    ("cancel_requested", "INTEGER NOT NULL DEFAULT 0"),  # set by any node; the owner cancels (cancel_reason)
    ("search_text", "TEXT NOT NULL DEFAULT ''"),   # lowercased prompts + label: ListJobs text (jobs/history.py)
    ("task_kind", "TEXT NOT NULL DEFAULT ''"),     # txt2img | img2img | inpaint | depth2img | ...: ListJobs task types
    ("results_removed_ms", "INTEGER NOT NULL DEFAULT 0"),  # when retention removed its result files (0 = kept)
    ("results_removed_note", "TEXT NOT NULL DEFAULT ''"),  # why (jobs/retention.py)
)
# Indexes for ListJobs filters (a host lists its own client's jobs, newest first) and the retention sweep.
HISTORY_INDEXES = (
    "CREATE INDEX IF NOT EXISTS jobs_client_created ON jobs (client, created_ms)",
    "CREATE INDEX IF NOT EXISTS jobs_state_finished ON jobs (state, finished_ms)",
)

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body_json TEXT NOT NULL,
    preview BLOB,
    PRIMARY KEY (job_id, sequence)
);
"""

UNFINISHED = ("queued", "running")
# Every column but the inputs: what listing and looking up a job read.
INDEX_COLUMNS = ("job_id, state, task_type, model_id, label, client, created_ms, started_ms, finished_ms, sequence, "
                 "task_json, result_json, failure_json, cancel_reason, options_json, attempts, owner, lease_until_ms, "
                 "cancel_requested, results_removed_ms, results_removed_note")
EVENT_COLUMNS = "job_id, sequence, time_ms, kind, body_json, preview"
# Event kinds of which only the newest is kept: a watcher needs the current position and progress, not the past.
LATEST_ONLY_KINDS = ("queued", "progress")
_UNFINISHED_MARKS = ", ".join("?" for _ in UNFINISHED)


class StoreError(RuntimeError):
    """The job store cannot be opened or reached (a missing driver, a server that does not answer)."""


class JobIndex(abc.ABC):
    """What the engine needs from an index. Rows are dicts keyed by column name."""

    url: str  # where it lives, without a password (shown by capabilities and logs)
    kind: str  # "sqlite" | "postgresql"
    shared: bool  # several processes (nodes) may use it at once

    @abc.abstractmethod
    def insert(self, row: dict) -> None: ...

    @abc.abstractmethod
    def update(self, job_id: str, fields: dict, owner: str | None = None) -> bool:
        """Set fields; with owner, only while the job is that node's or nobody's. True when a row changed."""

    @abc.abstractmethod
    def get(self, job_id: str) -> dict | None: ...

    @abc.abstractmethod
    def list(self, limit: int, offset: int, states: list[str] | None = None,
             where: JobFilter | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def retention_candidates(self) -> list[dict]:
        """Succeeded jobs whose result files are still kept, oldest finished first (jobs/retention.py)."""

    @abc.abstractmethod
    def mark_results_removed(self, job_id: str, at_ms: int, note: str) -> bool: ...

    @abc.abstractmethod
    def unfinished(self) -> list[dict]: ...

    @abc.abstractmethod
    def count_by_state(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def claim(self, owner: str, now_ms: int, lease_ms: int, include_own: bool) -> list[dict]:
        """Take every unfinished job nobody holds (owner '' or lease expired; with include_own also the ones
        `owner` holds already) for `owner` until now_ms + lease_ms. Full rows (payload included), oldest first.
        Two nodes claiming at once never get the same job."""

    @abc.abstractmethod
    def renew(self, owner: str, until_ms: int) -> set[str]:
        """Extend the lease of owner's unfinished jobs; the ids it still holds."""

    @abc.abstractmethod
    def release(self, owner: str) -> int:
        """Owner stops: its unfinished jobs are nobody's (any node claims them at once)."""

    @abc.abstractmethod
    def request_cancel(self, job_id: str, reason: str) -> bool: ...

    @abc.abstractmethod
    def cancel_requests(self, owner: str) -> list[tuple[str, str]]:
        """(job_id, reason) of owner's unfinished jobs some node asked to cancel."""

    @abc.abstractmethod
    def add_event(self, owner: str, event: dict) -> None:
        """Store one event of a job owner holds (ignored when it holds it no longer)."""

    @abc.abstractmethod
    def events_after(self, job_id: str, after_sequence: int) -> list[dict]: ...

    @abc.abstractmethod
    def latest_events(self, job_id: str) -> list[dict]:
        """The newest event of each kind, oldest first."""

    @abc.abstractmethod
    def close(self) -> None: ...


class SqlJobIndex(JobIndex):
    """The statements both engines run. Subclasses connect, execute, and open a write transaction."""

    for_update = ""  # row locks for a claim ("FOR UPDATE SKIP LOCKED" where the engine has them)
    insertion_order = "rowid"  # ties between jobs created in the same millisecond

    def __init__(self):
        self._lock = threading.RLock()

    # -- what subclasses provide --------------------------------------------------------------

    @abc.abstractmethod
    def _execute(self, sql: str, params=()) -> tuple[list[dict], int]:
        """Run one statement (lock held by the caller); (rows, rowcount)."""

    @abc.abstractmethod
    def _transaction(self):
        """A context manager: one write transaction (lock held by the caller)."""

    def _run(self, sql: str, params=()) -> tuple[list[dict], int]:
        with self._lock:
            return self._execute(sql, params)

    # -- the interface ------------------------------------------------------------------------

    def insert(self, row: dict) -> None:
        row = derived_columns(row)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._run(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(row.values()))

    def update(self, job_id: str, fields: dict, owner: str | None = None) -> bool:
        assignments = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {assignments} WHERE job_id = ?"
        params = [*fields.values(), job_id]
        if owner is not None:
            sql += " AND owner IN ('', ?)"
            params.append(owner)
        return self._run(sql, params)[1] > 0

    def get(self, job_id: str) -> dict | None:
        rows, _ = self._run(f"SELECT {INDEX_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def list(self, limit: int, offset: int, states: list[str] | None = None,
             where: JobFilter | None = None) -> list[dict]:
        conditions, params = where_clause(states, where)
        query = f"SELECT {INDEX_COLUMNS} FROM jobs{conditions}"
        query += f" ORDER BY created_ms DESC, {self.insertion_order} DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return self._run(query, params)[0]

    def retention_candidates(self) -> list[dict]:
        return self._run(f"SELECT {INDEX_COLUMNS} FROM jobs WHERE state = 'succeeded' AND results_removed_ms = 0 "
                         f"ORDER BY finished_ms, {self.insertion_order}")[0]

    def mark_results_removed(self, job_id: str, at_ms: int, note: str) -> bool:
        return self._run("UPDATE jobs SET results_removed_ms = ?, results_removed_note = ? WHERE job_id = ? "
                         "AND state = 'succeeded'", (at_ms, note, job_id))[1] > 0

    def _backfill_history(self) -> None:
        """Rows written before the history columns existed get them (once: a filled row is skipped)."""
        with self._lock:
            rows, _ = self._execute("SELECT job_id, task_type, label, task_json FROM jobs WHERE task_kind = ''")
            for row in rows:
                self._execute("UPDATE jobs SET search_text = ?, task_kind = ? WHERE job_id = ?",
                              (search_text(row["task_json"], row["label"]),
                               task_kind(row["task_json"], row["task_type"]), row["job_id"]))
            for statement in HISTORY_INDEXES:
                self._execute(statement)

    def unfinished(self) -> list[dict]:
        """Jobs left queued or running, oldest first (the order they were accepted in)."""
        return self._run(f"SELECT {INDEX_COLUMNS}, payload FROM jobs WHERE state IN ({_UNFINISHED_MARKS}) "
                         f"ORDER BY created_ms, {self.insertion_order}", UNFINISHED)[0]

    def count_by_state(self) -> dict[str, int]:
        rows, _ = self._run("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        return {row["state"]: row["n"] for row in rows}

    def claim(self, owner: str, now_ms: int, lease_ms: int, include_own: bool) -> list[dict]:
        holder = "owner = '' OR lease_until_ms < ?" + (" OR owner = ?" if include_own else "")
        params = [*UNFINISHED, now_ms] + ([owner] if include_own else [])
        with self._lock, self._transaction():
            rows, _ = self._execute(
                f"SELECT {INDEX_COLUMNS}, payload FROM jobs WHERE state IN ({_UNFINISHED_MARKS}) AND ({holder}) "
                f"ORDER BY created_ms, {self.insertion_order} {self.for_update}", params)
            for row in rows:
                self._execute("UPDATE jobs SET owner = ?, lease_until_ms = ? WHERE job_id = ?",
                              (owner, now_ms + lease_ms, row["job_id"]))
                row["owner"], row["lease_until_ms"] = owner, now_ms + lease_ms
            return rows

    def renew(self, owner: str, until_ms: int) -> set[str]:
        with self._lock:
            self._execute(f"UPDATE jobs SET lease_until_ms = ? WHERE owner = ? AND state IN ({_UNFINISHED_MARKS})",
                          (until_ms, owner, *UNFINISHED))
            rows, _ = self._execute(f"SELECT job_id FROM jobs WHERE owner = ? AND state IN ({_UNFINISHED_MARKS})",
                                    (owner, *UNFINISHED))
        return {row["job_id"] for row in rows}

    def release(self, owner: str) -> int:
        return self._run(f"UPDATE jobs SET owner = '', lease_until_ms = 0 WHERE owner = ? "
                         f"AND state IN ({_UNFINISHED_MARKS})", (owner, *UNFINISHED))[1]

    def request_cancel(self, job_id: str, reason: str) -> bool:
        return self._run(f"UPDATE jobs SET cancel_requested = 1, cancel_reason = ? WHERE job_id = ? "
                         f"AND state IN ({_UNFINISHED_MARKS})", (reason, job_id, *UNFINISHED))[1] > 0

    def cancel_requests(self, owner: str) -> list[tuple[str, str]]:
        rows, _ = self._run(f"SELECT job_id, cancel_reason FROM jobs WHERE owner = ? AND cancel_requested = 1 "
                            f"AND state IN ({_UNFINISHED_MARKS})", (owner, *UNFINISHED))
        return [(row["job_id"], row["cancel_reason"] or "") for row in rows]

    def add_event(self, owner: str, event: dict) -> None:
        with self._lock:
            rows, _ = self._execute("SELECT owner FROM jobs WHERE job_id = ?", (event["job_id"],))
            if not rows or rows[0]["owner"] not in ("", owner):
                return  # another node runs this job now: its events are the truth
            marks = ", ".join("?" for _ in event)
            self._execute(f"INSERT INTO job_events ({', '.join(event)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                          tuple(event.values()))
            if event["kind"] in LATEST_ONLY_KINDS:
                self._execute("DELETE FROM job_events WHERE job_id = ? AND kind = ? AND sequence < ?",
                              (event["job_id"], event["kind"], event["sequence"]))

    def events_after(self, job_id: str, after_sequence: int) -> list[dict]:
        return self._run(f"SELECT {EVENT_COLUMNS} FROM job_events WHERE job_id = ? AND sequence > ? "
                         "ORDER BY sequence", (job_id, after_sequence))[0]

    def latest_events(self, job_id: str) -> list[dict]:
        return self._run(f"SELECT {EVENT_COLUMNS} FROM job_events WHERE job_id = ? AND sequence IN "
                         "(SELECT MAX(sequence) FROM job_events WHERE job_id = ? GROUP BY kind) ORDER BY sequence",
                         (job_id, job_id))[0]


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunparse(parts._replace(netloc=netloc))


def default_url(data_dir) -> str:
    return f"sqlite://{Path(data_dir).resolve() / 'jobs.sqlite3'}"  # an absolute path: sqlite:///...


def open_index(url: str) -> JobIndex:
    """The index a URL names: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (postgres:// too)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from .index_sqlite import SqliteJobIndex

        path = url.split("://", 1)[1]
        if not path.startswith("/"):
            raise ValueError(f"--store: a SQLite URL names a path: sqlite:///PATH (three slashes), got '{url}'")
        return SqliteJobIndex(path)
    if scheme in ("postgresql", "postgres"):
        from .index_postgres import PostgresJobIndex

        return PostgresJobIndex(url)
    raise ValueError(f"--store: unknown job store '{redact(url)}'; use sqlite:///PATH or "
                     "postgresql://USER@HOST:PORT/DB")
