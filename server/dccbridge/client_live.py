"""Live mode from Python (scripts, the bench, tests): `live_session(client, ...)` opens a session on the gRPC
`Live` stream, `send(...)` sends numbered frames without waiting, `results()` / `next_event()` read the answers.

    with Client("127.0.0.1:50051") as client, live_session(client, prompt="a castle", width=512, height=512) as s:
        for n, png in enumerate(frames, start=1):
            s.send(n, image=png)
        for event in s.events_until(len(frames)):   # one answer per frame: result, superseded or frame_failed
            ...
    # leaving the block closes the session; s.closed holds the counts
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

from .v1 import live_pb2, media_pb2, tasks_pb2

ANSWERS = ("result", "superseded", "frame_failed")
_END = object()


def image(data: bytes, mime_type: str = "") -> media_pb2.Image:
    return media_pb2.Image(data=data, mime_type=mime_type)


def live_config(prompt: str = "", *, model_id: str = "", width: int = 0, height: int = 0, steps: int | None = None,
                guidance_scale: float | None = None, scheduler: str = "", seed: int | None = None,
                strength: float | None = None, controls=(), similarity_threshold: float | None = None,
                feedback: float | None = None, throughput: bool = False, jpeg_results: bool = False,
                idle_timeout_ms: int = 0, label: str = "", negative_prompt: str = "") -> live_pb2.LiveConfig:
    """A LiveConfig; controls: LiveControlSlot messages or control type numbers (control_pb2.CONTROL_TYPE_*)."""
    sampling = tasks_pb2.Sampling(scheduler=scheduler)
    if steps is not None:
        sampling.num_inference_steps = steps
    if guidance_scale is not None:
        sampling.guidance_scale = guidance_scale
    if seed is not None:
        sampling.seed = seed
    config = live_pb2.LiveConfig(model_id=model_id, prompt=prompt, negative_prompt=negative_prompt, width=width,
                                 height=height, sampling=sampling, jpeg_results=jpeg_results,
                                 idle_timeout_ms=idle_timeout_ms, label=label,
                                 priority=live_pb2.LIVE_PRIORITY_THROUGHPUT if throughput
                                 else live_pb2.LIVE_PRIORITY_LATENCY)
    for name, value in (("strength", strength), ("similarity_threshold", similarity_threshold),
                        ("feedback", feedback)):
        if value is not None:
            setattr(config, name, value)
    for slot in controls:
        config.controls.append(slot if isinstance(slot, live_pb2.LiveControlSlot)
                               else live_pb2.LiveControlSlot(control_type=slot))
    return config


def live_frame(number: int, *, image_bytes: bytes | None = None, controls=(), prompt: str | None = None,
               seed: int | None = None) -> live_pb2.LiveFrame:
    """controls: (slot, source) pairs, the source a media_pb2.Image, DepthPass, PoseRig or PreprocessSource."""
    frame = live_pb2.LiveFrame(frame=number)
    if image_bytes is not None:
        frame.image.CopyFrom(image(image_bytes))
    for slot, source in controls:
        field = {"Image": "image", "DepthPass": "depth_pass", "PoseRig": "pose_rig",
                 "PreprocessSource": "preprocess"}[type(source).__name__]
        control = frame.controls.add(slot=slot)
        getattr(control, field).CopyFrom(source)
    if prompt is not None:
        frame.prompt = prompt
    if seed is not None:
        frame.seed = seed
    return frame


class LiveSession:
    """One gRPC `Live` stream. Sending never blocks on the server; events arrive on a reader thread."""

    def __init__(self, client, config: live_pb2.LiveConfig, timeout_s: float = 600):
        self._requests: queue.Queue = queue.Queue()
        self._requests.put(live_pb2.LiveRequest(open=config))
        self._call = client.stub.Live(iter(self._requests.get, _END), metadata=client.metadata, timeout=timeout_s)
        self._events: queue.Queue = queue.Queue()
        self.closed: live_pb2.LiveClosed | None = None
        self.error: Exception | None = None
        self._reader = threading.Thread(target=self._read, name="live-client-reader", daemon=True)
        self._reader.start()
        first = self.next_event(timeout_s)
        if first is None or first.WhichOneof("event") != "opened":
            raise self.error or RuntimeError(f"the session did not open: {first}")
        self.opened = first.opened
        self.session_id = first.opened.session_id

    def _read(self) -> None:
        try:
            for event in self._call:
                if event.WhichOneof("event") == "closed":
                    self.closed = event.closed
                self._events.put(event)
        except Exception as error:  # noqa: BLE001 - grpc.RpcError: kept for the caller
            self.error = error
        finally:
            self._events.put(None)

    def send(self, number: int, **fields) -> None:
        self.send_frame(live_frame(number, **fields))

    def send_frame(self, frame: live_pb2.LiveFrame) -> None:
        self._requests.put(live_pb2.LiveRequest(frame=frame))

    def update(self, prompt: str | None = None, seed: int | None = None) -> None:
        update = live_pb2.LiveUpdate()
        if prompt is not None:
            update.prompt = prompt
        if seed is not None:
            update.seed = seed
        self._requests.put(live_pb2.LiveRequest(update=update))

    def next_event(self, timeout_s: float | None = 120) -> live_pb2.LiveEvent | None:
        """The next event; None when the stream has ended."""
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no live event within {timeout_s} s") from None

    def answers(self, count: int, timeout_s: float = 120) -> list[live_pb2.LiveEvent]:
        """The next `count` answers (result, superseded, frame_failed), in the order they came."""
        out = []
        while len(out) < count:
            event = self.next_event(timeout_s)
            if event is None:
                raise self.error or RuntimeError(f"the stream ended after {len(out)} of {count} answers")
            if event.WhichOneof("event") in ANSWERS:
                out.append(event)
        return out

    def events_until(self, frame: int, timeout_s: float = 120) -> Iterator[live_pb2.LiveEvent]:
        """Answers up to and including the one for `frame`."""
        while True:
            event = self.next_event(timeout_s)
            if event is None:
                return
            kind = event.WhichOneof("event")
            if kind in ANSWERS:
                yield event
                if getattr(event, kind).frame >= frame:
                    return

    def close(self, timeout_s: float = 60) -> live_pb2.LiveClosed | None:
        """End the request stream; the rest of the events (the closed one last) are read and dropped."""
        self._requests.put(live_pb2.LiveRequest(close=live_pb2.LiveClose()))
        self._requests.put(_END)
        self._reader.join(timeout_s)
        return self.closed

    def drain(self) -> list[live_pb2.LiveEvent]:
        """Events received and not yet read (after close: everything up to `closed`)."""
        out = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return out
            if event is not None:
                out.append(event)

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def live_session(client, config: live_pb2.LiveConfig | None = None, **fields) -> LiveSession:
    """Open a session on `client` (a dccbridge.client.Client): a LiveConfig, or live_config(**fields)."""
    return LiveSession(client, config if config is not None else live_config(**fields))
