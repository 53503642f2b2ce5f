"""Nothing is lost across a restart: real server processes on one data directory, killed with SIGKILL and SIGTERM,
on each job store (SQLite, and a real PostgreSQL: tests/postgres_support.py).

Queued jobs run after the restart in their fairness order, a job that was running runs again from the start with
the seed drawn at submit (same pixels as an uninterrupted run), a watcher by id sees it finish, a job that was
running when the server died twice is failed, and no `*.part` file is left or served.
"""

from __future__ import annotations

import signal
import sqlite3

import grpc
import numpy as np
import pytest

from dccbridge.client import Client, image_message
from dccbridge.imaging import encode_png
from dccbridge.jobs.index import open_index
from dccbridge.jobs.store import SCHEMA, JobStore
from dccbridge.v1 import jobs_pb2

from conftest import generate_task, pixels, result_of, run_to_end, running_server
from postgres_support import postgres, store_url  # noqa: F401 (fixtures)
from test_cli import start_server_process

SUCCEEDED = jobs_pb2.JOB_STATE_SUCCEEDED
LONG_STEPS = 50  # long enough at 64² to be caught running


def wait_until_running(client: Client, job_id: str) -> jobs_pb2.Job:
    """Long-poll until the job reports its first denoising step."""
    job = client.get_job(job_id, omit_image_data=True)
    while not (job.state == jobs_pb2.JOB_STATE_RUNNING and job.progress.step >= 1):
        assert job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), job
        job = client.get_job(job_id, wait_ms=30_000, after_sequence=job.sequence, omit_image_data=True)
    return job


def stop(process, signum=signal.SIGKILL) -> None:
    process.send_signal(signum)
    process.wait(timeout=120)


def no_part_files(data_dir) -> list:
    return sorted(data_dir.rglob("*.part"))


def on_store(url: str) -> tuple[str, ...]:
    """serve flags for the store; a fixed node id: a restart takes its own unfinished jobs back at once."""
    return ("--store", url, "--node-id", "node-1")


