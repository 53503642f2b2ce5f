"""The job store: an index of jobs (jobs/index.py: SQLite or PostgreSQL) and their result files
(jobs/result_storage.py: a directory, shared by the nodes of a cluster). The engine talks to this one object and
never knows which implementations are behind it. Survives restarts.

Result PNGs are put all-or-nothing (a temporary name renamed into place), and the row is committed before anyone
is told the job is done, so a crash never leaves a half result that looks finished. A `*.part` file left by a
crash mid-write is removed at open (on a shared directory only old ones: another node may be writing).

The index is the truth about which jobs exist: an unfinished job's row keeps its inputs (`payload`, opaque bytes
the API layer knows how to rebuild), options and attempt count, so a restarted server runs what was queued and
re-runs what was running. Each unfinished job has an owner (this store's node_id) with a lease; state writes are
fenced by it (jobs/ownership.py).
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from .index import ADDED_COLUMNS, INDEX_COLUMNS, SCHEMA, UNFINISHED, JobIndex, default_url, open_index
from .records import now_ms
from .result_storage import LocalResultStorage, ResultStorage

__all__ = ["ADDED_COLUMNS", "INDEX_COLUMNS", "SCHEMA", "UNFINISHED", "JobStore", "open_store"]

DEFAULT_LEASE_S = 20.0
SHARED_STALE_PART_S = 15 * 60  # a *.part file this old on a shared directory is nobody's write in progress


def default_node_id(shared: bool) -> str:
    """A single server owns everything in its own index ("local", so a restart takes back its jobs at once); a
    node of a cluster is unique per process unless named (--node-id) so that a restart recognises its jobs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}" if shared else "local"


class JobStore:
    def __init__(self, data_dir: Path, index: JobIndex | None = None, storage: ResultStorage | None = None,
                 node_id: str | None = None, lease_s: float = DEFAULT_LEASE_S):
        self.data_dir = Path(data_dir)
        self.index = index or open_index(default_url(self.data_dir))
        shared = self.index.shared
        self.storage = storage or LocalResultStorage(self.data_dir / "results",
                                                     stale_part_s=SHARED_STALE_PART_S if shared else 0.0)
        self.results_dir = getattr(self.storage, "root", None)
        self.node_id = node_id or default_node_id(shared)
        self.lease_ms = int(lease_s * 1000)
        self.removed_partial_files = self.storage.remove_partial()

    @property
    def shared(self) -> bool:
        return self.index.shared

    def describe(self) -> str:
        return f"{self.index.url}; results: {self.storage.describe()}"

    def close(self) -> None:
        self.index.close()

    # -- results ------------------------------------------------------------------------------------

    def put_result(self, job_id: str, name: str, data: bytes) -> str:
        """Store one result file; its url (a path for a directory) is what the result records."""
        return self.storage.put(f"{job_id}/{name}", data)

    # -- the index ------------------------------------------------------------------------------------

    def insert(self, row: dict) -> None:
        """A new job, owned by this node."""
        self.index.insert({**row, "owner": self.node_id, "lease_until_ms": now_ms() + self.lease_ms})

    def update(self, job_id: str, **fields) -> bool:
        """Fenced: nothing changes when another node holds the job now."""
        return self.index.update(job_id, fields, owner=self.node_id)

    def finish(self, job_id: str, **fields) -> bool:
        """Record a terminal state; the job's inputs are no longer needed."""
        return self.update(job_id, payload=None, **fields)

    def get(self, job_id: str) -> dict | None:
        return self.index.get(job_id)

    def list(self, limit: int, offset: int, states: list[str] | None = None, where=None) -> list[dict]:
        return self.index.list(limit, offset, states, where)

    def unfinished(self) -> list[dict]:
        return self.index.unfinished()

    def count_by_state(self) -> dict[str, int]:
        return self.index.count_by_state()

    # -- ownership and shared events (jobs/ownership.py) ------------------------------------------------

    def claim(self, include_own: bool) -> list[dict]:
        return self.index.claim(self.node_id, now_ms(), self.lease_ms, include_own)

    def renew(self) -> set[str]:
        return self.index.renew(self.node_id, now_ms() + self.lease_ms)

    def release(self) -> int:
        return self.index.release(self.node_id)

    def request_cancel(self, job_id: str, reason: str) -> bool:
        return self.index.request_cancel(job_id, reason)

    def cancel_requests(self) -> list[tuple[str, str]]:
        return self.index.cancel_requests(self.node_id)

    def add_event(self, event: dict) -> None:
        self.index.add_event(self.node_id, event)

    def events_after(self, job_id: str, after_sequence: int) -> list[dict]:
        return self.index.events_after(job_id, after_sequence)

    def latest_events(self, job_id: str) -> list[dict]:
        return self.index.latest_events(job_id)


def open_store(data_dir: Path, url: str | None = None, results_dir: Path | None = None,
               node_id: str | None = None, lease_s: float = DEFAULT_LEASE_S) -> JobStore:
    """The store `dccbridge serve --store URL --results-dir PATH` names (defaults: SQLite and results in
    data_dir)."""
    index = open_index(url) if url else None
    storage = None
    if results_dir is not None:
        shared = index.shared if index is not None else False
        storage = LocalResultStorage(results_dir, stale_part_s=SHARED_STALE_PART_S if shared else 0.0)
    return JobStore(data_dir, index, storage, node_id, lease_s)
