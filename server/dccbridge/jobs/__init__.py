"""Job engine: bounded fair queue, one worker per device, events, results in a ResultStorage, a JobIndex
(SQLite embedded or PostgreSQL shared; docs/job-store.md)."""

from .engine import Engine, EngineLimits, EngineObserver, JobEvent, JobRecord, JobResult, ResultFile
from .store import JobStore, open_store

__all__ = ["Engine", "EngineLimits", "EngineObserver", "JobEvent", "JobRecord", "JobResult", "ResultFile", "JobStore",
           "open_store"]
