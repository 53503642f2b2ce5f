"""Live sessions, scheduled by the engine's one worker (docs/live.md).

A session holds at most one pending frame (a newer frame supersedes it). Frames are computed on the engine's
worker thread, so live frames and queued jobs never run on the device at once and a session's pipeline view is
only ever used by one thread. The rule that shares the device:

- between jobs: after a job, one live frame (of the next session in turn with a pending frame) goes before the
  next queued job, so a queued job waits at most one live frame;
- inside a job: at each of its step boundaries, one pending live frame runs (on the worker thread, inside the
  job's step callback), so a live frame waits at most one step of a queued job, not the whole job. Not inside
  jobs whose shared modules are changed for that job alone: per-job LoRAs/embeddings/VAE (the per-model adapter
  lock is reentrant, so a frame run on the same thread would see the job's LoRAs), seamless tiling (patched
  convolutions), and cross-request batches (several threads meet at a rendezvous). A live frame then waits for
  the job to end.

Sessions end on close, on the client's disconnect (the gRPC stream) or after idle_timeout_ms without a frame
(a reaper thread), each with a `closed` event carrying the counts.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time

from .. import imaging
from ..domain import TilingAxes
from ..domain_live import LiveConfig, LiveFrame, LiveSettings
from ..errors import Cancelled, LiveSessionNotFound, LiveSessionsFull, ShuttingDown, Unsupported
from .live_session import LiveEventRecord, LiveSession

log = logging.getLogger("dccbridge.live")

DEFAULT_MAX_LIVE_SESSIONS = 8
ENDED_SESSIONS_KEPT = 32  # closed sessions whose events (the closed one last) a poll may still read
ENDED_EVENTS_KEPT = 8     # ... their last events
REAP_EVERY_S = 0.1


def interleavable(request) -> bool:
    """Whether live frames may run at this job's step boundaries (see the module docstring)."""
    if getattr(request, "adapters", None):
        return False
    return getattr(request, "tiling", TilingAxes.NONE) in (TilingAxes.NONE, None)


