"""Cluster mode on a real local Ray cluster (`ray start --head` on 127.0.0.1, CPU replicas of the tiny preset) and
a real PostgreSQL job store: clients on both faces, a replica killed with SIGKILL mid-load, a replica added under
load, the ingress restarted, an ingress killed while another serves its jobs - 0 lost, 0 duplicated, pixels equal
to a single server's for the same seeds.

The default run is reduced (12+ jobs from 4 clients, 64², 2 steps); the issue's full size (60 jobs from 8 clients)
is marked `slow`: `pytest -m slow tests/test_cluster.py`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

pytest.importorskip("ray.serve")

from dccbridge.client import Client  # noqa: E402
from dccbridge.v1 import live_pb2  # noqa: E402
from dccbridge.cluster.config import ClusterConfig  # noqa: E402
from dccbridge.models.profile import ProfileOptions  # noqa: E402
from dccbridge.v1 import jobs_pb2  # noqa: E402

from cluster_support import ray_environment, ray_head  # noqa: E402
from conftest import generate_task, pixels, running_server  # noqa: E402
from postgres_support import postgres  # noqa: E402,F401 (a fixture)

SERVICE = "dccbridge.v1.DccBridgeService"
SIZE, STEPS = 64, 2
SEEDS = [7000 + i for i in range(12)]
ONE_THREAD = ProfileOptions(threads=1)  # replicas and the reference alike: same thread count, same pixels
THINK_S = 0.3  # each client's pause between its jobs: the load lasts while replicas start, at a bearable rate


@pytest.fixture(scope="module")
def head():
    import ray

    with ray_head(num_cpus=6) as running:
        try:
            yield running
        finally:
            ray.shutdown()  # the driver leaves before its head goes


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each seed's pixels from a single server (no cluster), one torch thread like the replicas."""
    with running_server(tmp_path_factory.mktemp("single"), profile=ONE_THREAD, batch_window_ms=0) as single:
        with Client(f"127.0.0.1:{single.port}") as client:
            out = {}
            for seed in SEEDS:
                job = client.wait_result(client.submit(generate_task(size=SIZE, steps=STEPS, seed=seed)).job_id)
                (image,) = job.result.images
                out[seed] = pixels(image.image.data)
            return out


def cluster_server(tmp_path, head, replicas=2, **overrides):
    return running_server(tmp_path, http_port=0, profile=ONE_THREAD, max_queue=64,
                          cluster=ClusterConfig(address=head.address, replicas=replicas), **overrides)


def results_of(server, job_id: str) -> list[str]:
    return sorted(p.name for p in (Path(server.store.storage.root) / job_id).iterdir())


# -- clients on both faces ------------------------------------------------------------------------


class GrpcClient:
    def __init__(self, server, name):
        self.name, self.client = name, Client(f"127.0.0.1:{server.port}", client_name=name)

    def generate(self, seed) -> str:
        return self.client.submit(generate_task(size=SIZE, steps=STEPS, seed=seed)).job_id

    def close(self):
        self.client.close()


class ConnectClient:
    """What the Photoshop and Unity clients do: Connect JSON over HTTP/1.1, Submit then GetJob long-polls."""

    def __init__(self, server, name):
        self.name = name
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}/{SERVICE}/", timeout=60,
                                 headers={"dccbridge-client": name})

    def generate(self, seed) -> str:
        task = {"generate": {"prompt": "a red cube", "width": SIZE, "height": SIZE,
                             "sampling": {"numInferenceSteps": STEPS, "seed": seed}}}
        response = self.http.post("Submit", json={"task": task})
        assert response.status_code == 200, response.text
        return response.json()["job"]["jobId"]

    def close(self):
        self.http.close()


def connect_job(http_port: int, job_id: str, wait_ms: int = 0, after: int = 0) -> dict:
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}/{SERVICE}/", timeout=60) as http:
        response = http.post("GetJob", json={"jobId": job_id, "waitMs": wait_ms, "afterSequence": str(after)})
        assert response.status_code == 200, response.text
        return response.json()["job"]


def wait_finished(server, job_id: str, timeout_s: float = 120) -> jobs_pb2.Job:
    with Client(f"127.0.0.1:{server.port}") as client:
        return client.wait_result(job_id, timeout_s)


