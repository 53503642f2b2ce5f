"""Job engine: bounded fair queue, one worker per device, events, results on disk, SQLite index."""

from .engine import Engine, EngineLimits, JobEvent, JobRecord, JobResult, ResultFile
from .store import JobStore

__all__ = ["Engine", "EngineLimits", "JobEvent", "JobRecord", "JobResult", "ResultFile", "JobStore"]
