"""The job engine: a bounded queue that is fair between clients, one worker per device,
events per job, results on disk before "done", cancellation and graceful shutdown.

Thread model: callers (gRPC/HTTP handler threads) submit, cancel and wait; one worker
thread runs ops. One condition variable guards all job state and wakes every waiter
(long-polls, Watch streams, the worker) on any change. Compatible jobs may run as one
cross-request batch (jobs/batching.py): the worker then runs each of them in a thread of
its own and waits for all.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from .. import imaging
from ..domain import JobOptions, JobState, OpOutput, to_plain
from ..errors import Cancelled, DccError, JobNotFound, QueueFull, ShuttingDown, status_name
from .batching import BatchKeys, run_together, select_batch
from .store import JobStore

log = logging.getLogger("dccbridge.jobs")

TERMINAL_KINDS = ("result", "failed", "cancelled")
FINISHED_JOBS_KEPT_IN_MEMORY = 256


def now_ms() -> int:
    return int(time.time() * 1000)


class OpRunner(Protocol):
    def check(self, request) -> None: ...
    def run(self, request, ctx) -> OpOutput: ...
    def batch_key(self, request) -> object | None: ...
    def batch_images(self, request) -> int: ...
    def batch_capacity(self, request) -> int: ...


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
    request: object | None = None  # None for jobs loaded from the index after a restart
    options: JobOptions = field(default_factory=JobOptions)
    state: JobState = JobState.QUEUED
    started_ms: int = 0
    finished_ms: int = 0
    position: int = 0
    progress: JobEvent | None = None
    result: JobResult | None = None
    failure: dict | None = None
    cancel_reason: str = ""
    cancel_requested: bool = False
    sequence: int = 0
    events: list[JobEvent] = field(default_factory=list)


@dataclass(frozen=True)
class EngineLimits:
    max_queue: int = 16
    batch_window_ms: int = 30  # how long the worker waits for company for a job that could batch; 0 = no batching
    max_batch: int = 8         # most jobs in one batch (the memory estimate may allow fewer)


class _JobContext:
    """The OpContext the engine hands to an op."""

    def __init__(self, engine: "Engine", job: JobRecord, batch=None):
        self._engine = engine
        self._job = job
        self.batch = batch  # ops.rendezvous.Member when the job runs in a batch
        self.preview_every = job.options.preview_every_n_steps
        self.preview_max_size = job.options.preview_max_size or 256

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_requested

    def report(self, stage: str, step: int, total: int, preview: np.ndarray | None = None) -> None:
        jpeg = None
        if preview is not None:
            h, w = preview.shape[:2]
            scale = min(1.0, self.preview_max_size / max(h, w))
            if scale < 1.0:
                preview = imaging.resize(preview, max(1, round(w * scale)), max(1, round(h * scale)))
            jpeg = imaging.encode_jpeg(preview)
        self._engine._emit(self._job, "progress", stage=stage, step=step, total=total, preview_jpeg=jpeg)


class Engine:
    def __init__(self, store: JobStore, ops: OpRunner, limits: EngineLimits = EngineLimits(), server_version: str = ""):
        self.store = store
        self.ops = ops
        self.limits = limits
        self.server_version = server_version
        self._cond = threading.Condition()
        self._jobs: dict[str, JobRecord] = {}
        self._finished_order: collections.deque[str] = collections.deque()
        self._queues: "collections.OrderedDict[str, collections.deque[JobRecord]]" = collections.OrderedDict()
        self._running: list[JobRecord] = []
        self._stopping = False
        self._recent_durations: collections.deque[float] = collections.deque(maxlen=20)
        self._worker = threading.Thread(target=self._work, name="dccbridge-worker", daemon=True)
        recovered = store.fail_unfinished(now_ms())
        if recovered:
            log.warning("marked %d job(s) left unfinished by a previous run as failed", recovered)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop taking work, cancel what waits, let the running job finish within grace_s."""
        with self._cond:
            self._stopping = True
            for job in self._ordered_queue():
                self._finish_cancelled(job, "the server is shutting down; submit it again")
            self._queues.clear()
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(grace_s)
        if self._worker.is_alive():
            with self._cond:
                for job in self._running:
                    job.cancel_requested = True
                    job.cancel_reason = "the server shut down before the job finished"
            self._worker.join(60)

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- the API the faces call ------------------------------------------------------------

    def submit(self, request, options: JobOptions, task_json: str, client: str = "") -> JobRecord:
        if self._stopping:
            raise ShuttingDown()
        self.ops.check(request)  # validate before queueing: a bad request never becomes a job
        with self._cond:
            if self._stopping:
                raise ShuttingDown()
            waiting = sum(len(q) for q in self._queues.values())
            if waiting >= self.limits.max_queue:
                raise QueueFull(self.limits.max_queue, self._retry_after_s(waiting))
            job = JobRecord(
                job_id=uuid.uuid4().hex,
                task_type=request.task_type.value,
                model_id=getattr(request, "model_id", "") or "",
                label=options.label,
                client=client or "anonymous",
                created_ms=now_ms(),
                task_json=task_json,
                request=request,
                options=options,
            )
            self.store.insert(
                {
                    "job_id": job.job_id,
                    "state": job.state.value,
                    "task_type": job.task_type,
                    "model_id": job.model_id,
                    "label": job.label,
                    "client": job.client,
                    "created_ms": job.created_ms,
                    "task_json": task_json,
                }
            )
            self._jobs[job.job_id] = job
            self._queues.setdefault(job.client, collections.deque()).append(job)
            self._emit_positions()
            self._cond.notify_all()
            return job

    def get(self, job_id: str) -> JobRecord:
        with self._cond:
            return self._lookup(job_id)

    def wait(self, job_id: str, after_sequence: int, timeout_s: float) -> JobRecord:
        """Long-poll: return once the job has an event newer than after_sequence, or at the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            job = self._lookup(job_id)
            while job.sequence <= after_sequence and not job.state.finished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
                job = self._lookup(job_id)
            return job

    def watch(self, job_id: str, after_sequence: int = 0, is_active: Callable[[], bool] = lambda: True,
              poll_s: float = 0.5) -> Iterator[JobEvent]:
        """Yield the job's events after after_sequence until its terminal event (or the caller leaves)."""
        while True:
            with self._cond:
                job = self._lookup(job_id)
                pending = [e for e in job.events if e.sequence > after_sequence]
                if not pending:
                    if job.state.finished:
                        return
                    self._cond.wait(poll_s)
            if not pending:
                if not is_active():
                    return
                continue
            for event in pending:
                yield event
                after_sequence = event.sequence
                if event.kind in TERMINAL_KINDS:
                    return

    def cancel(self, job_id: str, reason: str = "cancelled by the client") -> JobRecord:
        with self._cond:
            job = self._lookup(job_id)
            if job.state == JobState.QUEUED:
                self._queues[job.client].remove(job)
                self._finish_cancelled(job, reason)
                self._emit_positions()
            elif job.state == JobState.RUNNING and not job.cancel_requested:
                job.cancel_requested = True
                job.cancel_reason = reason
            self._cond.notify_all()
            return job

    def list(self, limit: int, offset: int, states: list[JobState] | None = None) -> list[JobRecord]:
        rows = self.store.list(limit, offset, [s.value for s in states] if states else None)
        with self._cond:
            return [self._jobs.get(row["job_id"]) or self._from_row(row) for row in rows]

    def queue_length(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    # -- the worker --------------------------------------------------------------------------

    def _work(self) -> None:
        keys = BatchKeys(self.ops.batch_key)
        while True:
            with self._cond:
                while not self._stopping and not any(self._queues.values()):
                    self._cond.wait()
                if not any(self._queues.values()):
                    return  # stopping and nothing left
                queued = self._ordered_queue()
            batch = self._choose_batch(queued, keys)
            with self._cond:
                batch = [job for job in batch if job.state == JobState.QUEUED]  # not cancelled meanwhile
                if not batch:
                    continue
                for job in batch:
                    self._pop(job)
                    job.state = JobState.RUNNING
                    job.started_ms = now_ms()
                    self.store.update(job.job_id, state=job.state.value, started_ms=job.started_ms)
                    self._emit(job, "started")
                self._running = batch
                self._emit_positions()
            if len(batch) == 1:
                self._run(batch[0])
            else:
                run_together(batch, self._run)
            with self._cond:
                self._running = []
                self._cond.notify_all()

    def _choose_batch(self, queued: list[JobRecord], keys: BatchKeys) -> list[JobRecord]:
        """The next job in fair order with the compatible jobs that may run with it (jobs/batching.py), after up to
        batch_window_ms of waiting for company. Keys and the memory estimate are computed outside the lock."""
        first = queued[0]
        window_s = self.limits.batch_window_ms / 1000.0
        if window_s <= 0 or self.limits.max_batch <= 1:
            return [first]
        keys.keep_only(queued)
        keys.compute(queued)
        if keys.known(first) is None:
            return [first]
        deadline = time.monotonic() + window_s
        with self._cond:
            while not self._stopping and sum(len(q) for q in self._queues.values()) < self.limits.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            queued = self._ordered_queue()
        keys.compute(queued)
        capacity = self.ops.batch_capacity(first.request)
        with self._cond:
            start_order = self._start_order()
            if not start_order or start_order[0] is not first:
                return []
            return select_batch(start_order, keys.known, lambda job: self.ops.batch_images(job.request),
                                lambda _first: capacity, self.limits.max_batch)

    def _start_order(self) -> list[JobRecord]:
        """The queued jobs in the order they would start one by one: the fair order's first, again and again."""
        saved, order = self._queues, []
        self._queues = collections.OrderedDict((client, collections.deque(lane)) for client, lane in saved.items())
        try:
            while any(self._queues.values()):
                job = self._ordered_queue()[0]
                order.append(job)
                self._pop(job)
        finally:
            self._queues = saved
        return order

    def _run(self, job: JobRecord, batch=None) -> None:
        """Run one job and record how it ended; `batch` is its rendezvous.Member when it runs in a batch."""
        started = time.monotonic()
        try:
            if job.cancel_requested:
                raise Cancelled(job.cancel_reason)
            output = self.ops.run(job.request, _JobContext(self, job, batch))
            if job.cancel_requested:
                raise Cancelled(job.cancel_reason)
            if batch is not None:
                batch.leave()  # done with the shared modules: the others need not wait while results are written
                output.metadata["batch"] = batch.group.record()
            result = self._write_results(job, output)
        except Cancelled as error:
            with self._cond:
                self._finish_cancelled(job, job.cancel_reason or error.message)
            return
        except DccError as error:
            self._finish_failed(job, status_name(error), error.message, error.field)
            return
        except Exception as error:  # a bug: report it without killing the worker
            log.error("job %s failed with an internal error:\n%s", job.job_id, traceback.format_exc())
            self._finish_failed(job, "INTERNAL", f"internal error: {type(error).__name__}: {error}", "")
            return
        finally:
            self._recent_durations.append(time.monotonic() - started)
        with self._cond:
            job.state = JobState.SUCCEEDED
            job.result = result
            job.finished_ms = now_ms()
            self._emit(job, "result", result=result)
            self.store.update(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                              result_json=result.to_json(), sequence=job.sequence)
            self._retire(job)

    def _write_results(self, job: JobRecord, output: OpOutput) -> JobResult:
        """Write every image (PNG + provenance) and return the result. Runs before 'done' is announced."""
        metadata = {
            "job_id": job.job_id,
            "task_type": job.task_type,
            "server_version": self.server_version,
            "created_ms": job.created_ms,
            **output.metadata,
            "request": to_plain(job.request),
            "task": json.loads(job.task_json) if job.task_json else {},
        }
        metadata_json = json.dumps(metadata, sort_keys=True)
        files = []
        for image in output.images:
            path = self.store.result_path(job.job_id, f"{image.index:02d}-{image.role}-{image.seed}.png")
            text = {"dccbridge": metadata_json}
            if image.parameters:
                text["parameters"] = image.parameters
            self.store.write_file(path, imaging.encode_png(image.pixels, text))
            h, w = image.pixels.shape[:2]
            files.append(ResultFile(str(path), image.role, image.seed, image.index, image.parameters, w, h))
        return JobResult(files, metadata_json, json.dumps(output.extra) if output.extra else "")

    # -- state changes (call with the lock held unless noted) ----------------------------------

    def _emit(self, job: JobRecord, kind: str, **payload) -> JobEvent:
        with self._cond:
            job.sequence += 1
            event = JobEvent(job.job_id, job.sequence, now_ms(), kind, **payload)
            job.events.append(event)
            if kind == "progress":
                job.progress = event
            self._cond.notify_all()
            return event

    def _finish_failed(self, job: JobRecord, code: str, message: str, field_name: str) -> None:
        with self._cond:
            job.state = JobState.FAILED
            job.failure = {"code": code, "message": message, "field": field_name}
            job.finished_ms = now_ms()
            self._emit(job, "failed", failure=job.failure)
            self.store.update(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                              failure_json=json.dumps(job.failure), sequence=job.sequence)
            self._retire(job)

    def _finish_cancelled(self, job: JobRecord, reason: str) -> None:
        job.state = JobState.CANCELLED
        job.cancel_reason = reason
        job.finished_ms = now_ms()
        self._emit(job, "cancelled", reason=reason)
        self.store.update(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                          cancel_reason=reason, sequence=job.sequence)
        self._retire(job)

    def _retire(self, job: JobRecord) -> None:
        """Drop a finished job's inputs and old progress events; forget the oldest finished jobs."""
        job.request = None
        job.events = [e for e in job.events if e.kind != "progress" or e is job.progress]
        self._finished_order.append(job.job_id)
        while len(self._finished_order) > FINISHED_JOBS_KEPT_IN_MEMORY:
            self._jobs.pop(self._finished_order.popleft(), None)

    # -- queue order -------------------------------------------------------------------------

    def _ordered_queue(self) -> list[JobRecord]:
        """Round-robin over clients (in order of their oldest waiting job), FIFO within a client."""
        lanes = sorted((q for q in self._queues.values() if q), key=lambda q: q[0].created_ms)
        order: list[JobRecord] = []
        depth = 0
        while True:
            row = [lane[depth] for lane in lanes if depth < len(lane)]
            if not row:
                return order
            order += row
            depth += 1

    def _pop(self, job: JobRecord) -> None:
        lane = self._queues[job.client]
        lane.remove(job)
        if not lane:
            del self._queues[job.client]

    def _emit_positions(self) -> None:
        for position, job in enumerate(self._ordered_queue()):
            if job.position != position or not job.events:
                job.position = position
                self._emit(job, "queued", position=position)

    def _retry_after_s(self, waiting: int) -> float:
        average = sum(self._recent_durations) / len(self._recent_durations) if self._recent_durations else 5.0
        return max(1.0, average * waiting)

    # -- lookups -----------------------------------------------------------------------------

    def _lookup(self, job_id: str) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        row = self.store.get(job_id) if job_id else None
        if row is None:
            raise JobNotFound(job_id)
        job = self._from_row(row)
        self._jobs[job_id] = job
        self._finished_order.append(job_id)
        return job

    def _from_row(self, row: dict) -> JobRecord:
        """A job from an earlier run, rebuilt from the index; its terminal event is re-created."""
        job = JobRecord(
            job_id=row["job_id"], task_type=row["task_type"], model_id=row["model_id"], label=row["label"],
            client=row["client"], created_ms=row["created_ms"], task_json=row["task_json"],
            state=JobState(row["state"]), started_ms=row["started_ms"], finished_ms=row["finished_ms"],
            sequence=row["sequence"], cancel_reason=row["cancel_reason"] or "",
        )
        if row["result_json"]:
            job.result = JobResult.from_json(row["result_json"])
            kind, payload = "result", {"result": job.result}
        elif row["failure_json"]:
            job.failure = json.loads(row["failure_json"])
            kind, payload = "failed", {"failure": job.failure}
        else:
            kind, payload = "cancelled", {"reason": job.cancel_reason}
        if job.state.finished:
            job.events = [JobEvent(job.job_id, job.sequence, job.finished_ms, kind, **payload)]
        return job
