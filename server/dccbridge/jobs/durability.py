"""The engine's half that keeps jobs across restarts: attempts stored before an op runs, shutdown leaving jobs
queued, and carrying over what a previous process left unfinished. A mixin of Engine (it shares its lock and
queues); the store is the truth about which jobs exist and in what state."""

from __future__ import annotations

import json
import logging
import traceback

from ..domain import JobOptions, JobState
from ..errors import DccError, status_name
from .records import JobEvent, JobRecord, JobResult, now_ms

log = logging.getLogger("dccbridge.jobs")

# Sequence numbers of a job carried over a restart (or taken over from another node) continue this far above the
# last one its row stored, so an after_sequence a client saw before (events newer than the row's sequence were not
# all stored) is below every new event.
RESTART_SEQUENCE_GAP = 1_000_000


class Durability:
    """Needs from Engine: store, ops, limits, decode_payload, _cond, _jobs, _running, _enqueue, _emit,
    _emit_positions, _finish_failed, _finish_cancelled; _lost (Ownership)."""

    def _mark_running(self, job: JobRecord, started_ms: int = 0) -> None:
        """The worker took the job: one more attempt, stored before any op code runs. The jobs of one batch share
        their start time (started_ms)."""
        job.state = JobState.RUNNING
        job.started_ms = started_ms or now_ms()
        job.attempts += 1
        self._running.append(job)
        self._emit(job, "started")
        self.store.update(job.job_id, state=job.state.value, started_ms=job.started_ms, attempts=job.attempts,
                          sequence=job.sequence)

    def _leave_queued(self, job: JobRecord) -> None:
        """Shutdown stopped the job: it goes back to queued, in the store for the next start (its attempt does not
        count) and in memory so the last calls before the faces close still see a consistent queue. A job another
        node holds now (this node missed its lease) is only dropped here."""
        if job.job_id in self._lost:
            self._lost.discard(job.job_id)
            self._jobs.pop(job.job_id, None)
            return
        job.state = JobState.QUEUED
        job.attempts -= 1
        job.interrupted = job.cancel_requested = False
        job.resumed = True
        self._enqueue(job)
        self.store.update(job.job_id, state=job.state.value, attempts=job.attempts, sequence=job.sequence)

    def _recover(self) -> None:
        """At start: the jobs this node left unfinished, and any nobody holds (see _adopt)."""
        self._adopt(self.store.claim(include_own=True), "carried over")

    def _adopt(self, rows: list[dict], how: str) -> None:
        """Jobs a previous process (or another node whose lease expired) left queued go back in their lanes in the
        order they were accepted; a job it left running is queued again and runs from the start, unless it was
        started max_attempts times. A job some node asked to cancel is cancelled."""
        carried = 0
        with self._cond:
            for row in rows:
                known = self._jobs.get(row["job_id"])
                if known is not None and not known.remote and not known.state.finished:
                    continue  # already running here
                job = self._from_row(row)
                job.sequence = row["sequence"] + RESTART_SEQUENCE_GAP
                self._jobs[job.job_id] = job
                if row.get("cancel_requested"):
                    self._finish_cancelled(job, row["cancel_reason"] or "cancelled by the client")
                    continue
                failure = self._rebuild(job, row)
                if failure is not None:
                    self._finish_failed(job, *failure)
                    continue
                if job.state == JobState.RUNNING:
                    job.state = JobState.QUEUED
                    job.resumed = True
                    self.store.update(job.job_id, state=job.state.value, sequence=job.sequence)
                self._enqueue(job)
                carried += 1
            self._emit_positions()
            self._cond.notify_all()
        if rows:
            log.warning("%s %d unfinished job(s) %s; %d failed or cancelled", how, carried,
                        "from a previous run" if how == "carried over" else "whose node stopped",
                        len(rows) - carried)

    def _rebuild(self, job: JobRecord, row: dict) -> tuple[str, str, str] | None:
        """Give a carried-over job its request back; the failure (code, message, field) when it cannot run."""
        if job.state == JobState.RUNNING and job.attempts >= self.limits.max_attempts:
            return ("ABORTED", f"the server stopped {job.attempts} times while running this job, so it is not "
                    "run again (it may be what stops the server); check the server log, then submit it again", "")
        if not row["payload"] or self.decode_payload is None:
            return ("ABORTED", "the server stopped before this job finished and kept no inputs to run it again; "
                    "submit it again", "")
        try:
            job.request = self.decode_payload(row["payload"])
            self.ops.check(job.request)  # the catalog or limits may have changed since
        except DccError as error:
            return (status_name(error), error.message, error.field)
        except Exception as error:  # noqa: BLE001 - a payload this version cannot read
            log.error("job %s: its stored inputs do not rebuild:\n%s", job.job_id, traceback.format_exc())
            return ("INTERNAL", f"the stored inputs of this job do not rebuild: {type(error).__name__}: {error}", "")
        job.payload_bytes = len(row["payload"])
        return None

    def _from_row(self, row: dict) -> JobRecord:
        """A job from an earlier run, rebuilt from the index; its terminal event is re-created."""
        job = JobRecord(
            job_id=row["job_id"], task_type=row["task_type"], model_id=row["model_id"], label=row["label"],
            client=row["client"], created_ms=row["created_ms"], task_json=row["task_json"],
            state=JobState(row["state"]), started_ms=row["started_ms"], finished_ms=row["finished_ms"],
            sequence=row["sequence"], cancel_reason=row["cancel_reason"] or "", attempts=row["attempts"] or 0,
            options=JobOptions(**json.loads(row["options_json"])) if row["options_json"] else JobOptions(),
            results_removed_ms=row.get("results_removed_ms") or 0,
            results_removed_note=row.get("results_removed_note") or "",
        )
        if row["result_json"]:
            job.result = JobResult.from_json(row["result_json"])
            kind, payload = "result", {"result": job.result}
        elif row["failure_json"]:
            job.failure = json.loads(row["failure_json"])
            kind, payload = "failed", {"failure": job.failure}
        elif not job.state.finished:
            return job
        else:
            kind, payload = "cancelled", {"reason": job.cancel_reason}
        if job.state.finished:
            job.events = [JobEvent(job.job_id, job.sequence, job.finished_ms, kind, **payload)]
        return job
