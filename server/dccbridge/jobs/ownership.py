"""The engine's half that lets several processes (ingress nodes) share one job store.

Each unfinished job has one owner, the node that runs it: the one that accepted it, or the one that took it over.
A heartbeat renews the owner's lease on its jobs, takes over jobs whose owner's lease expired (a node that was
killed: its queued jobs run here, a job it was running runs again from the start with its stored seed, counting
attempts as a restart does), and carries out cancels other nodes asked for. A node that finds a job of its own
held by another node (it stalled past its lease) drops it: the store fences its writes anyway.

Any node shows any job: a job another node runs is read from the store (GetJob, ListJobs) and watched by polling
its stored events (queued, started, terminal, and progress at most PROGRESS_PER_S times a second with its
preview; only the newest queued and progress event is kept). A Mixin of Engine; docs/job-store.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterator

from ..domain import JobState
from .index import UNFINISHED
from .records import JobEvent, JobRecord, JobResult

log = logging.getLogger("dccbridge.jobs")

PROGRESS_PER_S = 4          # progress events (with previews) a second per job that reach the store
REMOTE_POLL_S = 0.2         # how often a watcher of another node's job reads its stored events
HEARTBEAT_TICK_S = 0.25     # cancel requests are looked for this often; leases renewed every lease/3
REMOTE_CANCEL_WAIT_S = 1.0  # how long Cancel of another node's job waits to see it take effect
TERMINAL_STATES = {"result": JobState.SUCCEEDED, "failed": JobState.FAILED, "cancelled": JobState.CANCELLED}


def event_row(event: JobEvent) -> dict:
    body = {"position": event.position, "stage": event.stage, "step": event.step, "total": event.total,
            "failure": event.failure, "reason": event.reason,
            "result": event.result.to_json() if event.result is not None else None}
    return {"job_id": event.job_id, "sequence": event.sequence, "time_ms": event.time_ms, "kind": event.kind,
            "body_json": json.dumps(body), "preview": event.preview_jpeg}


def event_from_row(row: dict) -> JobEvent:
    body = json.loads(row["body_json"])
    result = JobResult.from_json(body["result"]) if body.get("result") else None
    preview = bytes(row["preview"]) if row["preview"] is not None else None
    return JobEvent(row["job_id"], row["sequence"], row["time_ms"], row["kind"], position=body["position"],
                    stage=body["stage"], step=body["step"], total=body["total"], preview_jpeg=preview,
                    result=result, failure=body["failure"], reason=body["reason"])


class Ownership:
    """Needs from Engine: store, _cond, _jobs, _running, _pop, _emit_positions, _from_row, cancel, _adopt
    (Durability)."""

    def _init_ownership(self) -> None:
        self._heartbeat_stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="dccbridge-heartbeat", daemon=True)
        self._progress_stored_at: dict[str, float] = {}
        self._lost: set[str] = set()  # running jobs another node holds now: stopped, not queued again

    def _start_heartbeat(self) -> None:
        self._heartbeat.start()

    def _stop_heartbeat(self) -> None:
        """At shutdown, after the worker stopped: what this node leaves unfinished is anyone's at once."""
        self._heartbeat_stop.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join(10)
        with self._cond:
            if self._running:
                return  # a job still runs here: its lease must lapse before another node may run it again
        try:
            released = self.store.release()
        except Exception:  # noqa: BLE001 - the store is gone: the lease expires instead
            log.exception("could not release this node's unfinished jobs; other nodes take them when the lease "
                          "expires")
            return
        if released and self.store.shared:
            log.info("released %d unfinished job(s) for other nodes", released)

    def _beat(self) -> None:
        renew_every = max(HEARTBEAT_TICK_S, self.store.lease_ms / 3000)
        next_renew = time.monotonic() + renew_every
        failing_since = 0.0
        while not self._heartbeat_stop.wait(HEARTBEAT_TICK_S):
            try:
                for job_id, reason in self.store.cancel_requests():
                    self._cancel_asked_elsewhere(job_id, reason)
                if time.monotonic() >= next_renew:
                    next_renew = time.monotonic() + renew_every
                    self._renew()
                    self._take_over()
            except Exception:  # noqa: BLE001 - the store may be back at the next beat
                if not failing_since:
                    log.exception("job store heartbeat failed; retrying every %.2f s", HEARTBEAT_TICK_S)
                    failing_since = time.monotonic()
                continue
            if failing_since:
                log.warning("job store heartbeat works again after %.1f s", time.monotonic() - failing_since)
                failing_since = 0.0

    def _renew(self) -> None:
        with self._cond:
            mine = [job for job in self._jobs.values() if not job.remote and not job.state.finished]
        held = self.store.renew()
        with self._cond:
            for job in mine:
                if job.job_id in held or job.state.finished:
                    continue
                log.warning("job %s: another node holds it now (this node missed its lease); dropping it here",
                            job.job_id)
                if job.state == JobState.QUEUED:
                    self._pop(job)
                    self._jobs.pop(job.job_id, None)
                    job.state = JobState.CANCELLED  # only here: a worker that picked it already skips it
                    for wake in job.wakeups:  # watchers here look it up again (the store has it)
                        wake.set()
                    self._emit_positions()
                else:
                    self._lost.add(job.job_id)
                    job.interrupted = job.cancel_requested = True
            self._cond.notify_all()

    def _take_over(self) -> None:
        """Jobs whose owner's lease expired (or that their owner released) run here."""
        rows = self.store.claim(include_own=False)
        if rows:
            self._adopt(rows, "took over")

    def _cancel_asked_elsewhere(self, job_id: str, reason: str) -> None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.remote or job.state.finished or job.cancel_requested:
                return
        self.cancel(job_id, reason)

    # -- events into the store ---------------------------------------------------------------------

    def _store_event(self, job: JobRecord, event: JobEvent) -> None:
        """Called by _emit (lock held): what other nodes' watchers of this job will see."""
        if job.remote:
            return
        if event.kind == "progress":
            now = time.monotonic()
            if now - self._progress_stored_at.get(job.job_id, 0.0) < 1.0 / PROGRESS_PER_S:
                return
            self._progress_stored_at[job.job_id] = now
        elif event.kind in TERMINAL_STATES:
            self._progress_stored_at.pop(job.job_id, None)
        try:
            self.store.add_event(event_row(event))
        except Exception:  # noqa: BLE001 - a lost event must not fail the job; its row still records the end
            log.exception("job %s: could not store its %s event", job.job_id, event.kind)

    # -- jobs another node runs ---------------------------------------------------------------------

    def _remote_snapshot(self, row: dict) -> JobRecord:
        """A job another node runs, as the store shows it now (its newest stored events included)."""
        job = self._from_row(row)
        job.remote = True
        job.cancel_requested = bool(row.get("cancel_requested"))
        for event in map(event_from_row, self.store.latest_events(job.job_id)):
            job.sequence = max(job.sequence, event.sequence)
            if event.kind == "queued":
                job.position = event.position
            elif event.kind == "progress":
                job.progress = event
            elif event.kind in TERMINAL_STATES and not job.state.finished:  # stored before the row changes
                job.state = TERMINAL_STATES[event.kind]
                job.result, job.failure, job.cancel_reason = event.result, event.failure, event.reason
                job.finished_ms = event.time_ms
                job.events = [event]
        return job

    def _refresh(self, job_id: str) -> JobRecord:
        with self._cond:
            local = self._jobs.get(job_id)
        if local is not None and not local.remote:
            return local  # this node took it over meanwhile
        row = self.store.get(job_id)
        return self._remote_snapshot(row) if row["state"] in UNFINISHED else self._from_row(row)

    def _wait_remote(self, job: JobRecord, after_sequence: int, timeout_s: float) -> JobRecord:
        deadline = time.monotonic() + timeout_s
        while True:
            if job.sequence > after_sequence or job.state.finished:
                return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return job
            time.sleep(min(REMOTE_POLL_S, remaining))
            job = self._refresh(job.job_id)

    def _watch_remote(self, job_id: str, after_sequence: int, is_active: Callable[[], bool]) -> Iterator[JobEvent]:
        while True:
            rows = self.store.events_after(job_id, after_sequence)
            for event in map(event_from_row, rows):
                yield event
                after_sequence = event.sequence
                if event.kind in TERMINAL_STATES:
                    return
            if rows:
                continue
            row = self.store.get(job_id)
            if row["state"] not in UNFINISHED:  # finished without a stored terminal event: the row has it
                yield from (e for e in self._from_row(row).events if e.sequence > after_sequence)
                return
            if not is_active():
                return
            time.sleep(REMOTE_POLL_S)

    def _cancel_remote(self, job: JobRecord, reason: str) -> JobRecord:
        """Flag it in the store for its owner; an owner that died: the job comes here and is cancelled now."""
        self.store.request_cancel(job.job_id, reason)
        self._take_over()
        deadline = time.monotonic() + REMOTE_CANCEL_WAIT_S
        job = self._refresh(job.job_id)
        while not job.state.finished and time.monotonic() < deadline:
            time.sleep(REMOTE_POLL_S / 2)
            job = self._refresh(job.job_id)
        return job
