"""The gRPC face never starves: with 500 Watch streams open, health, GetCapabilities and Cancel answer within 1 s;
streams beyond the cap are refused with RESOURCE_EXHAUSTED; bytes that do not parse are INVALID_ARGUMENT."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dccbridge.client import Client
from dccbridge.v1 import service_pb2, service_pb2_grpc, tasks_pb2

from conftest import SERVING, generate_task, health_status, running_server

STREAMS = 500
CHANNELS = 5  # several HTTP/2 connections, like several client processes


def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def timed(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_short_calls_answer_within_a_second_with_500_open_streams(tmp_path):
    with running_server(tmp_path) as srv:
        address = f"127.0.0.1:{srv.port}"
        channels = [grpc.insecure_channel(address) for _ in range(CHANNELS)]
        try:
            with Client(address, client_name="load") as client:
                running = client.submit(generate_task(size=128, steps=150))  # progress events to its watchers
                queued = client.submit(generate_task(steps=1))
                stubs = [service_pb2_grpc.DccBridgeServiceStub(channel) for channel in channels]
                streams = [
                    stubs[i % CHANNELS].Watch(service_pb2.WatchRequest(job_id=(running if i % 2 else queued).job_id))
                    for i in range(STREAMS)
                ]
                wait_for(lambda: srv.service.streams.open == STREAMS)

                health = health_pb2_grpc.HealthStub(channels[0])
                latencies = {
                    "health": timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5)),
                    "capabilities": timed(lambda: client.capabilities(timeout=5)),
                    "cancel": timed(lambda: client.cancel(queued.job_id)),
                    "health again": timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5)),
                }
                print("latencies with", STREAMS, "open streams:", {k: round(v, 3) for k, v in latencies.items()})
                assert max(latencies.values()) < 1.0, latencies
                # The cancelled job's watchers all got its end; the others still follow the running job.
                ended = [s for i, s in enumerate(streams) if i % 2 == 0]
                assert all(list(s)[-1].WhichOneof("event") == "cancelled" for s in ended)
                assert srv.service.streams.open == STREAMS // 2
                client.cancel(running.job_id)
                for stream in streams:
                    stream.cancel()
                wait_for(lambda: srv.service.streams.open == 0)
        finally:
            for channel in channels:
                channel.close()


def test_streams_beyond_the_cap_are_refused_with_a_retry_hint(tmp_path):
    with running_server(tmp_path, max_streams=3) as srv, Client(f"127.0.0.1:{srv.port}") as client:
        blocker = client.submit(generate_task(size=128, steps=150))
        open_streams = [client.watch(blocker.job_id) for _ in range(3)]
        wait_for(lambda: srv.service.streams.open == 3)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(client.watch(blocker.job_id)))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert int(dict(refused.value.trailing_metadata())["retry-after-ms"]) > 0
        with pytest.raises(grpc.RpcError) as long_poll:
            client.get_job(blocker.job_id, wait_ms=1000)
        assert long_poll.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Run is refused before it submits: no job is left behind by a refused stream.
        jobs_before = len(client.list_jobs().jobs)
        with pytest.raises(grpc.RpcError):
            list(client.run(generate_task(steps=1)))
        assert len(client.list_jobs().jobs) == jobs_before
        assert health_status(f"127.0.0.1:{srv.port}") == SERVING
        client.cancel(blocker.job_id)
        assert all(list(stream)[-1].WhichOneof("event") == "cancelled" for stream in open_streams)


def raw_call(address: str, method: str, data: bytes, streaming: bool = False):
    with grpc.insecure_channel(address) as channel:
        path = f"/dccbridge.v1.DccBridgeService/{method}"
        if streaming:
            call = channel.unary_stream(path, request_serializer=None, response_deserializer=None)
            return list(call(data, timeout=10))
        return channel.unary_unary(path, request_serializer=None, response_deserializer=None)(data, timeout=10)


@pytest.mark.parametrize("method, streaming", [("Submit", False), ("Run", True), ("GetJob", False)])
def test_bytes_that_are_not_the_request_message_are_invalid_argument(address, method, streaming):
    with pytest.raises(grpc.RpcError) as error:
        raw_call(address, method, b"\xff\xff\xff\xff not a protobuf", streaming)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert error.value.details().startswith("request:")
    assert dict(error.value.trailing_metadata())["dccbridge-field"] == "request"
    assert health_status(address) == SERVING


def test_a_prompt_that_is_not_utf8_is_invalid_argument(address):
    request = service_pb2.SubmitRequest(task=tasks_pb2.Task(generate=tasks_pb2.GenerateTask(prompt="PROMPT")))
    data = request.SerializeToString().replace(b"PROMPT", b"\xff\xfe\xfdPRO")
    with pytest.raises(grpc.RpcError) as error:
        raw_call(address, "Submit", data)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert "UTF-8" in error.value.details()
    assert health_status(address) == SERVING
