"""The job engine: a bounded queue that is fair between clients, one worker per device,
events per job, results on disk before "done", cancellation and graceful shutdown.

Durability: the store is the truth about which jobs exist. Each job's inputs (an opaque payload the API layer
encodes and `decode_payload` rebuilds) and options are stored at submit; at start, what a previous process left
queued goes back in its lane in the order it was accepted, and what it left running is run again from the start
(its seed was fixed at submit) unless it was already started `max_attempts` times. SIGTERM leaves queued jobs
queued in the store.

Thread model: callers (gRPC/HTTP handler threads) submit, cancel and wait; one worker thread runs ops. One
condition variable guards all job state and wakes the worker; watchers and long-polls wait on a wake-up of
their own job only, so a progress event wakes that job's watchers, not every open stream. Compatible jobs may
run as one cross-request batch (jobs/batching.py): the worker then runs each of them in a thread of its own and
waits for all. Live sessions' frames run on the same worker, between jobs and at a job's step boundaries
(jobs/live.py).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from .. import imaging
from ..domain import JobOptions, JobState, OpOutput, to_plain
from ..errors import Cancelled, DccError, JobNotFound, QueuedInputsFull, QueueFull, ShuttingDown, status_name
from .batching import BatchKeys, Batching, run_together
from .durability import Durability
from .live import DEFAULT_MAX_LIVE_SESSIONS, LiveSessions, LiveTurns
from .ownership import Ownership
from .records import JobEvent, JobRecord, JobResult, ResultFile, now_ms
from .store import JobStore

__all__ = ["Engine", "EngineLimits", "EngineObserver", "JobEvent", "JobRecord", "JobResult", "ResultFile"]

log = logging.getLogger("dccbridge.jobs")

TERMINAL_KINDS = ("result", "failed", "cancelled")
FINISHED_JOBS_KEPT_IN_MEMORY = 256
RESUMED_LANE = "(resumed)"  # the lane of jobs a previous process was running: they had already had their turn
CAPACITY_POLL_S = 0.25  # waiting workers look again at a runner's capacity (cluster/runner.py) this often


class OpRunner(Protocol):
    def check(self, request) -> None: ...
    def run(self, request, ctx) -> OpOutput: ...
    def batch_key(self, request) -> object | None: ...
    def batch_images(self, request) -> int: ...
    def batch_capacity(self, request) -> int: ...


class EngineObserver:
    """What the engine reports for metrics; the default ignores it all (see dccbridge.metrics)."""

    def job_finished(self, job: "JobRecord", code: str, seconds: float) -> None: ...
    def step_time(self, model_id: str, seconds: float) -> None: ...
    def live_frame(self, outcome: str) -> None: ...
    def live_control_map(self) -> None: ...


@dataclass(frozen=True)
class EngineLimits:
    max_queue: int = 16
    max_queued_input_bytes: int = 1 << 30  # inputs of waiting jobs, in memory and in the store
    max_attempts: int = 2  # starts of one job across restarts; a job that stops the server this often fails
    batch_window_ms: int = 30  # how long the worker waits for company for a job that could batch; 0 = no batching
    max_batch: int = 8         # most jobs in one batch (the memory estimate may allow fewer)
    max_live_sessions: int = DEFAULT_MAX_LIVE_SESSIONS  # open live sessions (jobs/live.py)


class _JobContext:
    """The OpContext the engine hands to an op."""

    def __init__(self, engine: "Engine", job: JobRecord, batch=None):
        self._engine = engine
        self._job = job
        self.batch = batch  # ops.rendezvous.Member when the job runs in a batch
        self.preview_every = job.options.preview_every_n_steps
        self.preview_max_size = job.options.preview_max_size or 256
        self._last_step: tuple[str, int, float] | None = None

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
        self._time_step(stage, step)
        self._engine._emit(self._job, "progress", stage=stage, step=step, total=total, preview_jpeg=jpeg)
        if stage != "load":
            self._engine._live_between_steps(self._job, self.batch)  # a live frame's turn (jobs/live.py)

    def _time_step(self, stage: str, step: int) -> None:
        """Step time = time between consecutive reports of one stage's steps (per step done)."""
        now = time.monotonic()
        if self._last_step is not None and self._last_step[0] == stage and step > self._last_step[1]:
            per_step = (now - self._last_step[2]) / (step - self._last_step[1])
            self._engine.observer.step_time(self._job.model_id, per_step)
        self._last_step = (stage, step, now)


