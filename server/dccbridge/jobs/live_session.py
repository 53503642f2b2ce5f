"""One live session's state: the inputs so far, the one pending frame, answers in frame order, events.

Every frame is answered exactly once and in order: an answer is recorded against the frame's ticket and events
leave in ticket order, so a frame superseded while an older one is still being computed is announced after the
older one's result. Events are kept in a bounded window (resume with after_sequence); the session is guarded by
its own condition variable, which also wakes its watchers.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

from ..domain import ImageInput
from ..domain_live import LiveFrame, LiveInputs, LiveSettings
from ..errors import DccError, InvalidInput, status_name, without_host_paths
from .records import now_ms

EVENTS_KEPT = 64  # per session, for WatchLive / PollLive resumption; older events are dropped


@dataclass
class LiveEventRecord:
    session_id: str
    sequence: int
    time_ms: int
    kind: str  # opened | result | superseded | frame_failed | closed
    data: dict = field(default_factory=dict)


@dataclass
class LiveCounts:
    received: int = 0
    computed: int = 0
    reused: int = 0
    superseded: int = 0
    failed: int = 0


class LiveSession:
    def __init__(self, session_id: str, owner: tuple[str, str], settings: LiveSettings, runner):
        self.session_id = session_id
        self.owner = owner
        self.settings = settings
        self.runner = runner
        self.cond = threading.Condition()
        self.events: collections.deque[LiveEventRecord] = collections.deque(maxlen=EVENTS_KEPT)
        self.sequence = 0
        self.counts = LiveCounts()
        self.last_frame = 0
        self.last_activity = time.monotonic()
        self.pending: LiveInputs | None = None
        self.busy = False       # the worker is computing for this session
        self.closing = ""       # the reason, once asked to close
        self.finalized = False  # the closed event is out
        self._image: ImageInput | None = None
        self._sources: list = [None] * len(settings.controls)
        self._prompt = settings.prompt
        self._seed = settings.seed
        self._tickets = 0
        self._awaiting: collections.deque[int] = collections.deque()  # tickets not yet announced, oldest first
        self._answers: dict[int, tuple[str, dict]] = {}
        self.arrivals: dict[int, float] = {}  # ticket -> arrival time, until answered
        self.encoded: tuple | None = None  # (pixels, their encoding, mime): a reused result is not encoded again

    # -- events (call with cond held) -----------------------------------------------------------

    def emit(self, kind: str, **data) -> LiveEventRecord:
        self.sequence += 1
        event = LiveEventRecord(self.session_id, self.sequence, now_ms(), kind, data)
        self.events.append(event)
        self.cond.notify_all()
        return event

    def answer(self, ticket: int, kind: str, **data) -> None:
        """Record a frame's one answer; announce every answer whose turn has come."""
        self._answers[ticket] = (kind, data)
        self.arrivals.pop(ticket, None)
        while self._awaiting and self._awaiting[0] in self._answers:
            kind, data = self._answers.pop(self._awaiting.popleft())
            self.emit(kind, **data)

    def events_after(self, sequence: int) -> list[LiveEventRecord]:
        return [event for event in self.events if event.sequence > sequence]

    # -- frames (call with cond held) -----------------------------------------------------------

    def _ticket(self, arrived: float) -> int:
        self._tickets += 1
        self._awaiting.append(self._tickets)
        self.arrivals[self._tickets] = arrived
        return self._tickets

    def accept(self, frame: LiveFrame, check) -> int:
        """Take a frame: it becomes the pending one (the one before, if still waiting, is superseded). Returns
        the superseded frame's number (0 = none). A frame that fails `check` is answered frame_failed and the
        error raised; a frame number that does not increase is refused without an answer."""
        if frame.frame <= self.last_frame:
            error = InvalidInput("frame.frame", f"must be greater than the session's last frame number "
                                                f"({self.last_frame}), got {frame.frame}")
            self.reject(frame.frame, error)
            raise error
        arrived = time.monotonic()
        self.last_frame = frame.frame
        self.last_activity = arrived
        self.counts.received += 1
        ticket = self._ticket(arrived)
        try:
            check(frame)
            sources = list(self._sources)
            for slot, source in frame.controls:
                sources[slot] = source
            missing = [str(slot) for slot, source in enumerate(sources) if source is None]
            if missing:
                raise InvalidInput("frame.controls", f"no input yet for slot(s) {', '.join(missing)}: the first "
                                                     "frame must give every slot's input")
        except InvalidInput as error:
            self.fail(ticket, frame.frame, error)
            raise
        self._sources = sources
        if frame.image is not None:
            self._image = frame.image
        if frame.prompt is not None:
            self._prompt = frame.prompt
        if frame.seed is not None:
            self._seed = frame.seed if frame.seed >= 0 else self.settings.seed
        return self._make_pending(frame.frame, ticket, arrived)

    def update(self, prompt: str | None, seed: int | None) -> int:
        """A new prompt and/or seed; the last frame is computed again with them (when there was one)."""
        self.last_activity = time.monotonic()
        if prompt is not None:
            self._prompt = prompt
        if seed is not None:
            self._seed = seed if seed >= 0 else self.settings.seed
        if not self.last_frame or None in self._sources:
            return 0
        arrived = time.monotonic()
        return self._make_pending(self.last_frame, self._ticket(arrived), arrived)

    def _make_pending(self, number: int, ticket: int, arrived: float) -> int:
        superseded = 0
        if self.pending is not None:
            superseded = self.pending.frame
            self.counts.superseded += 1
            self.answer(self.pending.ticket, "superseded", frame=superseded, by_frame=number)
        self.pending = LiveInputs(number, self._image, tuple(self._sources), self._prompt, self._seed, arrived,
                                  ticket)
        return superseded

    def fail(self, ticket: int, frame: int, error: DccError) -> None:
        self.counts.failed += 1
        self.answer(ticket, "frame_failed", frame=frame, failure=_failure(error))

    def reject(self, frame: int, error: DccError) -> None:
        """A frame that could not be taken at all (unreadable, or its number does not increase): answered
        frame_failed at once, outside the frame order."""
        self.last_activity = time.monotonic()
        self.counts.failed += 1
        self.emit("frame_failed", frame=frame, failure=_failure(error))

    def closed_data(self, reason: str) -> dict:
        c = self.counts
        return dict(reason=reason, frames_received=c.received, frames_computed=c.computed, frames_reused=c.reused,
                    frames_superseded=c.superseded)


def _failure(error: DccError) -> dict:
    return {"code": status_name(error), "message": without_host_paths(error.message), "field": error.field}
