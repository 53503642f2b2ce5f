"""Live mode through a real server on the tiny preset, gRPC face (the `Live` stream): open, frames, answers in order,
latest frame wins, similarity reuse, control-map cache, feedback, stream batch, bad input, idle timeout,
disconnect, token, session limit, fairness with queued jobs both ways, and many frames without growth.

HTTP/1.1 (OpenLive, SendLiveFrame, WatchLive, PollLive, CloseLive): tests/test_live_http.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from dccbridge import imaging
from dccbridge.client import Client, depth_pass_from_array
from dccbridge.client_live import live_config, live_frame, live_session
from dccbridge.v1 import control_pb2, live_pb2, service_pb2

from conftest import generate_task, running_server

SIZE = 64
# 1,000 frames with DCCBRIDGE_LIVE_FRAMES=1000; the default run sends fewer.
MANY_FRAMES = int(os.environ.get("DCCBRIDGE_LIVE_FRAMES", "0") or 0) or 200


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("live"), http_port=0, max_live_sessions=3) as srv:
        yield srv


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", client_name="live-tests") as c:
        yield c


def png(seed: int, value: int | None = None) -> bytes:
    """A 64² test image: random noise for a seed, or one flat grey value."""
    if value is not None:
        return imaging.encode_png(np.full((SIZE, SIZE, 3), value, np.uint8))
    return imaging.encode_png(np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))


def depth(box_far: float) -> object:
    plane = np.full((SIZE, SIZE), 8.0, np.float32)
    plane[16:48, 16:48] = box_far
    return depth_pass_from_array(plane, encoding="linear", far=10.0)


def kind(event) -> str:
    return event.WhichOneof("event")


def answered(event) -> int:
    return getattr(event, kind(event)).frame


def session(client, **fields):
    fields = {"width": SIZE, "height": SIZE, "steps": 2, "seed": 7, **fields}
    return live_session(client, prompt=fields.pop("prompt", "a red cube"), **fields)


def control_maps_computed(server) -> float:
    return server.metrics.live_control_maps._value.get()


def wait_until(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- the basic path -----------------------------------------------------------------------------------


def test_open_frames_results_close(client):
    assert "live" in client.capabilities().features  # a single server offers live sessions
    with session(client, similarity_threshold=0) as live:
        config = live.opened.config
        assert live.session_id and len(live.session_id) >= 20  # unguessable
        assert (config.width, config.height, config.sampling.num_inference_steps) == (SIZE, SIZE, 2)
        assert config.sampling.seed == 7 and config.similarity_threshold == 0
        for number in (1, 2, 3):
            live.send(number, image_bytes=png(number))
            (event,) = live.answers(1)
            assert kind(event) == "result" and event.result.frame == number
            result = event.result
            assert not result.reused and result.seed == 7
            assert imaging.decode_image(result.image.data, "result").shape == (SIZE, SIZE, 3)
            assert result.image.mime_type == "image/png"
            timings = result.timings
            assert timings.pipeline_ms > 0 and timings.total_ms >= timings.pipeline_ms
            assert timings.stream_batch == 1
    closed = live.closed
    assert closed.reason == "client closed"
    assert (closed.frames_received, closed.frames_computed, closed.frames_superseded) == (3, 3, 0)


def test_txt2img_frames_and_jpeg_results(client):
    """Frames without an image run txt2img; a new prompt in a frame is taken (and not reused across it)."""
    with session(client, jpeg_results=True) as live:
        live.send(1)
        live.send(2, prompt="a blue sphere")
        events = live.answers(2)
    results = [e.result for e in events if kind(e) == "result"]
    assert results and all(r.image.mime_type == "image/jpeg" and not r.reused for r in results)
    assert answered(events[-1]) == 2 and kind(events[-1]) == "result"


def test_latest_frame_wins_every_frame_answered_once_in_order(client, server):
    count = 30
    with session(client, similarity_threshold=0) as live:
        for number in range(1, count + 1):  # all at once: far faster than the model answers
            live.send(number, image_bytes=png(number))
        events = live.answers(count)
    assert [answered(e) for e in events] == list(range(1, count + 1))  # each once, in frame order
    assert kind(events[-1]) == "result" and events[-1].result.frame == count  # the newest is computed
    superseded = [e.superseded for e in events if kind(e) == "superseded"]
    computed = [e.result for e in events if kind(e) == "result"]
    assert superseded and all(s.by_frame > s.frame for s in superseded)
    assert len(computed) + len(superseded) == count and len(computed) < count
    assert live.closed.frames_superseded == len(superseded)


# -- what saves work --------------------------------------------------------------------------------


def test_similarity_filter_reuses_nearly_identical_frames(client):
    base = np.random.default_rng(1).integers(40, 200, (SIZE, SIZE, 3), dtype=np.uint8)
    nudged = base.copy()
    nudged[0, 0] += 1  # one pixel, one level: "nearly identical"
    with session(client) as live:  # default threshold 0.98
        assert live.opened.config.similarity_threshold == pytest.approx(0.98)
        frames = [imaging.encode_png(base), imaging.encode_png(base), imaging.encode_png(nudged),
                  imaging.encode_png(255 - base)]
        results = []
        for number, data in enumerate(frames, start=1):
            live.send(number, image_bytes=data)
            results.append(live.answers(1)[0].result)
    assert not results[0].reused
    assert results[1].reused and results[1].reused_from_frame == 1 and results[1].similarity == pytest.approx(1.0)
    assert results[1].image.data == results[0].image.data
    assert results[2].reused and 0.98 <= results[2].similarity < 1.0
    assert not results[3].reused and results[3].image.data != results[0].image.data
    assert live.closed.frames_reused == 2 and live.closed.frames_computed == 2

    with session(client, similarity_threshold=0) as live:  # 0 = off: identical inputs are computed again
        answers = []
        for number in (1, 2):
            live.send(number, image_bytes=imaging.encode_png(base))
            answers += live.answers(1)
        assert [(kind(e), e.result.reused) for e in answers] == [("result", False), ("result", False)]


def test_prompt_embeddings_are_encoded_once_per_prompt(client, server):
    cache = server.manager.load("").prompt_cache
    with session(client, prompt="a prompt only this test sends", similarity_threshold=0) as live:
        live.send(1, image_bytes=png(1))
        live.answers(1)
        misses = cache.misses
        for number in (2, 3, 4):
            live.send(number, image_bytes=png(number))
            live.answers(1)
        assert cache.misses == misses  # frames 2-4 reuse frame 1's embeddings
        live.send(5, image_bytes=png(5), prompt="another prompt only this test sends")
        assert kind(live.answers(1)[0]) == "result"
        assert cache.misses == misses + 1


def test_control_map_recomputed_only_when_its_input_changes(client, server):
    slots = [control_pb2.CONTROL_TYPE_DEPTH]
    with session(client, controls=slots, similarity_threshold=0) as live:
        def frame(number, **fields):
            before = control_maps_computed(server)
            live.send(number, **fields)
            (event,) = live.answers(1)
            assert kind(event) == "result", event
            return control_maps_computed(server) - before

        assert frame(1, image_bytes=png(1), controls=[(0, depth(2.0))]) == 1
        assert frame(2, image_bytes=png(2)) == 0                        # omitted: the previous depth pass
        assert frame(3, image_bytes=png(3), controls=[(0, depth(2.0))]) == 0  # the same bytes again
        assert frame(4, image_bytes=png(4), controls=[(0, depth(4.0))]) == 1  # a changed depth pass


def test_feedback_blends_the_previous_result_into_the_next_frame(client):
    def two_frames(**fields):
        out = []
        with session(client, similarity_threshold=0, **fields) as live:
            for number in (1, 2):  # one at a time: neither is superseded
                live.send(number, image_bytes=png(5))
                (event,) = live.answers(1)
                assert kind(event) == "result", event
                out.append(event.result.image.data)
        return out

    plain = two_frames()
    assert plain[0] == plain[1]  # same inputs, same seed: the same pixels
    fed = two_frames(feedback=0.5)
    assert fed[0] == plain[0] and fed[1] != fed[0]  # frame 2 started from a blend with frame 1's result


def test_stream_batch_answers_every_frame_with_sane_images(client):
    count = 12
    with session(client, throughput=True, steps=4, strength=0.5, similarity_threshold=0) as live:
        assert live.opened.config.priority == live_pb2.LIVE_PRIORITY_THROUGHPUT
        for number in range(1, count + 1):
            live.send(number, image_bytes=png(number))
            time.sleep(0.03)
        events = live.answers(count)
    assert [answered(e) for e in events] == list(range(1, count + 1))
    results = [e.result for e in events if kind(e) == "result"]
    assert results[-1].frame == count
    assert any(r.timings.stream_batch == 2 for r in results)  # frames shared UNet calls
    for result in results:
        pixels = imaging.decode_image(result.image.data, "result").astype(np.float32)
        assert pixels.shape == (SIZE, SIZE, 3) and pixels.std() > 1.0


def test_stream_batch_frames_do_not_mix(client):
    """A frame computed in company (stream_batch 2) gives the pixels it gives alone: the batch keeps frames apart."""
    count = 8
    fields = dict(throughput=True, steps=4, strength=0.5, similarity_threshold=0)
    alone = {}
    with session(client, **fields) as live:
        for number in range(1, count + 1):
            live.send(number, image_bytes=png(100 + number))
            (event,) = live.answers(1)
            assert event.result.timings.stream_batch == 1
            alone[event.result.frame] = imaging.decode_image(event.result.image.data, "alone")
    with session(client, **fields) as live:
        for number in range(1, count + 1):
            live.send(number, image_bytes=png(100 + number))
            time.sleep(0.03)
        together = [e.result for e in live.answers(count) if kind(e) == "result"]
    shared = [r for r in together if r.timings.stream_batch == 2]
    assert shared, "no frame shared a UNet call"
    for result in shared:
        difference = np.abs(imaging.decode_image(result.image.data, "together").astype(int) - alone[result.frame])
        assert difference.max() <= 2, f"frame {result.frame} differs by up to {difference.max()} levels"


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, field", [
    ({"width": 60, "height": 64}, "config.width"),
    ({"width": 64, "height": 0}, "config.height"),
    ({"strength": 1.5}, "config.strength"),
    ({"similarity_threshold": 2.0}, "config.similarity_threshold"),
    ({"model_id": "no-such-model"}, "config.model_id"),
    ({"controls": [control_pb2.CONTROL_TYPE_LINEART]}, "config.controls[0].control_type"),
    ({"steps": 1, "strength": 0.5}, "config.sampling.num_inference_steps"),
])
def test_bad_config_is_invalid_argument_naming_the_field(client, fields, field):
    config = live_config("a cube", **{"width": SIZE, "height": SIZE, **fields})
    with pytest.raises(grpc.RpcError) as error:
        live_session(client, config)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert error.value.details().startswith(field + ":"), error.value.details()


def test_bad_frames_fail_alone_and_the_session_goes_on(client):
    with session(client, controls=[control_pb2.CONTROL_TYPE_DEPTH], similarity_threshold=0) as live:
        live.send(1, image_bytes=png(1))  # the first frame must give every slot's input
        live.send_frame(live_frame(2, image_bytes=png(2), controls=[(3, depth(2.0))]))
        live.send(3, image_bytes=b"not an image", controls=[(0, depth(2.0))])
        events = live.answers(3)
        live.send(3, image_bytes=png(3))  # a frame number that does not increase
        events += live.answers(1)
        live.send(4, image_bytes=png(4))
        events += live.answers(1)
    failures = [(e.frame_failed.frame, e.frame_failed.failure.field) for e in events[:4]]
    assert failures == [(1, "frame.controls"), (2, "frame.controls[0].slot"), (3, "frame.image"),
                        (3, "frame.frame")]
    assert all(kind(e) == "frame_failed" for e in events[:4])
    assert events[0].frame_failed.failure.code == 3  # ERROR_CODE_INVALID_ARGUMENT, never INTERNAL
    assert kind(events[4]) == "result" and events[4].result.frame == 4


def test_first_message_must_be_open(client):
    requests = iter([live_pb2.LiveRequest(frame=live_pb2.LiveFrame(frame=1))])
    with pytest.raises(grpc.RpcError) as error:
        list(client.stub.Live(requests, metadata=client.metadata, timeout=30))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("request:")


# -- how sessions end -----------------------------------------------------------------------------


def test_idle_timeout_closes_the_session(client):
    live = session(client, idle_timeout_ms=300)
    live.send(1, image_bytes=png(1))
    live.answers(1)
    event = live.next_event(timeout_s=10)
    assert kind(event) == "closed" and event.closed.reason == "idle timeout"
    assert event.closed.frames_received == 1
    assert live.next_event(timeout_s=10) is None  # the stream ended with it


def test_client_disconnect_ends_the_session(client, server):
    live = session(client)
    live.send(1, image_bytes=png(1))
    live.answers(1)
    assert server.engine.live.open_count() >= 1
    session_id = live.session_id
    live._call.cancel()  # the client goes away without closing
    assert wait_until(lambda: session_id not in server.engine.live._sessions)
    ended = server.engine.live._ended[session_id]
    assert ended.finalized and ended.events[-1].data["reason"] == "client disconnected"


def test_session_limit_is_resource_exhausted(client, server):
    opened = [session(client) for _ in range(server.config.max_live_sessions - server.engine.live.open_count())]
    try:
        with pytest.raises(grpc.RpcError) as error:
            session(client)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-live-sessions" in error.value.details()
    finally:
        for live in opened:
            live.close()
    session(client).close()  # a closed session frees its place


def test_token_is_required(tmp_path):
    with running_server(tmp_path, token="s3cret") as srv:
        address = f"127.0.0.1:{srv.port}"
        with Client(address) as anonymous, pytest.raises(grpc.RpcError) as error:
            session(anonymous)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with Client(address, token="s3cret") as client, session(client) as live:
            live.send(1)
            assert kind(live.answers(1)[0]) == "result"


# -- sharing the device with queued jobs ----------------------------------------------------------------


def test_a_queued_job_waits_at_most_one_live_frame(client, server):
    stop = threading.Event()
    with session(client, similarity_threshold=0) as live:
        def stream_frames():
            number = 0
            while not stop.is_set():  # always a pending frame: live work never runs out
                number += 1
                live.send(number, image_bytes=png(number % 7))
                time.sleep(0.005)

        sender = threading.Thread(target=stream_frames)
        sender.start()
        try:
            live.answers(2)  # the session is busy
            request = service_pb2.SubmitRequest(task=generate_task(size=SIZE, steps=2))
            events = list(client.stub.Run(request, metadata=client.metadata, timeout=60))  # never waits forever
        finally:
            stop.set()
            sender.join()
        live_results = []
        for event in live.drain():
            if kind(event) == "result":
                live_results.append(event.time_ms)
    queued_ms = next(e.time_ms for e in events if e.WhichOneof("event") == "queued")
    started_ms = next(e.time_ms for e in events if e.WhichOneof("event") == "started")
    assert events[-1].WhichOneof("event") == "result"
    between = [t for t in live_results if queued_ms < t < started_ms]
    assert len(between) <= 1, f"{len(between)} live frames finished while the job waited"


def test_a_live_frame_does_not_wait_for_a_whole_queued_job(client, server):
    with session(client, similarity_threshold=0) as live:
        live.send(1, image_bytes=png(1))
        live.answers(1)  # warm
        events = client.run(generate_task(size=SIZE, steps=40))
        for event in events:
            if event.WhichOneof("event") == "progress" and event.progress.step >= 2:
                break
        live.send(2, image_bytes=png(2))
        (answer,) = live.answers(1)
        answered_ms = answer.time_ms
        rest = list(events)
    assert kind(answer) == "result"
    assert rest[-1].WhichOneof("event") == "result"
    assert answered_ms < rest[-1].time_ms  # answered between the job's steps, before the job ended
    steps_after = [e for e in rest if e.WhichOneof("event") == "progress" and e.time_ms > answered_ms]
    assert steps_after, "the job still had steps to run after the live frame"


def test_jobs_with_their_own_loras_or_tiling_are_not_interleaved():
    from dccbridge.domain import AdapterSpec, GenerateRequest, LoraSpec, TextureRequest, TilingAxes
    from dccbridge.jobs.live import interleavable

    assert interleavable(GenerateRequest(prompt="x"))
    assert not interleavable(GenerateRequest(prompt="x", adapters=AdapterSpec(loras=(LoraSpec("style"),))))
    assert not interleavable(TextureRequest(prompt="x", tiling=TilingAxes.BOTH))
    assert interleavable(TextureRequest(prompt="x"))


# -- the command line ------------------------------------------------------------------------------


def test_cli_sends_a_folder_of_frames(server, tmp_path):
    frames_dir, out = tmp_path / "frames", tmp_path / "out"
    frames_dir.mkdir()
    for number in range(1, 5):
        (frames_dir / f"{number:03d}.png").write_bytes(png(number if number != 3 else 2))  # frame 3 repeats 2
    run = subprocess.run([sys.executable, "-m", "dccbridge.cli", "live", "--server", f"127.0.0.1:{server.port}",
                          "--input", str(frames_dir), "-o", str(out), "--prompt", "a cube", "--width", str(SIZE),
                          "--height", str(SIZE), "--steps", "2", "--fps", "5"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    written = sorted(path.name for path in out.iterdir())
    assert written and written[-1] == "000004.png"
    assert "4 frames" in run.stdout
    for path in out.iterdir():
        assert imaging.decode_image(path.read_bytes(), "out").shape == (SIZE, SIZE, 3)


# -- many frames ----------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def test_many_frames_without_thread_or_memory_growth(client, server):
    """DCCBRIDGE_LIVE_FRAMES=1000 for the full run; 64², 1 step either way."""
    warmup = 20
    with session(client, steps=1, strength=1.0, similarity_threshold=0) as live:
        for number in range(1, MANY_FRAMES + 1):
            live.send(number, image_bytes=png(number % 5))
            if number % 10 == 0:
                live.answers(10)
            if number == warmup:
                threads, rss = threading.active_count(), rss_bytes()
        assert threading.active_count() <= threads
        growth = rss_bytes() - rss
    assert live.closed.frames_received == MANY_FRAMES
    assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.0f} MiB over {MANY_FRAMES - warmup} frames"
    assert wait_until(lambda: threading.active_count() <= threads)
