"""Live mode for every face (live.proto): the gRPC bidirectional `Live` stream, and OpenLive / SendLiveFrame /
WatchLive / PollLive / CloseLive for HTTP/1.1 clients. Thin: the token, conversion (convert_live.py) and the
session registry (jobs/live.py), which does the work.

A session belongs to whoever opened it: the same token and client name (the dccbridge-client header, else the
address) must come with every later call, else the session is NOT_FOUND, as is an id that never existed.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterator

from ..errors import DccError, InvalidInput
from ..jobs.live import LiveSessions
from ..v1 import live_pb2
from . import convert_live
from .security import BearerToken
from .service import MAX_WAIT_MS, Caller, StreamSlots

log = logging.getLogger("dccbridge.live")


def owner_of(caller: Caller) -> tuple[str, str]:
    return caller.client, caller.authorization


class LiveService:
    def __init__(self, live: LiveSessions, token: BearerToken, streams: StreamSlots):
        self.live = live
        self._token = token
        self.streams = streams

    # -- HTTP/1.1: unary calls, a server stream and a long-poll ---------------------------------------

    def open_live(self, request: live_pb2.OpenLiveRequest, caller: Caller) -> live_pb2.OpenLiveResponse:
        self._token.check(caller.authorization)
        session = self.live.open(convert_live.config(request.config), owner_of(caller))
        with session.cond:
            opened = convert_live.event(session.events[0]).opened
        return live_pb2.OpenLiveResponse(opened=opened)

    def send_live_frame(self, request: live_pb2.SendLiveFrameRequest,
                        caller: Caller) -> live_pb2.SendLiveFrameResponse:
        self._token.check(caller.authorization)
        owner = owner_of(caller)
        kind = request.WhichOneof("request")
        if kind == "update":
            superseded = self.live.update(request.session_id, owner, *_update_fields(request.update))
        elif kind == "frame":
            superseded = self._send(request.session_id, owner, request.frame)
        else:
            raise InvalidInput("request", "set frame or update")
        return live_pb2.SendLiveFrameResponse(superseded_frame=superseded)

    def watch_live(self, request: live_pb2.WatchLiveRequest, caller: Caller) -> Iterator[live_pb2.LiveEvent]:
        self._token.check(caller.authorization)
        session = self.live.get(request.session_id, owner_of(caller), ended_ok=True)
        with self.streams.hold():
            for event in self.live.watch(session, request.after_sequence, caller.is_active):
                yield convert_live.event(event)

    def poll_live(self, request: live_pb2.PollLiveRequest, caller: Caller) -> live_pb2.PollLiveResponse:
        self._token.check(caller.authorization)
        if request.wait_ms > MAX_WAIT_MS:
            raise InvalidInput("wait_ms", f"must be at most {MAX_WAIT_MS}, got {request.wait_ms}")
        session = self.live.get(request.session_id, owner_of(caller), ended_ok=True)
        with self.streams.hold():
            events = self.live.poll(session, request.after_sequence, request.wait_ms / 1000)
        return live_pb2.PollLiveResponse(events=[convert_live.event(e) for e in events])

    def close_live(self, request: live_pb2.CloseLiveRequest, caller: Caller) -> live_pb2.CloseLiveResponse:
        self._token.check(caller.authorization)
        data = self.live.close(request.session_id, owner_of(caller))
        return live_pb2.CloseLiveResponse(closed=convert_live.closed(data))

    # -- gRPC: one bidirectional stream ----------------------------------------------------------------

    def live_stream(self, requests: Iterator[live_pb2.LiveRequest], caller: Caller) -> Iterator[live_pb2.LiveEvent]:
        """`open` first, then frames and updates; the session ends with the request stream ("client closed"), a
        `close` message, or the client's disconnect ("client disconnected"). Bad frames are answered
        frame_failed on the stream; only a bad `open` ends the call with a status."""
        self._token.check(caller.authorization)
        owner = owner_of(caller)
        with self.streams.hold():
            first = next(requests, None)
            if first is None:
                return
            if first.WhichOneof("request") != "open":
                raise InvalidInput("request", "the first message of a Live stream must be `open` (a LiveConfig)")
            session = self.live.open(convert_live.config(first.open), owner)
            caller.on_disconnect(lambda: self.live.end(session, "client disconnected"))
            reader = threading.Thread(target=self._read, args=(requests, session, owner),
                                      name="dccbridge-live-reader", daemon=True)
            reader.start()
            try:
                for event in self.live.watch(session, 0, caller.is_active):
                    yield convert_live.event(event)
            finally:
                self.live.end(session, "client disconnected")  # no-op after a normal end

    def _read(self, requests, session, owner) -> None:
        reason = "client closed"
        try:
            for request in requests:
                kind = request.WhichOneof("request")
                try:
                    if kind == "frame":
                        self._send(session.session_id, owner, request.frame)
                    elif kind == "update":
                        self.live.update(session.session_id, owner, *_update_fields(request.update))
                    elif kind == "close":
                        break
                    else:
                        raise InvalidInput("request", "a Live stream takes one `open`, then frames and updates")
                except InvalidInput:
                    continue  # answered frame_failed on the stream (_send); the session stays open
                except DccError as error:  # e.g. the session already ended
                    log.debug("live request not taken: %s", error.message)
        except Exception:  # noqa: BLE001 - the request stream broke: the client went away
            reason = "client disconnected"
        self.live.end(session, reason)

    def _send(self, session_id: str, owner, wire_frame: live_pb2.LiveFrame) -> int:
        """A frame into the session; a frame that cannot even be read is answered frame_failed too."""
        try:
            frame = convert_live.frame(wire_frame)
        except InvalidInput as error:
            self.live.reject(session_id, owner, wire_frame.frame, error)
            raise
        return self.live.send(session_id, owner, frame)


def _update_fields(update: live_pb2.LiveUpdate) -> tuple[str | None, int | None]:
    return (update.prompt if update.HasField("prompt") else None,
            update.seed if update.HasField("seed") else None)
