"""Shared fixtures: a real server on 127.0.0.1 (ephemeral port) running the tiny preset."""

from __future__ import annotations

import contextlib
import os

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dccbridge.client import Client
from dccbridge.serve import ServeConfig, Server
from dccbridge.v1 import jobs_pb2, tasks_pb2

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def running_server(tmp_path, **overrides):
    """A server on ephemeral ports; the HTTP face only when asked for (http_port=0)."""
    config = ServeConfig(**{"port": 0, "http_port": None, "data_dir": tmp_path, "device": "cpu", "grace_s": 10,
                            **overrides})
    server = Server(config).start()
    try:
        assert server.settled.wait(120), "the default model neither loaded nor failed"
        yield server
    finally:
        server.stop(grace_s=5)


@pytest.fixture(autouse=True, scope="module")
def _torch_threads_restored():
    """A server started in this process with a thread count (`--threads`, ProfileOptions) sets torch's for the whole
    process: put it back after each test module, so one module's setting cannot change another's pixels."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("data"), http_port=0) as srv:
        yield srv


@pytest.fixture(scope="session")
def address(server):
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def client(address):
    with Client(address, client_name="tests") as c:
        yield c


def health_status(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def generate_task(prompt="a red cube", size=64, steps=2, seed=1234, **fields) -> tasks_pb2.Task:
    sampling = tasks_pb2.Sampling(num_inference_steps=steps, seed=seed)
    for key in ("scheduler", "num_images_per_prompt", "guidance_scale"):
        if key in fields:
            setattr(sampling, key, fields.pop(key))
    task = tasks_pb2.GenerateTask(prompt=prompt, width=size, height=size, sampling=sampling, **fields)
    return tasks_pb2.Task(generate=task)


def run_to_end(client: Client, task, options=None) -> list[jobs_pb2.JobEvent]:
    return list(client.run(task, options))


def result_of(events) -> jobs_pb2.Result:
    last = events[-1]
    assert last.WhichOneof("event") == "result", f"job did not succeed: {last}"
    return last.result


def pixels(png: bytes) -> np.ndarray:
    from dccbridge.imaging import decode_image

    return decode_image(png, "test")


def assert_invalid_argument(client: Client, address: str, task, field: str, phrase: str | None = None) -> None:
    """Submit is refused with INVALID_ARGUMENT naming `field` (message and trailer); the server stays SERVING."""
    with pytest.raises(grpc.RpcError) as error:
        client.submit(task)
    status = error.value
    assert status.code() == grpc.StatusCode.INVALID_ARGUMENT, status.details()
    assert status.details().startswith(field + ":"), status.details()
    assert dict(status.trailing_metadata())["dccbridge-field"] == field
    if phrase:
        assert phrase in status.details(), status.details()
    assert health_status(address) == SERVING