# -- the load -------------------------------------------------------------------------------------


class Load:
    """Clients submit one job at a time each (seeds in turn) until at least min_jobs ran and `enough()` holds;
    every job is then waited for. Records (client, job_id, seed) of every accepted job."""

    def __init__(self, server, grpc_clients: int, http_clients: int, min_jobs: int, max_jobs: int):
        self.server = server
        self.clients = ([GrpcClient(server, f"grpc-{i}") for i in range(grpc_clients)]
                        + [ConnectClient(server, f"http-{i}") for i in range(http_clients)])
        self.min_jobs, self.max_jobs = min_jobs, max_jobs
        self.submitted: list[tuple[str, str, int]] = []
        self.done: dict[str, jobs_pb2.Job] = {}
        self.enough = lambda: True
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def _next_seed(self) -> int | None:
        with self._lock:
            n = len(self.submitted)
            if n >= self.max_jobs or (n >= self.min_jobs and self.enough()):
                return None
            self.submitted.append(None)  # reserve the slot
            return SEEDS[n % len(SEEDS)]

    def _drive(self, client) -> None:
        try:
            while (seed := self._next_seed()) is not None:
                job_id = client.generate(seed)
                with self._lock:
                    self.submitted[self.submitted.index(None)] = (client.name, job_id, seed)
                job = wait_finished(self.server, job_id)
                with self._lock:
                    self.done[job_id] = job
                time.sleep(THINK_S)
        except BaseException as error:  # noqa: BLE001 - reported by run()
            self.errors.append(error)

    def run(self) -> None:
        threads = [threading.Thread(target=self._drive, args=(c,), daemon=True) for c in self.clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        for client in self.clients:
            client.close()
        assert not self.errors, self.errors

    def served_by(self) -> set[str]:
        return {json.loads(job.result.metadata_json)["cluster"]["replica"] for job in self.done.values()
                if job.state == jobs_pb2.JOB_STATE_SUCCEEDED}


def live_replicas(server) -> list:
    return list(server.capabilities().replicas)


def kill_a_busy_replica(server, timeout_s: float = 60) -> int:
    """SIGKILL a replica that reports a job in hand (its pid from GetCapabilities, as the replica reported it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = [r for r in live_replicas(server) if r.state == "busy"]
        if busy:
            os.kill(busy[0].pid, signal.SIGKILL)
            return busy[0].pid
        time.sleep(0.05)
    raise AssertionError("no replica was ever busy")


def assert_each_job_once_with_reference_pixels(server, load: Load, reference) -> None:
    submitted = [entry for entry in load.submitted if entry is not None]
    assert len(submitted) == len(load.submitted) >= load.min_jobs
    job_ids = [job_id for _, job_id, _ in submitted]
    assert len(set(job_ids)) == len(job_ids)
    lost = [job_id for job_id in job_ids if load.done[job_id].state != jobs_pb2.JOB_STATE_SUCCEEDED]
    assert not lost, [load.done[j].failure for j in lost]
    for _, job_id, seed in submitted:
        (image,) = load.done[job_id].result.images
        np.testing.assert_array_equal(pixels(image.image.data), reference[seed], err_msg=f"seed {seed}")
        files = results_of(server, job_id)
        assert files == [f"00-image-{seed}.png"], files  # written once: no duplicate result


def run_load_with_faults(tmp_path, head, reference, store, grpc_clients, http_clients, min_jobs, max_jobs):
    """The issue's proof, at the given size: a replica killed mid-load, one added under load, then the ingress
    restarted: every job listed and fetchable from the new ingress on both faces."""
    shared = {"store_url": store, "results_dir": tmp_path / "results"}
    with cluster_server(tmp_path / "a", head, **shared) as server:
        assert server.load_error is None, server.load_error
        load = Load(server, grpc_clients, http_clients, min_jobs, max_jobs)
        runner = server.engine.ops
        events = {}

        def faults():
            while len(load.done) < 4:  # both replicas are in use
                time.sleep(0.05)
            events["killed"] = kill_a_busy_replica(server)
            before = {r.replica_id for r in live_replicas(server)}
            server.cluster.scale(server.cluster.config.replicas + 1)  # returns once the added replica runs
            events["added"] = {r.replica_id for r in live_replicas(server)} - before
            deadline = time.monotonic() + 120  # Serve restarts the killed replica too: wait for all three
            while len(live_replicas(server)) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            events["replicas_after_scale"] = len(live_replicas(server))

        # Enough: the kill cost a job a try, the added replica is up and served a job of this load.
        load.enough = lambda: (runner.retries >= 1 and bool(events.get("added"))
                               and bool(events["added"] & load.served_by()))
        fault_thread = threading.Thread(target=faults, daemon=True)
        fault_thread.start()
        load.run()
        fault_thread.join(120)

        assert runner.retries >= 1, "the replica kill cost no job a try"
        assert events["replicas_after_scale"] == server.cluster.config.replicas == 3
        assert events["added"] & load.served_by(), (events, load.served_by(), len(load.submitted),
                                                    server.cluster.live, server.cluster.capacity())
        tries = [json.loads(job.result.metadata_json)["cluster"]["tries"] for job in load.done.values()]
        assert max(tries) >= 2, "no job ran again after the kill"
        assert_each_job_once_with_reference_pixels(server, load, reference)
        data_dir = server.config.data_dir

    # The ingress restarted: every job is listed, and its result fetched from the new ingress, on both faces.
    with cluster_server(data_dir, head, replicas=server.cluster.config.replicas, **shared) as again:
        with Client(f"127.0.0.1:{again.port}") as client:
            listed = [job.job_id for job in client.list_jobs(page_size=500).jobs]
            submitted = [job_id for _, job_id, _ in load.submitted]
            assert sorted(listed) == sorted(submitted)
            for _, job_id, seed in load.submitted[:4]:
                (image,) = client.get_job(job_id).result.images
                np.testing.assert_array_equal(pixels(image.image.data), reference[seed])
        for _, job_id, seed in load.submitted[4:8]:
            job = connect_job(again.http_port, job_id)
            assert job["state"] == "JOB_STATE_SUCCEEDED"
            data = base64.b64decode(job["result"]["images"][0]["image"]["data"])
            np.testing.assert_array_equal(pixels(data), reference[seed])


def test_jobs_from_both_faces_survive_a_killed_replica_use_an_added_one_and_an_ingress_restart(
        tmp_path, head, reference, postgres):  # noqa: F811
    run_load_with_faults(tmp_path, head, reference, postgres.new_database(), grpc_clients=2, http_clients=2,
                         min_jobs=12, max_jobs=400)


@pytest.mark.slow
def test_full_size_60_jobs_from_8_clients(tmp_path, head, reference, postgres):  # noqa: F811
    run_load_with_faults(tmp_path, head, reference, postgres.new_database(), grpc_clients=4, http_clients=4,
                         min_jobs=60, max_jobs=600)


def test_a_cancelled_job_stops_on_its_replica_and_the_replica_takes_the_next(tmp_path, head, reference):
    with cluster_server(tmp_path, head) as server, Client(f"127.0.0.1:{server.port}") as client:
        caps = client.capabilities()
        assert len(caps.replicas) >= 2 and all(r.device.type == "cpu" and "tiny" in r.loaded_models
                                               for r in caps.replicas), caps.replicas
        # Live sessions need a warm pipeline in the serving process: a cluster ingress says so, not INTERNAL.
        assert "live" not in caps.features
        with pytest.raises(grpc.RpcError) as refused:
            client.stub.OpenLive(live_pb2.OpenLiveRequest(config=live_pb2.LiveConfig(prompt="x")), timeout=30,
                                metadata=client.metadata)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED and "--ray" in refused.value.details()
        long_job = client.submit(generate_task(size=SIZE, steps=150, seed=1))
        for event in client.watch(long_job.job_id):
            if event.WhichOneof("event") == "progress":
                break
        cancelled_at = time.monotonic()
        client.cancel(long_job.job_id)
        job = client.wait_result(long_job.job_id, 60)
        assert job.state == jobs_pb2.JOB_STATE_CANCELLED and time.monotonic() - cancelled_at < 20
        # The replicas are free again: a job per replica runs (each would wait behind a job that kept running).
        jobs = [client.submit(generate_task(size=SIZE, steps=STEPS, seed=seed)) for seed in SEEDS[:4]]
        for job, seed in zip(jobs, SEEDS):
            (image,) = client.wait_result(job.job_id, 60).result.images
            np.testing.assert_array_equal(pixels(image.image.data), reference[seed])


def test_a_job_whose_replica_dies_on_every_try_fails_with_the_reason(tmp_path, head):
    with running_server(tmp_path, profile=ONE_THREAD,
                        cluster=ClusterConfig(address=head.address, replicas=2, max_tries=1)) as server, \
            Client(f"127.0.0.1:{server.port}") as client:
        job = client.submit(generate_task(size=SIZE, steps=150, seed=3))
        for event in client.watch(job.job_id):
            if event.WhichOneof("event") == "progress":
                break
        (busy,) = [r for r in live_replicas(server) if r.state == "busy"]
        os.kill(busy.pid, signal.SIGKILL)
        failed = client.wait_result(job.job_id, 60)
        assert failed.state == jobs_pb2.JOB_STATE_FAILED
        assert failed.failure.code == jobs_pb2.ERROR_CODE_UNAVAILABLE
        assert failed.failure.message.startswith("replica died 1 time while running this job (last: ActorDiedError"), \
            failed.failure.message


LEASE_S = 5.0  # a loaded 2-core box must not starve a live ingress past its lease


def start_ingress(head, root: Path, name: str, store: str) -> tuple[subprocess.Popen, int]:
    """`dccbridge serve --ray ADDRESS` as its own process on the shared store; returns it and its gRPC port."""
    command = [sys.executable, "-m", "dccbridge.cli", "serve", "--ray", head.address, "--ray-replicas", "2",
               "--port", "0", "--no-http", "--data-dir", str(root / f"data-{name}"), "--threads", "1",
               "--device", "cpu", "--store", store, "--results-dir", str(root / "results"), "--node-id", name,
               "--lease-s", str(LEASE_S), "--log-level", "WARNING"]
    process = subprocess.Popen(command, env=ray_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    for line in process.stdout:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
            return process, int(found.group(1))
    raise AssertionError(f"the ingress {name} exited with {process.wait()}")


def test_jobs_of_a_killed_ingress_finish_on_another_and_their_events_reach_any_ingress(
        tmp_path, head, reference, postgres):  # noqa: F811
    store = postgres.new_database()
    (a, port_a), (b, port_b) = start_ingress(head, tmp_path, "a", store), start_ingress(head, tmp_path, "b", store)
    try:
        with Client(f"127.0.0.1:{port_a}") as on_a, Client(f"127.0.0.1:{port_b}") as on_b:
            job_ids = [on_a.submit(generate_task(size=SIZE, steps=STEPS, seed=seed)).job_id for seed in SEEDS[:8]]
            # Watched from B while A runs it on a replica: progress and the result arrive there.
            watched = [event.WhichOneof("event") for event in on_b.watch(job_ids[0])]
            assert "progress" in watched and watched[-1] == "result", watched
            deadline = time.monotonic() + 120
            while on_a.get_job(job_ids[-1]).state == jobs_pb2.JOB_STATE_QUEUED:  # A has every job in hand
                assert time.monotonic() < deadline
                time.sleep(0.02)
            a.kill()
            a.wait(30)
            for job_id, seed in zip(job_ids, SEEDS):  # B takes A's unfinished jobs over once A's lease ends
                job = on_b.wait_result(job_id, 120)
                assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.failure
                (image,) = job.result.images
                np.testing.assert_array_equal(pixels(image.image.data), reference[seed])
                assert len(list((tmp_path / "results" / job_id).iterdir())) == 1  # one result: no duplicate
        a, port_a = start_ingress(head, tmp_path, "a", store)  # A back: lists every job, fetches every result
        with Client(f"127.0.0.1:{port_a}") as on_a:
            assert set(job_ids) <= {job.job_id for job in on_a.list_jobs(page_size=500).jobs}
            for job_id, seed in zip(job_ids, SEEDS):
                (image,) = on_a.get_job(job_id).result.images
                np.testing.assert_array_equal(pixels(image.image.data), reference[seed])
    finally:
        for process in (a, b):
            process.kill()
            process.wait(30)
