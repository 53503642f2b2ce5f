"""The job index in PostgreSQL: one index every node of a cluster shares (docs/job-store.md).

The statements are SqlJobIndex's; here they get `%s` marks, 64-bit integers and BYTEA. Claims lock the rows they
take with FOR UPDATE SKIP LOCKED, so two nodes claiming at once split the jobs instead of waiting or sharing.
psycopg is imported here only (`pip install 'dccbridge[cluster]'`).
"""

from __future__ import annotations

import contextlib
import logging
import time

from .index import ADDED_COLUMNS, EVENTS_SCHEMA, SCHEMA, SqlJobIndex, StoreError, redact

log = logging.getLogger("dccbridge.jobs")

INSTALL_HINT = "pip install 'dccbridge[cluster]' (or: pip install 'psycopg[binary]==3.3.6')"


def _postgres_types(ddl: str) -> str:
    # Times in ms do not fit 32 bits; SQLite's INTEGER is 64-bit already.
    return ddl.replace("INTEGER", "BIGINT").replace("BLOB", "BYTEA")


def _import_psycopg():
    try:
        import psycopg
    except ImportError as error:
        raise StoreError(f"a postgresql:// job store needs the psycopg package: {INSTALL_HINT}") from error
    return psycopg


class PostgresJobIndex(SqlJobIndex):
    kind = "postgresql"
    shared = True
    for_update = "FOR UPDATE SKIP LOCKED"
    insertion_order = "accepted"  # a BIGSERIAL: PostgreSQL has no rowid

    def __init__(self, url: str, connect_timeout_s: int = 10, reconnect_s: float = 30.0):
        super().__init__()
        self._psycopg = _import_psycopg()
        self.url = redact(url)
        self._dsn = url if not url.startswith("postgres://") else "postgresql://" + url[len("postgres://"):]
        self._connect_timeout_s = connect_timeout_s
        self._in_transaction = False
        self.reconnect_s = reconnect_s
        self._db = self._connect()
        with self._lock, self._transaction():
            # Several nodes may start at once: one creates the tables, the others wait for it.
            self._db.execute("SELECT pg_advisory_xact_lock(7041972)")
            self._db.execute(_postgres_types(SCHEMA))
            self._db.execute(_postgres_types(EVENTS_SCHEMA))
            self._db.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS accepted BIGSERIAL")
            for name, sql_type in ADDED_COLUMNS:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN IF NOT EXISTS {name} {_postgres_types(sql_type)}")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (state, owner)")
            self._backfill_history()

    def _connect(self):
        try:
            return self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout_s)
        except self._psycopg.OperationalError as error:
            raise StoreError(f"cannot reach the job store {self.url}: {str(error).strip()}") from None

    def _execute(self, sql: str, params=()) -> tuple[list[dict], int]:
        try:
            return self._execute_once(sql, params)
        except self._psycopg.OperationalError:
            if self._in_transaction or not (self._db.closed or self._db.broken):
                raise
        # The server restarted or the connection dropped: reconnect (for up to reconnect_s, while the lock holds
        # every other caller back), then run the statement again (each one here is idempotent or guarded).
        log.warning("the job store connection broke; reconnecting to %s", self.url)
        deadline = time.monotonic() + self.reconnect_s
        while True:
            try:
                self._db = self._connect()
                break
            except StoreError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
        log.warning("reconnected to the job store %s", self.url)
        return self._execute_once(sql, params)

    def _execute_once(self, sql: str, params) -> tuple[list[dict], int]:
        cursor = self._db.execute(sql.replace("?", "%s"), tuple(params))
        if cursor.description is None:
            return [], cursor.rowcount
        names = [desc.name for desc in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()], cursor.rowcount

    @contextlib.contextmanager
    def _transaction(self):
        self._in_transaction = True
        try:
            with self._db.transaction():
                yield
        finally:
            self._in_transaction = False

    def close(self) -> None:
        with self._lock:
            self._db.close()
