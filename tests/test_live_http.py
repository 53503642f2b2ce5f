"""Live mode on the HTTP/1.1 face (Connect, binary protobuf, made by hand as a UXP or Unity client would):
OpenLive, SendLiveFrame, PollLive (long-poll), WatchLive (server stream), CloseLive; latest frame wins; bad input;
sessions keyed by id and owner; idle timeout; token; and the same session reached over gRPC's unary calls."""

from __future__ import annotations

import json
import struct
import time

import grpc
import httpx
import numpy as np
import pytest

from dccbridge import imaging
from dccbridge.client import Client
from dccbridge.client_live import live_config, live_frame
from dccbridge.v1 import live_pb2

from conftest import running_server

SERVICE = "dccbridge.v1.DccBridgeService"
SIZE = 64


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("live-http"), http_port=0) as srv:
        yield srv


class Connect:
    """Connect's binary protocol by hand: unary calls POST the message; server streams use 5-byte envelopes."""

    def __init__(self, port: int, client: str = "uxp-tests", token: str | None = None):
        headers = {"dccbridge-client": client}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}/{SERVICE}/", timeout=120, headers=headers)

    def call(self, method: str, request, response_type):
        response = self.http.post(method, content=request.SerializeToString(),
                                  headers={"content-type": "application/proto"})
        if response.status_code != 200:
            raise ConnectFailure(response.status_code, response.json(), response.headers)
        return response_type.FromString(response.content)

    def stream(self, method: str, request, response_type) -> tuple[list, dict]:
        body = struct.pack(">BI", 0, len(request.SerializeToString())) + request.SerializeToString()
        response = self.http.post(method, content=body, headers={"content-type": "application/connect+proto"})
        assert response.status_code == 200, response.text
        messages, end, data, i = [], {}, response.content, 0
        while i < len(data):
            flags, length = struct.unpack(">BI", data[i:i + 5])
            payload = data[i + 5:i + 5 + length]
            i += 5 + length
            if flags & 0x02:
                end = json.loads(payload)
            else:
                messages.append(response_type.FromString(payload))
        return messages, end

    def open(self, **fields) -> str:
        config = live_config(fields.pop("prompt", "a red cube"), **{"width": SIZE, "height": SIZE, "steps": 2,
                                                                    "seed": 3, **fields})
        reply = self.call("OpenLive", live_pb2.OpenLiveRequest(config=config), live_pb2.OpenLiveResponse)
        return reply.opened.session_id

    def send(self, session_id: str, number: int, **fields) -> int:
        request = live_pb2.SendLiveFrameRequest(session_id=session_id, frame=live_frame(number, **fields))
        return self.call("SendLiveFrame", request, live_pb2.SendLiveFrameResponse).superseded_frame

    def poll(self, session_id: str, after: int, wait_ms: int = 20_000) -> list:
        request = live_pb2.PollLiveRequest(session_id=session_id, after_sequence=after, wait_ms=wait_ms)
        return list(self.call("PollLive", request, live_pb2.PollLiveResponse).events)

    def poll_answers(self, session_id: str, count: int, after: int = 0) -> tuple[list, int]:
        """Long-poll until `count` answers (result / superseded / frame_failed) came; (answers, last sequence)."""
        answers = []
        deadline = time.monotonic() + 120
        while len(answers) < count and time.monotonic() < deadline:
            for event in self.poll(session_id, after):
                after = event.sequence
                if event.WhichOneof("event") in ("result", "superseded", "frame_failed"):
                    answers.append(event)
        return answers, after

    def close(self, session_id: str) -> live_pb2.LiveClosed:
        request = live_pb2.CloseLiveRequest(session_id=session_id)
        return self.call("CloseLive", request, live_pb2.CloseLiveResponse).closed


class ConnectFailure(Exception):
    def __init__(self, status: int, body: dict, headers):
        super().__init__(f"{status} {body}")
        self.status, self.code, self.message = status, body.get("code"), body.get("message", "")
        self.field = headers.get("trailer-dccbridge-field", "")


@pytest.fixture
def connect(server):
    c = Connect(server.http_port)
    yield c
    c.http.close()


def png(seed: int) -> bytes:
    return imaging.encode_png(np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))


def kind(event) -> str:
    return event.WhichOneof("event")


def test_open_send_poll_close(connect):
    session_id = connect.open(similarity_threshold=0)
    assert connect.send(session_id, 1, image_bytes=png(1)) == 0
    answers, after = connect.poll_answers(session_id, 1)
    assert kind(answers[0]) == "result" and answers[0].result.frame == 1
    assert imaging.decode_image(answers[0].result.image.data, "r").shape == (SIZE, SIZE, 3)
    assert answers[0].result.timings.pipeline_ms > 0
    closed = connect.close(session_id)
    assert (closed.reason, closed.frames_received, closed.frames_computed) == ("client closed", 1, 1)
    events = connect.poll(session_id, after, wait_ms=0)  # the closed event stays readable for a while
    assert [kind(e) for e in events] == ["closed"]
    with pytest.raises(ConnectFailure) as error:
        connect.send(session_id, 2, image_bytes=png(2))
    assert error.value.code == "not_found"


