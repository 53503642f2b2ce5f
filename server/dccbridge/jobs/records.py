"""What the engine keeps per job: the record, its events and its result. Plain data."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from ..domain import JobOptions, JobState


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ResultFile:
    path: str
    role: str
    seed: int
    index: int
    parameters: str
    width: int
    height: int


@dataclass
class JobResult:
    images: list[ResultFile]
    metadata_json: str
    extra_json: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "images": [vars(image) for image in self.images],
                "metadata_json": self.metadata_json,
                "extra_json": self.extra_json,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "JobResult":
        data = json.loads(text)
        return cls([ResultFile(**image) for image in data["images"]], data["metadata_json"], data["extra_json"])


@dataclass
class JobEvent:
    job_id: str
    sequence: int
    time_ms: int
    kind: str  # queued | started | progress | result | failed | cancelled
    position: int = 0
    stage: str = ""
    step: int = 0
    total: int = 0
    preview_jpeg: bytes | None = None
    result: JobResult | None = None
    failure: dict | None = None  # code, message, field
    reason: str = ""


@dataclass
class JobRecord:
    job_id: str
    task_type: str
    model_id: str
    label: str
    client: str
    created_ms: int
    task_json: str
    request: object | None = None  # None once finished, and for finished jobs loaded from the index
    options: JobOptions = field(default_factory=JobOptions)
    payload_bytes: int = 0  # the size of the stored inputs (the queued-bytes budget counts it)
    attempts: int = 0  # how many times a worker started it, across restarts
    interrupted: bool = False  # stopped by shutdown: left queued in the store, not cancelled
    resumed: bool = False  # was running when a previous process stopped: runs before the lanes' turns
    remote: bool = False  # another node runs it: a snapshot read from the store (jobs/ownership.py)
    state: JobState = JobState.QUEUED
    started_ms: int = 0
    finished_ms: int = 0
    position: int = 0
    progress: JobEvent | None = None
    result: JobResult | None = None
    failure: dict | None = None
    cancel_reason: str = ""
    cancel_requested: bool = False
    results_removed_ms: int = 0  # retention removed its result files then (jobs/retention.py); 0 = kept
    results_removed_note: str = ""
    sequence: int = 0
    events: list[JobEvent] = field(default_factory=list)
    wakeups: set[threading.Event] = field(default_factory=set)  # one per watcher / long-poll of this job