class LiveSessions:
    """The server's open live sessions: open/send/update/close/watch for the faces; due/run_one for the worker."""

    def __init__(self, ops, wake_worker, observer=None, max_sessions: int = DEFAULT_MAX_LIVE_SESSIONS):
        self.ops = ops
        self.wake_worker = wake_worker
        self.observer = observer
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self._sessions: "collections.OrderedDict[str, LiveSession]" = collections.OrderedDict()
        self._ended: "collections.OrderedDict[str, LiveSession]" = collections.OrderedDict()
        self._opening = 0
        self._stopping = False
        self._reaper: threading.Thread | None = None

    # -- the faces' side --------------------------------------------------------------------------

    def open(self, config: LiveConfig, owner: tuple[str, str]) -> LiveSession:
        if not hasattr(self.ops, "live_settings"):  # serve --ray: the ingress holds no pipeline to keep warm
            raise Unsupported("live mode runs on a single server (dccbridge serve without --ray); this server "
                              "sends jobs to cluster replicas, where a live session has no warm pipeline yet")
        settings = self.ops.live_settings(config)  # InvalidInput names config.<field>; loads nothing
        with self._lock:
            if self._stopping:
                raise ShuttingDown()
            if len(self._sessions) + self._opening >= self.max_sessions:
                raise LiveSessionsFull(self.max_sessions)
            self._opening += 1
        try:
            session_id = secrets.token_urlsafe(18)
            session = LiveSession(session_id, owner, settings, None)
            session.runner = self.ops.live_runner(settings, self._control_map_computed)  # loads the model: warm
            with self._lock:
                self._sessions[session_id] = session
                self._start_reaper()
        finally:
            with self._lock:
                self._opening -= 1
        with session.cond:
            session.emit("opened", settings=settings)
        log.info("live session %s opened (%s, model %s, %s)", session_id[:8], settings.label or "-",
                 settings.model_id, settings.priority.value)
        return session

    def get(self, session_id: str, owner: tuple[str, str], ended_ok: bool = False) -> LiveSession:
        with self._lock:
            session = self._sessions.get(session_id) or (self._ended.get(session_id) if ended_ok else None)
        if session is None or not secrets.compare_digest(repr(session.owner), repr(owner)):
            raise LiveSessionNotFound(session_id)
        return session

    def send(self, session_id: str, owner, frame: LiveFrame) -> int:
        """Take a frame; returns the number of the pending frame it superseded (0 = none)."""
        session = self.get(session_id, owner)
        with session.cond:
            if session.closing:
                raise LiveSessionNotFound(session_id)
            try:
                superseded = session.accept(frame, lambda f: self.ops.check_live_frame(f, session.settings))
            finally:
                self._count_new_answers(session)
        self.wake_worker()
        return superseded

    def update(self, session_id: str, owner, prompt: str | None, seed: int | None) -> int:
        if prompt is not None:
            self.ops.check_live_frame(LiveFrame(1, prompt=prompt, seed=seed), self.get(session_id, owner).settings)
        session = self.get(session_id, owner)
        with session.cond:
            if session.closing:
                raise LiveSessionNotFound(session_id)
            superseded = session.update(prompt, seed)
            self._count_new_answers(session)
        self.wake_worker()
        return superseded

    def close(self, session_id: str, owner, reason: str = "client closed", wait_s: float = 30.0) -> dict:
        """End the session (its pending frame is answered frame_failed CANCELLED); returns the closed event's data
        once it is out."""
        session = self.get(session_id, owner, ended_ok=True)
        self._close(session, reason)
        deadline = time.monotonic() + wait_s
        with session.cond:
            while not session.finalized and time.monotonic() < deadline:
                session.cond.wait(0.1)
            closed = [e for e in session.events if e.kind == "closed"]
            return closed[-1].data if closed else session.closed_data(session.closing)

    def end(self, session: LiveSession, reason: str) -> None:
        """Close without waiting (the client went away); no-op for a closed session."""
        self._close(session, reason)

    def reject(self, session_id: str, owner, frame: int, error) -> None:
        """Answer frame_failed for a frame that could not be read at all."""
        session = self.get(session_id, owner)
        with session.cond:
            if not session.closing:
                session.reject(frame, error)
                self._count_new_answers(session)

    def watch(self, session: LiveSession, after_sequence: int = 0, is_active=lambda: True, poll_s: float = 0.5):
        """The session's events after after_sequence, until its closed event (or the caller leaves)."""
        while True:
            with session.cond:
                pending = session.events_after(after_sequence)
                if not pending and not session.finalized:
                    session.cond.wait(poll_s)
                    pending = session.events_after(after_sequence)
                finalized = session.finalized
            for event in pending:
                yield event
                after_sequence = event.sequence
                if event.kind == "closed":
                    return
            if not pending and (finalized or not is_active()):
                return

    def poll(self, session: LiveSession, after_sequence: int, wait_s: float) -> list[LiveEventRecord]:
        deadline = time.monotonic() + wait_s
        with session.cond:
            while True:
                events = session.events_after(after_sequence)
                remaining = deadline - time.monotonic()
                if events or session.finalized or remaining <= 0:
                    return events
                session.cond.wait(remaining)

    def open_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            sessions = list(self._sessions.values())
        for session in sessions:
            self._close(session, "server shutting down")

    # -- the worker's side ------------------------------------------------------------------------

    def due(self) -> bool:
        """A session has a frame to compute (or frames in its stream batch to advance)."""
        with self._lock:
            sessions = list(self._sessions.values())
        return any(self._has_work(s) for s in sessions)

    @staticmethod
    def _has_work(session: LiveSession) -> bool:
        return not session.closing and not session.busy and (
            session.pending is not None or (session.runner is not None and session.runner.in_flight > 0))

    def run_one(self) -> bool:
        """Compute one frame of the next session in turn that has one (on the worker thread). False: none had."""
        with self._lock:
            order = list(self._sessions.values())
        for session in order:
            with session.cond:
                if not self._has_work(session):
                    continue
                inputs, session.pending, session.busy = session.pending, None, True
            with self._lock:  # this session's turn is over: it goes to the end of the round
                if session.session_id in self._sessions:
                    self._sessions.move_to_end(session.session_id)
            try:
                self._compute(session, inputs)
            finally:
                with session.cond:
                    session.busy = False
                    if session.closing:
                        self._finalize(session)
            return True
        return False

    def _compute(self, session: LiveSession, inputs) -> None:
        try:
            outcomes = session.runner.run(inputs, lambda: bool(session.closing) or self._stopping)
        except Exception as error:  # a bug: the frame fails, the session and the worker live on
            log.exception("live frame failed in session %s", session.session_id[:8])
            outcomes = []
            if inputs is not None:
                with session.cond:
                    session.fail(inputs.ticket, inputs.frame, Cancelled(
                        f"internal error ({type(error).__name__}); the server's log has the details"))
                    self._count_new_answers(session)
        for outcome in outcomes:
            self._answer(session, outcome)

    def _answer(self, session: LiveSession, outcome) -> None:
        with session.cond:
            arrived = session.arrivals.get(outcome.ticket, outcome.started)
        if outcome.error is not None:
            with session.cond:
                session.fail(outcome.ticket, outcome.frame, outcome.error)
                self._count_new_answers(session)
            return
        begun = time.monotonic()
        image, mime = self._encoded(session, outcome.pixels)
        encode_ms = (time.monotonic() - begun) * 1000
        timings = dict(wait_ms=max(0.0, (outcome.started - arrived) * 1000), prepare_ms=outcome.prepare_ms,
                       pipeline_ms=outcome.pipeline_ms, encode_ms=encode_ms,
                       total_ms=(time.monotonic() - arrived) * 1000, stream_batch=outcome.stream_batch)
        with session.cond:
            if outcome.reused_from:
                session.counts.reused += 1
            else:
                session.counts.computed += 1
            session.answer(outcome.ticket, "result", frame=outcome.frame, image=image, mime_type=mime,
                           reused=bool(outcome.reused_from), reused_from_frame=outcome.reused_from,
                           similarity=outcome.similarity, seed=outcome.seed, timings=timings)
        if self.observer is not None:
            self.observer.live_frame("reused" if outcome.reused_from else "computed")

    def _encoded(self, session: LiveSession, pixels) -> tuple[bytes, str]:
        jpeg = session.settings.jpeg_results
        if session.encoded is not None and session.encoded[0] is pixels:
            return session.encoded[1], session.encoded[2]
        data = imaging.encode_jpeg(pixels) if jpeg else imaging.encode_png(pixels)
        mime = "image/jpeg" if jpeg else "image/png"
        session.encoded = (pixels, data, mime)
        return data, mime

    # -- ending ----------------------------------------------------------------------------------

    def _close(self, session: LiveSession, reason: str) -> None:
        with session.cond:
            if session.closing:
                return
            session.closing = reason
            if not session.busy:
                self._finalize(session)
        with self._lock:
            self._sessions.pop(session.session_id, None)
            self._ended[session.session_id] = session
            while len(self._ended) > ENDED_SESSIONS_KEPT:
                self._ended.popitem(last=False)

    def _finalize(self, session: LiveSession) -> None:
        """(cond held, the worker not in the session) Answer what is left, then the closed event."""
        if session.finalized:
            return
        cancelled = Cancelled(f"the session ended ({session.closing}) before this frame was computed")
        leftovers = session.runner.stream.drop() if session.runner is not None and session.runner.stream else []
        for ticket, frame in leftovers:
            session.fail(ticket, frame, cancelled)
        if session.pending is not None:
            session.fail(session.pending.ticket, session.pending.frame, cancelled)
            session.pending = None
        self._count_new_answers(session)
        session.emit("closed", **session.closed_data(session.closing))
        session.finalized = True
        kept = list(session.events)[-ENDED_EVENTS_KEPT:]  # what a late poll needs (closed last), not every image
        session.events.clear()
        session.events.extend(kept)
        session.runner = None  # the views and cached maps go with it
        log.info("live session %s closed: %s", session.session_id[:8], session.closing)

    def _reap(self) -> None:
        while True:
            time.sleep(REAP_EVERY_S)
            with self._lock:
                if self._stopping:
                    return
                sessions = list(self._sessions.values())
                if not sessions:
                    self._reaper = None
                    return
            now = time.monotonic()
            for session in sessions:
                if not session.busy and now - session.last_activity > session.settings.idle_timeout_ms / 1000:
                    self._close(session, "idle timeout")

    def _start_reaper(self) -> None:
        """(lock held) One reaper thread while sessions are open."""
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="dccbridge-live-reaper", daemon=True)
            self._reaper.start()

    # -- metrics ---------------------------------------------------------------------------------

    def _count_new_answers(self, session: LiveSession) -> None:
        """Report superseded / failed answers to the observer (counted by difference since the last report)."""
        if self.observer is None:
            return
        seen = session.reported
        now = (session.counts.superseded, session.counts.failed)
        for _ in range(now[0] - seen[0]):
            self.observer.live_frame("superseded")
        for _ in range(now[1] - seen[1]):
            self.observer.live_frame("failed")
        session.reported = now

    def _control_map_computed(self) -> None:
        if self.observer is not None:
            self.observer.live_control_map()


class LiveTurns:
    """Engine mixin: live frames take turns with queued jobs on the one worker (see the module docstring)."""

    live: LiveSessions

    def _wake_worker(self) -> None:
        """A live frame arrived: the worker may be waiting for work."""
        with self._cond:
            self._cond.notify_all()

    def _live_between_steps(self, job, batch) -> None:
        """Called at a running job's step boundaries (from its context's report). Only on the worker thread itself:
        an op reporting from a helper thread of its own does not run live frames there."""
        if batch is None and threading.current_thread() in self._workers and interleavable(job.request) \
                and self.live.due():
            self.live.run_one()


__all__ = ["LiveSessions", "LiveTurns", "LiveSettings", "DEFAULT_MAX_LIVE_SESSIONS", "interleavable"]
