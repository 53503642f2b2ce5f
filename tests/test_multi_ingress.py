"""Several ingress processes on one job store: real `dccbridge serve` processes on one real PostgreSQL and one
results directory.

Any ingress shows, watches, long-polls, lists, fetches and cancels a job another ingress accepted; when an ingress
is killed (SIGKILL) another one takes over its running and queued jobs once its lease expires — each job runs to
its end once, the re-run job with the seed drawn at submit (same pixels as an uninterrupted run) — and a restarted
ingress lists every job. Reduced sizes: 64², 2 steps for the queue, a longer job to be caught running.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from dccbridge.client import Client
from dccbridge.jobs.index import open_index
from dccbridge.v1 import jobs_pb2

from conftest import generate_task, pixels, result_of, run_to_end, running_server
from postgres_support import postgres  # noqa: F401 (a fixture)
from test_cli import DCCBRIDGE
from test_durability import wait_until_running

SUCCEEDED = jobs_pb2.JOB_STATE_SUCCEEDED
CANCELLED = jobs_pb2.JOB_STATE_CANCELLED
KILLED_STEPS = 150  # the job A is running when killed: still running after the queue is filled, on a quiet machine too
LEASE_S = 5.0  # long enough that a loaded 2-core box never starves a live node past its lease


class Ingress:
    """One `dccbridge serve` process on the shared store; its log in DATA_DIR/serve.log."""

    def __init__(self, root: Path, name: str, store: str, *extra: str):
        self.name = name
        data_dir = root / f"data-{name}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "serve.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*DCCBRIDGE, "serve", "--port", "0", "--no-http", "--device", "cpu", "--threads", "1",
                 "--data-dir", str(data_dir), "--store", store, "--results-dir", str(root / "results"),
                 "--node-id", name, "--lease-s", str(LEASE_S), "--batch-window-ms", "0", *extra],
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        assert "listening on 127.0.0.1:" in line, f"{name} did not start: {line!r}\n{self.log()}"
        self.address = line.split("listening on ")[1].split(" ")[0]

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, signum=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        self.process.wait(timeout=120)


def kinds(events) -> list[str]:
    return [event.WhichOneof("event") for event in events]


def test_any_ingress_shows_watches_fetches_and_cancels_jobs_another_accepted(tmp_path, postgres):  # noqa: F811
    store = postgres.new_database()
    a = Ingress(tmp_path, "a", store)
    b = Ingress(tmp_path, "b", store)
    try:
        with Client(a.address, client_name="alice") as on_a, Client(b.address, client_name="alice") as on_b:
            on_a.capabilities(timeout=60)
            assert "job_store:postgresql" in on_b.capabilities(timeout=60).features

            # Submitted on A, watched from B from its first event to its result (images read from the shared dir).
            job = on_a.submit(generate_task(prompt="shared", steps=8, seed=21),
                              jobs_pb2.JobOptions(preview_every_n_steps=1))
            events = list(on_b.watch(job.job_id))
            assert kinds(events)[0] == "queued" and "started" in kinds(events) and kinds(events)[-1] == "result"
            assert [e.sequence for e in events] == sorted({e.sequence for e in events})
            seen_on_b = result_of(events).images[0]
            from_a = on_a.get_job(job.job_id).result.images[0]
            assert seen_on_b.image.data == from_a.image.data and seen_on_b.seed == 21
            assert on_b.get_job(job.job_id).state == SUCCEEDED
            assert job.job_id in [j.job_id for j in on_b.list_jobs(page_size=10).jobs]

            # Long-poll from B follows A's progress; a cancel sent to B stops the job running on A.
            long = on_a.submit(generate_task(prompt="long", steps=150))
            seen = wait_until_running(on_b, long.job_id)
            assert seen.progress.stage and seen.progress.total == 150
            asked = time.monotonic()
            on_b.cancel(long.job_id)
            cancelled = on_a.wait_result(long.job_id, timeout_s=60)
            assert cancelled.state == CANCELLED and cancelled.cancelled.reason == "cancelled by the client"
            assert cancelled.progress.step < 150
            print(f"cancel from another ingress took effect after {time.monotonic() - asked:.2f} s")

            # A queued job cancelled from B never runs on A.
            blocker = on_a.submit(generate_task(prompt="blocker", steps=150))
            queued = on_a.submit(generate_task(prompt="queued", steps=2))
            wait_until_running(on_a, blocker.job_id)
            answer = on_b.cancel(queued.job_id)
            assert answer.state == CANCELLED, answer  # B waits briefly for A to carry it out
            assert on_a.get_job(queued.job_id).state == CANCELLED and on_a.get_job(queued.job_id).started_ms == 0
            on_a.cancel(blocker.job_id)
            assert on_b.wait_result(blocker.job_id, timeout_s=60).state == CANCELLED
    finally:
        a.stop()
        b.stop()
    assert "Traceback" not in a.log() + b.log(), a.log() + b.log()


def test_a_killed_ingress_hands_its_jobs_to_another_each_run_once_with_the_same_pixels(tmp_path, postgres):  # noqa: F811
    store = postgres.new_database()
    a = Ingress(tmp_path, "a", store)
    b = Ingress(tmp_path, "b", store)
    watched: list = []
    try:
        with Client(a.address, client_name="alice") as alice, Client(a.address, client_name="bob") as bob, \
                Client(b.address) as on_b:
            alice.capabilities(timeout=60)
            on_b.capabilities(timeout=60)
            running = alice.submit(generate_task(prompt="a kettle", steps=KILLED_STEPS, seed=-1))
            wait_until_running(alice, running.job_id)
            queued = [alice.submit(generate_task(prompt="a1", steps=2, seed=1)),
                      bob.submit(generate_task(prompt="b1", steps=2, seed=2)),
                      alice.submit(generate_task(prompt="a2", steps=2, seed=3))]
            watcher = threading.Thread(target=lambda: watched.extend(on_b.watch(running.job_id)), daemon=True)
            watcher.start()
            time.sleep(0.5)
            killed = time.time()
            a.stop(signal.SIGKILL)
            assert on_b.get_job(running.job_id).state == jobs_pb2.JOB_STATE_RUNNING, "it finished before the kill"

            # B takes them over once A's lease expires, and runs each once.
            ids = [running.job_id] + [job.job_id for job in queued]
            done = {job_id: on_b.wait_result(job_id, timeout_s=300) for job_id in ids}
            assert all(job.state == SUCCEEDED for job in done.values()), done
            # The queued ones never started on A: their start on B says when B took over. (The running job's own
            # started_ms may still read A's start, depending on when B's takeover is recorded.)
            first_start = min(done[job.job_id].started_ms for job in queued) / 1000
            assert first_start > killed + LEASE_S / 2, "taken over before the lease expired"
            print(f"takeover: first job restarted {first_start - killed:.2f} s after SIGKILL (lease {LEASE_S} s)")
            watcher.join(120)
            assert kinds(watched)[-1] == "result" and "started" in kinds(watched)
            assert watched[-1].result.images[0].image.data == done[running.job_id].result.images[0].image.data

            index = open_index(store)
            try:
                rows = {job_id: index.get(job_id) for job_id in ids}
            finally:
                index.close()
            assert {job_id: (row["owner"], row["attempts"]) for job_id, row in rows.items()} == \
                {ids[0]: ("b", 2), ids[1]: ("b", 1), ids[2]: ("b", 1), ids[3]: ("b", 1)}
            for job_id in ids:  # one result file per job: nothing written twice, no half file left
                assert sorted(p.name for p in (tmp_path / "results" / job_id).iterdir()) == \
                    [Path(done[job_id].result.images[0].path).name]

            # Same pixels as an uninterrupted single run with the same seeds.
            rerun = done[running.job_id].result.images[0]
            assert done[running.job_id].task.generate.sampling.seed == rerun.seed
            reference = result_of(run_to_end(on_b, generate_task(prompt="a kettle", steps=KILLED_STEPS,
                                                                 seed=rerun.seed))).images[0]
            np.testing.assert_array_equal(pixels(rerun.image.data), pixels(reference.image.data))
            for job, prompt, seed in zip(queued, ("a1", "b1", "a2"), (1, 2, 3)):
                again = result_of(run_to_end(on_b, generate_task(prompt=prompt, steps=2, seed=seed))).images[0]
                np.testing.assert_array_equal(pixels(done[job.job_id].result.images[0].image.data),
                                              pixels(again.image.data))

        # The killed ingress comes back: every job is listed there, and its results are fetchable from it.
        a = Ingress(tmp_path, "a", store)
        with Client(a.address) as on_a:
            listed = {job.job_id: job.state for job in on_a.list_jobs(page_size=100).jobs}
            assert len(listed) == 8 and set(ids) <= set(listed) and set(listed.values()) == {SUCCEEDED}
            fetched = on_a.get_job(running.job_id).result.images[0]
            assert fetched.image.data == rerun.image.data
    finally:
        a.stop()
        b.stop()
    assert "took over 4 unfinished job(s) whose node stopped" in b.log(), b.log()


def test_a_node_whose_jobs_another_node_claimed_stops_them_and_cannot_write_them(tmp_path, postgres):  # noqa: F811
    """A node that stalled past its lease (simulated: another node's claim is written straight into the row) finds
    out at its next heartbeat, stops its running job at the next step and drops its queued one; its late writes are
    fenced, so the jobs stay as the new owner has them."""
    import psycopg

    store = postgres.new_database()
    with running_server(tmp_path, store_url=store, node_id="slow", lease_s=1.0, batch_window_ms=0) as srv, \
            Client(f"127.0.0.1:{srv.port}") as client:
        running = client.submit(generate_task(prompt="running", steps=150))
        wait_until_running(client, running.job_id)
        queued = client.submit(generate_task(prompt="queued", steps=2))
        with psycopg.connect(store, autocommit=True) as db:
            db.execute("UPDATE jobs SET owner = 'thief', lease_until_ms = %s WHERE job_id IN (%s, %s)",
                       (int(time.time() * 1000) + 600_000, running.job_id, queued.job_id))
        deadline = time.monotonic() + 60
        while (srv.engine.queue_length() or srv.engine._running) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.engine.queue_length() == 0 and not srv.engine._running
        time.sleep(1.0)  # a few more heartbeats: nothing comes back
        assert srv.engine.queue_length() == 0
        # The thief's view: the running job still running at attempt 1, the queued one untouched; no result.
        view = {job.job_id: job for job in client.list_jobs(page_size=10).jobs}
        assert view[running.job_id].state == jobs_pb2.JOB_STATE_RUNNING
        assert view[queued.job_id].state == jobs_pb2.JOB_STATE_QUEUED
        index = open_index(store)
        try:
            rows = [index.get(job.job_id) for job in (running, queued)]
            assert [(row["owner"], row["state"], row["attempts"]) for row in rows] == \
                [("thief", "running", 1), ("thief", "queued", 0)]
        finally:
            index.close()
        assert not (tmp_path / "results" / running.job_id).exists()


def test_a_server_survives_a_postgresql_restart(tmp_path, postgres):  # noqa: F811
    """The database restarts under a running server (every connection dropped): the server reconnects, its
    finished jobs stay listed and new jobs run."""
    store = postgres.new_database()
    with running_server(tmp_path, store_url=store) as srv, Client(f"127.0.0.1:{srv.port}") as client:
        before = result_of(run_to_end(client, generate_task(prompt="before", steps=2)))
        postgres.restart()
        after = result_of(run_to_end(client, generate_task(prompt="after", steps=2)))
        assert before.images[0].path != after.images[0].path
        assert [job.state for job in client.list_jobs(page_size=10).jobs] == [SUCCEEDED, SUCCEEDED]
