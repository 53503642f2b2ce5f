"""Job engine: bounded fair queue, one worker per device, events, results on disk, SQLite index."""

from .engine import Engine, EngineLimits, EngineObserver, JobEvent, JobRecord, JobResult, ResultFile
from .store import JobStore

__all__ = ["Engine", "EngineLimits", "EngineObserver", "JobEvent", "JobRecord", "JobResult", "ResultFile", "JobStore"]