class Engine(Durability, Ownership, Batching, LiveTurns):
    def __init__(self, store: JobStore, ops: OpRunner, limits: EngineLimits = EngineLimits(), server_version: str = "",
                 decode_payload: Callable[[bytes], object] | None = None, observer: EngineObserver | None = None):
        """decode_payload rebuilds a request from the payload given to submit (after a restart)."""
        self.store = store
        self.ops = ops
        self.limits = limits
        self.server_version = server_version
        self.decode_payload = decode_payload
        self.observer = observer or EngineObserver()
        self._cond = threading.Condition()
        self._jobs: dict[str, JobRecord] = {}
        self._finished_order: collections.deque[str] = collections.deque()
        self._queues: "collections.OrderedDict[str, collections.deque[JobRecord]]" = collections.OrderedDict()
        self._running: list[JobRecord] = []
        self._stopping = False
        self._recent_durations: collections.deque[float] = collections.deque(maxlen=20)
        self._workers = [threading.Thread(target=self._work, name=f"dccbridge-worker-{i}", daemon=True)
                         for i in range(max(1, getattr(ops, "parallel_jobs", 1)))]
        self.live = LiveSessions(ops, self._wake_worker, self.observer, limits.max_live_sessions)
        self._live_turn = False  # after a job, one live frame goes first
        self._init_ownership()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Carry over what a previous process left unfinished, then start the worker."""
        self._recover()
        for worker in self._workers:
            worker.start()
        self._start_heartbeat()

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop taking work and let the running job finish within grace_s. Queued jobs stay queued in the store
        (the next start runs them); a running job still running after grace_s is stopped and left queued too."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.live.shutdown()
        deadline = time.monotonic() + grace_s
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))
        if any(worker.is_alive() for worker in self._workers):
            with self._cond:
                for job in self._running:
                    if not job.cancel_requested:  # a client's cancel stands
                        job.interrupted = True
                        job.cancel_requested = True
                        job.cancel_reason = "the server shut down before the job finished"
            for worker in self._workers:
                worker.join(60)
        self._stop_heartbeat()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- the API the faces call ------------------------------------------------------------

    def submit(self, request, options: JobOptions, task_json: str, client: str = "", payload: bytes = b"") -> JobRecord:
        """Queue a job. payload: the request's inputs as bytes decode_payload rebuilds it from (stored until the
        job finishes, so a restart runs it); empty = the job does not survive a restart."""
        if self._stopping:
            raise ShuttingDown()
        self.ops.check(request)  # validate before queueing: a bad request never becomes a job
        with self._cond:
            if self._stopping:
                raise ShuttingDown()
            waiting = sum(len(q) for q in self._queues.values())
            if waiting >= self.limits.max_queue:
                raise QueueFull(self.limits.max_queue, self._retry_after_s(waiting))
            self._check_queued_bytes(len(payload), waiting)
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
                payload_bytes=len(payload),
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
                    "payload": payload or None,
                    "options_json": json.dumps(dataclasses.asdict(options)),
                }
            )
            self._jobs[job.job_id] = job
            self._enqueue(job)
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
            wake = None if job.remote else self._wakeup(job)
        if job.remote:
            return self._wait_remote(job, after_sequence, timeout_s)
        try:
            while True:
                with self._cond:
                    wake.clear()
                    if job.sequence > after_sequence or job.state.finished:
                        return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return job
                wake.wait(remaining)
        finally:
            self._drop_wakeup(job, wake)

    def watch(self, job_id: str, after_sequence: int = 0, is_active: Callable[[], bool] = lambda: True,
              poll_s: float = 0.5) -> Iterator[JobEvent]:
        """Yield the job's events after after_sequence until its terminal event (or the caller leaves)."""
        with self._cond:
            job = self._lookup(job_id)
            wake = None if job.remote else self._wakeup(job)
        if job.remote:
            yield from self._watch_remote(job_id, after_sequence, is_active)
            return
        try:
            while True:
                with self._cond:
                    wake.clear()  # before reading: an event appended after this read sets it again
                    pending = [e for e in job.events if e.sequence > after_sequence]
                    finished = job.state.finished
                for event in pending:
                    yield event
                    after_sequence = event.sequence
                    if event.kind in TERMINAL_KINDS:
                        return
                if not pending:
                    if finished:
                        return
                    if not wake.wait(poll_s) and not is_active():
                        return
        finally:
            self._drop_wakeup(job, wake)

    def cancel(self, job_id: str, reason: str = "cancelled by the client") -> JobRecord:
        with self._cond:
            job = self._lookup(job_id)
            if job.state == JobState.QUEUED and not job.remote:
                self._pop(job)
                self._finish_cancelled(job, reason)
                self._emit_positions()
            elif job.state == JobState.RUNNING and not job.cancel_requested and not job.remote:
                job.cancel_requested = True
                job.cancel_reason = reason
            self._cond.notify_all()
        return self._cancel_remote(job, reason) if job.remote else job

    def list(self, limit: int, offset: int, states: list[JobState] | None = None, where=None) -> list[JobRecord]:
        """where: a jobs.history.JobFilter (client, task kinds, time range, text, model)."""
        rows = self.store.list(limit, offset, [s.value for s in states] if states else None, where)
        with self._cond:
            return [self._jobs.get(row["job_id"]) or self._from_row(row) for row in rows]

    def queue_length(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    # -- the worker --------------------------------------------------------------------------

    def _has_capacity(self) -> bool:
        """A runner with several devices (cluster: live replicas) says how many jobs may run now; lock held."""
        capacity = getattr(self.ops, "capacity", None)
        return capacity is None or len(self._running) < capacity()

    def _work(self) -> None:
        keys = BatchKeys(self.ops.batch_key)
        while True:
            with self._cond:
                while not self._stopping and not (any(self._queues.values()) and self._has_capacity()) \
                        and not self.live.due():
                    self._cond.wait(CAPACITY_POLL_S if any(self._queues.values()) else None)
                if self._stopping:
                    return  # queued jobs stay queued in the store for the next start
                live_first = (self._live_turn or not any(self._queues.values())) and self.live.due()
                queued = self._ordered_queue()
            self._live_turn = False
            if live_first:
                self.live.run_one()
                continue
            try:
                batch = self._choose_batch(queued, keys)
            except Exception:  # a bug in choosing must not stop the worker: run the next job alone
                log.exception("choosing a batch failed; the next job runs alone")
                batch = queued[:1]
            with self._cond:
                if self._stopping:
                    return  # queued jobs stay queued in the store for the next start
                batch = [job for job in batch if job.state == JobState.QUEUED]  # not cancelled meanwhile
                if not batch:
                    continue
                started_ms = now_ms()
                for job in batch:
                    self._pop(job, served=True)
                    self._mark_running(job, started_ms)
                self._emit_positions()
            if len(batch) == 1:
                self._run(batch[0])
            else:
                run_together(batch, self._run)
            with self._cond:
                self._running = [job for job in self._running if job not in batch]  # other workers' jobs stay
                self._live_turn = True
                self._cond.notify_all()

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
                if job.interrupted:
                    self._leave_queued(job)
                else:
                    self._finish_cancelled(job, job.cancel_reason or error.message)
            return
        except DccError as error:
            self._finish_failed(job, status_name(error), error.message, error.field)
            return
        except Exception as error:  # a bug: report it without killing the worker
            log.error("job %s failed with an internal error:\n%s", job.job_id, traceback.format_exc())
            self._finish_failed(job, "INTERNAL",
                               f"internal error ({type(error).__name__}); the server's log has the details", "")
            return
        finally:
            self._recent_durations.append(time.monotonic() - started)
        with self._cond:
            job.state = JobState.SUCCEEDED
            job.result = result
            job.finished_ms = now_ms()
            self._emit(job, "result", result=result)
            self.store.finish(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                              result_json=result.to_json(), sequence=job.sequence)
            self._retire(job, "OK")

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
            text = {"dccbridge": metadata_json}
            if image.parameters:
                text["parameters"] = image.parameters
            url = self.store.put_result(job.job_id, f"{image.index:02d}-{image.role}-{image.seed}.png",
                                        imaging.encode_png(image.pixels, text))
            h, w = image.pixels.shape[:2]
            files.append(ResultFile(url, image.role, image.seed, image.index, image.parameters, w, h))
        return JobResult(files, metadata_json, json.dumps(output.extra) if output.extra else "")

    # -- state changes (call with the lock held unless noted) ----------------------------------

    def _emit(self, job: JobRecord, kind: str, **payload) -> JobEvent:
        with self._cond:
            job.sequence += 1
            event = JobEvent(job.job_id, job.sequence, now_ms(), kind, **payload)
            job.events.append(event)
            if kind == "progress":
                job.progress = event
            self._store_event(job, event)
            for wake in job.wakeups:  # this job's watchers only
                wake.set()
            return event

    def _wakeup(self, job: JobRecord) -> threading.Event:
        wake = threading.Event()
        job.wakeups.add(wake)
        return wake

    def _drop_wakeup(self, job: JobRecord, wake: threading.Event) -> None:
        with self._cond:
            job.wakeups.discard(wake)

    def _finish_failed(self, job: JobRecord, code: str, message: str, field_name: str) -> None:
        with self._cond:
            job.state = JobState.FAILED
            job.failure = {"code": code, "message": message, "field": field_name}
            job.finished_ms = now_ms()
            self._emit(job, "failed", failure=job.failure)
            self.store.finish(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                              failure_json=json.dumps(job.failure), sequence=job.sequence)
            self._retire(job, code)

    def _finish_cancelled(self, job: JobRecord, reason: str) -> None:
        job.state = JobState.CANCELLED
        job.cancel_reason = reason
        job.finished_ms = now_ms()
        self._emit(job, "cancelled", reason=reason)
        self.store.finish(job.job_id, state=job.state.value, finished_ms=job.finished_ms,
                          cancel_reason=reason, sequence=job.sequence)
        self._retire(job, "CANCELLED")

    def _retire(self, job: JobRecord, code: str) -> None:
        """Drop a finished job's inputs and old progress events; forget the oldest finished jobs."""
        seconds = (job.finished_ms - job.started_ms) / 1000 if job.started_ms else 0.0
        self.observer.job_finished(job, code, seconds)
        job.request = None
        job.events = [e for e in job.events if e.kind != "progress" or e is job.progress]
        self._finished_order.append(job.job_id)
        while len(self._finished_order) > FINISHED_JOBS_KEPT_IN_MEMORY:
            self._jobs.pop(self._finished_order.popleft(), None)

    # -- queue order -------------------------------------------------------------------------

    def _ordered_queue(self) -> list[JobRecord]:
        """Round-robin over clients, FIFO within a client; jobs resumed after a restart first. Lanes keep their
        turn order: a new lane joins at the end, a served lane goes to the end (so one client's backlog cannot go
        ahead of another client's first job)."""
        lanes = [q for name, q in self._queues.items() if q and name == RESUMED_LANE]
        lanes += [q for name, q in self._queues.items() if q and name != RESUMED_LANE]
        order: list[JobRecord] = []
        depth = 0
        while True:
            row = [lane[depth] for lane in lanes if depth < len(lane)]
            if not row:
                return order
            order += row
            depth += 1

    def _lane(self, job: JobRecord) -> str:
        return RESUMED_LANE if job.resumed else job.client

    def _enqueue(self, job: JobRecord) -> None:
        """At the end of its client's lane (jobs carried over a restart are enqueued oldest first)."""
        self._queues.setdefault(self._lane(job), collections.deque()).append(job)

    def _pop(self, job: JobRecord, served: bool = False) -> None:
        """Take the job out of its lane; served (the worker took it): the lane's turn goes to the end."""
        name = self._lane(job)
        lane = self._queues[name]
        lane.remove(job)
        if not lane:
            del self._queues[name]
        elif served:
            self._queues.move_to_end(name)

    def _emit_positions(self) -> None:
        for position, job in enumerate(self._ordered_queue()):
            if job.position != position or not job.events:
                job.position = position
                self._emit(job, "queued", position=position)

    def _check_queued_bytes(self, incoming: int, waiting: int) -> None:
        """The inputs of waiting jobs stay under max_queued_input_bytes; one job is always accepted into an empty
        queue (the message size limit bounds it)."""
        held = sum(job.payload_bytes for lane in self._queues.values() for job in lane)
        if waiting and held + incoming > self.limits.max_queued_input_bytes:
            raise QueuedInputsFull(held, self.limits.max_queued_input_bytes, self._retry_after_s(waiting))

    def queued_input_bytes(self) -> int:
        with self._cond:
            return sum(job.payload_bytes for lane in self._queues.values() for job in lane)

    def lane_depths(self) -> dict[str, int]:
        """Waiting jobs per fairness lane (client)."""
        with self._cond:
            return {client: len(lane) for client, lane in self._queues.items() if lane}

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
        if not JobState(row["state"]).finished:
            return self._remote_snapshot(row)  # another node runs it
        job = self._from_row(row)
        self._jobs[job_id] = job
        self._finished_order.append(job_id)
        return job