def test_latest_frame_wins_over_http(connect):
    session_id = connect.open(similarity_threshold=0)
    superseded = [connect.send(session_id, n, image_bytes=png(n)) for n in range(1, 11)]
    assert any(superseded)  # frames sent faster than computed replace the waiting one
    answers, _ = connect.poll_answers(session_id, 10)
    assert [getattr(a, kind(a)).frame for a in answers] == list(range(1, 11))
    assert kind(answers[-1]) == "result"
    for number in filter(None, superseded):
        (event,) = [a for a in answers if getattr(a, kind(a)).frame == number]
        assert kind(event) == "superseded"
    connect.close(session_id)


def test_watch_live_streams_events_until_closed(connect, server):
    session_id = connect.open(similarity_threshold=0)
    connect.send(session_id, 1, image_bytes=png(1))
    connect.poll_answers(session_id, 1)
    connect.close(session_id)
    events, end = connect.stream("WatchLive", live_pb2.WatchLiveRequest(session_id=session_id),
                                 live_pb2.LiveEvent)
    assert [kind(e) for e in events] == ["opened", "result", "closed"] and "error" not in end
    later, _ = connect.stream("WatchLive", live_pb2.WatchLiveRequest(session_id=session_id, after_sequence=2),
                              live_pb2.LiveEvent)
    assert [kind(e) for e in later] == ["closed"]


def test_bad_frame_is_invalid_argument_and_frame_failed(connect):
    session_id = connect.open(similarity_threshold=0)
    with pytest.raises(ConnectFailure) as error:
        connect.send(session_id, 1, image_bytes=png(1), controls=[(0, live_frame(1).image)])
    assert error.value.code == "invalid_argument" and error.value.field == "frame.controls[0].slot"
    assert error.value.message.startswith("frame.controls[0].slot:")
    connect.send(session_id, 2, image_bytes=png(2))
    answers, _ = connect.poll_answers(session_id, 2)
    assert [kind(a) for a in answers] == ["frame_failed", "result"]
    assert answers[0].frame_failed.failure.field == "frame.controls[0].slot"
    connect.close(session_id)


def test_bad_config_and_unknown_session(connect):
    with pytest.raises(ConnectFailure) as error:
        connect.open(width=4000, height=64)
    assert error.value.code == "invalid_argument" and error.value.field == "config.width"
    with pytest.raises(ConnectFailure) as error:
        connect.poll("no-such-session", 0, wait_ms=0)
    assert error.value.code == "not_found" and error.value.field == "session_id"
    with pytest.raises(ConnectFailure) as error:
        connect.poll("x", 0, wait_ms=70_000)
    assert error.value.code == "invalid_argument" and error.value.field == "wait_ms"


def test_a_session_belongs_to_its_client(connect, server):
    session_id = connect.open()
    other = Connect(server.http_port, client="someone-else")
    try:
        with pytest.raises(ConnectFailure) as error:
            other.send(session_id, 1, image_bytes=png(1))
        assert error.value.code == "not_found"
        with pytest.raises(ConnectFailure):
            other.close(session_id)
    finally:
        other.http.close()
    assert connect.close(session_id).reason == "client closed"


def test_idle_timeout_ends_an_http_session(connect):
    session_id = connect.open(idle_timeout_ms=300)
    events = []
    deadline = time.monotonic() + 20
    while not any(kind(e) == "closed" for e in events) and time.monotonic() < deadline:
        events += connect.poll(session_id, events[-1].sequence if events else 0, wait_ms=5000)
    assert kind(events[-1]) == "closed" and events[-1].closed.reason == "idle timeout"


def test_bidi_live_is_unimplemented_on_http1(connect):
    response = connect.http.post("Live", content=b"", headers={"content-type": "application/connect+proto"})
    assert "unimplemented" in response.text


def test_token_on_the_http_face(tmp_path):
    with running_server(tmp_path, http_port=0, token="s3cret") as srv:
        anonymous, allowed = Connect(srv.http_port), Connect(srv.http_port, token="s3cret")
        try:
            with pytest.raises(ConnectFailure) as error:
                anonymous.open()
            assert error.value.code == "unauthenticated"
            session_id = allowed.open()
            with pytest.raises(ConnectFailure) as error:  # the id alone is not enough
                anonymous.poll(session_id, 0, wait_ms=0)
            assert error.value.code == "unauthenticated"
            assert allowed.close(session_id).reason == "client closed"
        finally:
            anonymous.http.close()
            allowed.http.close()


def test_the_unary_calls_work_over_grpc_too(server):
    with Client(f"127.0.0.1:{server.port}", client_name="grpc-unary") as client:
        metadata = client.metadata
        opened = client.stub.OpenLive(live_pb2.OpenLiveRequest(config=live_config("x", width=SIZE, height=SIZE,
                                                                                  steps=2)),
                                      metadata=metadata).opened
        client.stub.SendLiveFrame(live_pb2.SendLiveFrameRequest(session_id=opened.session_id,
                                                                frame=live_frame(1)), metadata=metadata)
        events = []
        for event in client.stub.WatchLive(live_pb2.WatchLiveRequest(session_id=opened.session_id),
                                           metadata=metadata, timeout=60):
            events.append(event)
            if kind(event) == "result":
                break
        assert [kind(e) for e in events] == ["opened", "result"]
        closed = client.stub.CloseLive(live_pb2.CloseLiveRequest(session_id=opened.session_id),
                                       metadata=metadata).closed
        assert closed.frames_computed == 1
        with pytest.raises(grpc.RpcError) as error:
            client.stub.SendLiveFrame(live_pb2.SendLiveFrameRequest(session_id=opened.session_id,
                                                                    frame=live_frame(2)), metadata=metadata)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