def test_sigkill_mid_queue_loses_nothing_and_reruns_the_running_job_with_its_seed(tmp_path, store_url):  # noqa: F811
    process, address = start_server_process(tmp_path, *on_store(store_url))
    try:
        with Client(address, client_name="alice") as alice, Client(address, client_name="bob") as bob:
            alice.capabilities(timeout=60)
            random_seed_task = generate_task(prompt="a kettle", steps=LONG_STEPS, seed=-1)
            running = alice.submit(random_seed_task)
            seen = wait_until_running(alice, running.job_id)
            a1, a2, a3 = (alice.submit(generate_task(prompt=f"a{i}", steps=1)) for i in range(3))
            b1 = bob.submit(generate_task(prompt="b1", steps=1))
            stop(process, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()

    # One job at a time after the restart, so start times show the queue's own order (batching's: test_batching.py)
    process, address = start_server_process(tmp_path, "--batch-window-ms", "0", *on_store(store_url))
    try:
        with Client(address) as client:
            # A watcher that comes back with the last sequence it saw sees the job go on to its result.
            events = list(client.watch(running.job_id, after_sequence=seen.sequence))
            assert all(event.sequence > seen.sequence for event in events)
            kinds = [event.WhichOneof("event") for event in events]
            assert "started" in kinds and kinds[-1] == "result", kinds
            rerun = events[-1].result.images[0]

            jobs = {job.job_id: client.wait_result(job.job_id, timeout_s=120) for job in (running, a1, a2, a3, b1)}
            assert all(job.state == SUCCEEDED for job in jobs.values()), jobs
            # Fairness holds after the restart: the carried-over job first, then round-robin between the clients
            # in the order their oldest job was accepted.
            names = {running.job_id: "running", a1.job_id: "a1", a2.job_id: "a2", a3.job_id: "a3", b1.job_id: "b1"}
            order = [names[job_id] for job_id in sorted(jobs, key=lambda job_id: jobs[job_id].started_ms)]
            assert order == ["running", "a1", "b1", "a2", "a3"], order

            # The random seed was drawn at submit and stored: the re-run used it, and an uninterrupted run with
            # that seed gives the same pixels.
            assert jobs[running.job_id].task.generate.sampling.seed == rerun.seed
            fixed = generate_task(prompt="a kettle", steps=LONG_STEPS, seed=rerun.seed)
            uninterrupted = result_of(run_to_end(client, fixed)).images[0]
            np.testing.assert_array_equal(pixels(rerun.image.data), pixels(uninterrupted.image.data))
    finally:
        stop(process, signal.SIGTERM)
    assert no_part_files(tmp_path) == []
    assert inputs_kept(store_url) == 0  # finished jobs no longer hold their inputs


def inputs_kept(url: str) -> int:
    """Rows that still hold a job's inputs, read with the database's own driver."""
    query = "SELECT COUNT(*) FROM jobs WHERE payload IS NOT NULL"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite://"):]) as db:
            return db.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(query).fetchone()[0]


def test_a_job_running_when_the_server_dies_twice_fails_and_sigterm_keeps_the_queue(tmp_path, store_url):  # noqa: F811
    # 1) SIGTERM with no grace: the running job is stopped and left queued (its attempt does not count), the
    #    queued job stays queued.
    process, address = start_server_process(tmp_path, "--grace", "0", *on_store(store_url))
    try:
        with Client(address) as client:
            client.capabilities(timeout=60)
            crasher = client.submit(generate_task(prompt="crasher", steps=LONG_STEPS))
            wait_until_running(client, crasher.job_id)
            behind = client.submit(generate_task(prompt="behind", steps=1))
            stop(process, signal.SIGTERM)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert states(store_url) == {crasher.job_id: ("queued", 0), behind.job_id: ("queued", 0)}

    # 2) Twice, the server dies (SIGKILL) while the job runs.
    for attempt in (1, 2):
        process, address = start_server_process(tmp_path, *on_store(store_url))
        try:
            with Client(address) as client:
                wait_until_running(client, crasher.job_id)
                stop(process, signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
        assert states(store_url)[crasher.job_id] == ("running", attempt)

    # 3) The next start fails it with a clear reason instead of running it a third time; the queue goes on.
    process, address = start_server_process(tmp_path, *on_store(store_url))
    try:
        with Client(address) as client:
            failed = client.get_job(crasher.job_id)
            assert failed.state == jobs_pb2.JOB_STATE_FAILED
            assert failed.failure.code == jobs_pb2.ERROR_CODE_ABORTED
            assert "stopped 2 times while running this job" in failed.failure.message
            assert client.wait_result(behind.job_id, timeout_s=120).state == SUCCEEDED
    finally:
        stop(process, signal.SIGTERM)
    assert no_part_files(tmp_path) == []


def states(url: str) -> dict[str, tuple[str, int]]:
    index = open_index(url)
    try:
        return {row["job_id"]: (row["state"], row["attempts"]) for row in index.list(100, 0)}
    finally:
        index.close()


def test_an_index_from_before_durability_opens_and_its_unfinished_jobs_fail_clearly(tmp_path):
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:  # the first release's schema, no inputs stored
        db.executescript(SCHEMA)
        db.execute("INSERT INTO jobs (job_id, state, task_type, model_id, label, client, created_ms, task_json) "
                   "VALUES ('old', 'queued', 'generate', '', '', 'x', 1, '{}')")
    (tmp_path / "results" / "old").mkdir(parents=True)
    (tmp_path / "results" / "old" / "00-image-1.png.part").write_bytes(b"half a png")
    with running_server(tmp_path) as srv, Client(f"127.0.0.1:{srv.port}") as client:
        old = client.get_job("old")
        assert old.state == jobs_pb2.JOB_STATE_FAILED
        assert "kept no inputs" in old.failure.message
        assert result_of(run_to_end(client, generate_task(steps=1))).images  # new jobs run
    assert no_part_files(tmp_path) == []
    JobStore(tmp_path).close()  # opens again, migrated already


def test_waiting_inputs_are_bounded_with_a_retry_hint(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    init = image_message(encode_png(noise))
    budget = 3 * len(init.data)
    with running_server(tmp_path, max_queued_input_bytes=budget, max_queue=100) as srv, \
            Client(f"127.0.0.1:{srv.port}") as client:
        blocker = client.submit(generate_task(steps=LONG_STEPS))
        wait_until_running(client, blocker.job_id)
        accepted = []
        with pytest.raises(grpc.RpcError) as refused:
            for _ in range(10):
                accepted.append(client.submit(generate_task(steps=2, init_image=init, strength=0.5)))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "MiB of inputs" in refused.value.details()
        assert int(dict(refused.value.trailing_metadata())["retry-after-ms"]) > 0
        assert 1 <= len(accepted) <= 3
        assert srv.engine.queued_input_bytes() <= budget
        client.cancel(blocker.job_id)
        for job in accepted:
            assert client.wait_result(job.job_id, timeout_s=120).state == SUCCEEDED
