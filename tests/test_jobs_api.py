"""Every RPC of the v1 service against a real server on 127.0.0.1, tiny preset."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dccbridge.client import Client
from dccbridge.imaging import read_png_text
from dccbridge.v1 import jobs_pb2, tasks_pb2

from conftest import (NOT_SERVING, SERVING, generate_task, health_status, pixels, result_of, run_to_end,
                      running_server)
from postgres_support import postgres, store_url  # noqa: F401 (fixtures: each job store)


def kinds(events):
    return [e.WhichOneof("event") for e in events]


def test_health_serving_and_reflection(address):
    assert health_status(address) == SERVING
    assert health_status(address, "dccbridge.v1.DccBridgeService") == SERVING
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in next(responses).list_services_response.service}
    assert {"dccbridge.v1.DccBridgeService", "grpc.health.v1.Health"} <= names


def test_capabilities_describe_models_limits_and_schedulers(client):
    caps = client.capabilities()
    assert caps.api_version == "v1" and caps.server_version
    assert caps.device.type == "cpu" and caps.device.dtype == "float32"
    tiny = {m.id: m for m in caps.models}["tiny"]
    assert tiny.is_default and tiny.loaded and tiny.family == "sd15"
    assert set(tiny.control_types) >= {1, 2, 3}  # canny, depth, openpose
    assert {"unipc", "euler_a", "dpmpp_2m", "ddim"} <= {s.id for s in caps.schedulers}
    assert caps.limits.max_message_bytes == 64 * 1024 * 1024
    assert caps.limits.size_multiple == 8 and caps.limits.max_steps >= 50
    assert "job_store:sqlite" in caps.features  # the embedded default (docs/job-store.md)


def test_run_streams_events_and_writes_the_result_before_reporting_it(client):
    events = run_to_end(client, generate_task(steps=3), jobs_pb2.JobOptions(preview_every_n_steps=1))
    assert kinds(events)[:2] == ["queued", "started"]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress" and e.progress.stage == "denoise"]
    assert [p.step for p in progress][-3:] == [1, 2, 3] and progress[-1].total == 3
    assert all(p.preview.mime_type == "image/jpeg" and p.preview.data[:2] == b"\xff\xd8" for p in progress if p.step)
    result = result_of(events)
    (image,) = result.images
    assert image.image.width == 64 and image.image.height == 64 and image.seed == 1234
    assert Path(image.path).read_bytes() == image.image.data
    text = read_png_text(image.image.data)
    assert "Seed: 1234" in text["parameters"] and "Model: tiny" in text["parameters"]
    meta = json.loads(text["dccbridge"])
    assert meta["model_id"] == "tiny" and len(meta["model_hash"]) == 10
    assert meta["task"]["generate"]["prompt"] == "a red cube"
    assert meta == json.loads(result.metadata_json)


def test_explicit_seed_is_bit_identical_and_random_seed_is_reported(client):
    first = result_of(run_to_end(client, generate_task(seed=77))).images[0]
    second = result_of(run_to_end(client, generate_task(seed=77))).images[0]
    assert (pixels(first.image.data) == pixels(second.image.data)).all()
    other = result_of(run_to_end(client, generate_task(seed=78))).images[0]
    assert (pixels(first.image.data) != pixels(other.image.data)).any()

    rolled = result_of(run_to_end(client, generate_task(seed=-1))).images[0]
    again = result_of(run_to_end(client, generate_task(seed=rolled.seed))).images[0]
    assert rolled.seed >= 0 and (pixels(rolled.image.data) == pixels(again.image.data)).all()


def test_batch_uses_consecutive_seeds(client):
    result = result_of(run_to_end(client, generate_task(seed=10, num_images_per_prompt=2)))
    assert [(i.index, i.seed) for i in result.images] == [(0, 10), (1, 11)]
    single = result_of(run_to_end(client, generate_task(seed=11))).images[0]
    assert (pixels(result.images[1].image.data) == pixels(single.image.data)).all()


@pytest.mark.parametrize("scheduler", ["unipc", "euler_a", "dpmpp_2m", "ddim"])
def test_each_scheduler_runs_and_is_recorded(client, scheduler):
    from dccbridge.models.schedulers import SCHEDULERS

    result = result_of(run_to_end(client, generate_task(scheduler=scheduler)))
    assert json.loads(result.metadata_json)["scheduler"] == scheduler
    assert f"Sampler: {SCHEDULERS[scheduler].label}," in result.images[0].parameters


def test_submit_then_long_poll_get_job_sees_progress_and_result(client):
    job = client.submit(generate_task(steps=4))
    assert job.job_id and job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING)
    seen_steps = []
    sequence = job.sequence
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        asked = time.monotonic()
        job = client.get_job(job.job_id, wait_ms=5000, after_sequence=sequence)
        # It answers with news, or, when a step takes longer than the wait (a loaded machine), once the wait ran out.
        assert job.sequence > sequence or job.state == jobs_pb2.JOB_STATE_SUCCEEDED \
            or time.monotonic() - asked >= 4.9
        sequence = job.sequence
        if job.progress.stage == "denoise":
            seen_steps.append(job.progress.step)
        if job.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            break
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED and job.result.images[0].image.data
    assert seen_steps and seen_steps[-1] == 4
    # a long-poll on a finished job answers at once
    started = time.monotonic()
    client.get_job(job.job_id, wait_ms=30_000, after_sequence=job.sequence)
    assert time.monotonic() - started < 5


def test_watch_replays_from_a_sequence(client):
    job = client.submit(generate_task())
    events = list(client.watch(job.job_id))
    assert kinds(events)[-1] == "result"
    later = list(client.watch(job.job_id, after_sequence=events[1].sequence))
    # a finished job keeps its lifecycle events and its last progress event
    assert all(e.sequence > events[1].sequence for e in later) and kinds(later)[-2:] == ["progress", "result"]
    assert later[-1] == events[-1]


def test_cancel_stops_within_one_step(client):
    call = client.run(generate_task(size=128, steps=150))
    job_id = None
    first_step = None
    events = []
    for event in call:
        events.append(event)
        job_id = event.job_id
        if event.WhichOneof("event") == "progress" and event.progress.step >= 1 and first_step is None:
            first_step = event.progress.step
            client.cancel(job_id)
    assert kinds(events)[-1] == "cancelled"
    last_step = max(e.progress.step for e in events if e.WhichOneof("event") == "progress")
    assert last_step <= first_step + 2, "cancel must stop within one denoising step"
    assert client.get_job(job_id).state == jobs_pb2.JOB_STATE_CANCELLED


def test_disconnect_then_fetch_the_result(client):
    call = client.run(generate_task(steps=6, seed=5))
    job_id = None
    for event in call:
        job_id = event.job_id
        if event.WhichOneof("event") == "started":
            call.cancel()  # the client goes away mid-job
            break
    job = client.wait_result(job_id)
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED and job.result.images[0].seed == 5
    assert pixels(job.result.images[0].image.data).shape == (64, 64, 3)


def test_cancel_on_disconnect_cancels_the_job(client):
    options = jobs_pb2.JobOptions(cancel_on_disconnect=True)
    call = client.run(generate_task(size=128, steps=150), options)
    job_id = None
    for event in call:
        job_id = event.job_id
        if event.WhichOneof("event") == "progress" and event.progress.stage == "denoise" and event.progress.step:
            call.cancel()
            break
    job = client.wait_result(job_id, timeout_s=60)
    assert job.state == jobs_pb2.JOB_STATE_CANCELLED and "went away" in job.cancelled.reason


def test_list_jobs_pages_newest_first(client):
    ids = [client.submit(generate_task(steps=1), jobs_pb2.JobOptions(label=f"page-{i}")).job_id for i in range(3)]
    for job_id in ids:
        client.wait_result(job_id)
    first = client.list_jobs(page_size=2)
    assert [j.job_id for j in first.jobs] == ids[::-1][:2] and first.next_page_token
    second = client.list_jobs(page_size=2, page_token=first.next_page_token)
    assert second.jobs[0].job_id == ids[0]
    assert not any(i.image.data for j in first.jobs for i in j.result.images)  # no bytes in listings
    succeeded = client.list_jobs(page_size=500, states=[jobs_pb2.JOB_STATE_SUCCEEDED])
    assert all(j.state == jobs_pb2.JOB_STATE_SUCCEEDED for j in succeeded.jobs)


def test_unknown_job_is_not_found(client):
    with pytest.raises(grpc.RpcError) as error:
        client.get_job("no-such-job")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND and "no-such-job" in error.value.details()


def test_queue_full_is_resource_exhausted_with_a_retry_hint(tmp_path):
    with running_server(tmp_path, max_queue=1) as srv, Client(f"127.0.0.1:{srv.port}") as c:
        running = c.submit(generate_task(size=128, steps=150))
        c.get_job(running.job_id, wait_ms=30_000, after_sequence=running.sequence)  # wait until it runs
        waiting = c.submit(generate_task())
        with pytest.raises(grpc.RpcError) as error:
            c.submit(generate_task())
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in error.value.details()
        trailers = dict(error.value.trailing_metadata())
        assert int(trailers["retry-after-ms"]) >= 1000
        c.cancel(waiting.job_id)
        c.cancel(running.job_id)
        assert c.wait_result(waiting.job_id).state == jobs_pb2.JOB_STATE_CANCELLED
        assert health_status(f"127.0.0.1:{srv.port}") == SERVING


def test_fair_queue_interleaves_clients(tmp_path, store_url):  # noqa: F811
    # the queue's own order, one job at a time (batching's order: tests/test_batching.py)
    with running_server(tmp_path, batch_window_ms=0, store_url=store_url) as srv:
        address = f"127.0.0.1:{srv.port}"
        with Client(address, client_name="a") as a, Client(address, client_name="b") as b:
            blocker = a.submit(generate_task(size=128, steps=150))
            a.get_job(blocker.job_id, wait_ms=30_000, after_sequence=blocker.sequence)
            a_jobs = [a.submit(generate_task(steps=1)) for _ in range(3)]
            b_job = b.submit(generate_task(steps=1))
            positions = {j.job_id: a.get_job(j.job_id).queue_position for j in a_jobs + [b_job]}
            # b's first job runs second, not after all of a's
            assert positions[b_job.job_id] == 1 and positions[a_jobs[1].job_id] == 2
            a.cancel(blocker.job_id)
            done = {job.job_id: a.wait_result(job.job_id) for job in a_jobs + [b_job]}
            # ... and they run in that order
            run_order = sorted(done, key=lambda job_id: done[job_id].started_ms)
            assert run_order == [a_jobs[0].job_id, b_job.job_id, a_jobs[1].job_id, a_jobs[2].job_id]


def test_restart_keeps_the_job_index_and_results(tmp_path, store_url):  # noqa: F811
    with running_server(tmp_path, store_url=store_url) as srv, Client(f"127.0.0.1:{srv.port}") as c:
        done = result_of(run_to_end(c, generate_task(seed=9)))
        job_id = c.list_jobs(page_size=1).jobs[0].job_id
    with running_server(tmp_path, store_url=store_url) as srv, Client(f"127.0.0.1:{srv.port}") as c:
        job = c.get_job(job_id)
        assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED
        assert job.result.images[0].image.data == done.images[0].image.data
        assert job.task.generate.prompt == "a red cube"
        assert [j.job_id for j in c.list_jobs().jobs] == [job_id]
        assert list(c.watch(job_id))[-1].WhichOneof("event") == "result"


def test_health_stays_not_serving_when_the_default_model_cannot_load(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[models.missing]\nfamily = "sd15"\nsource = "/nonexistent/model-folder"\n')
    with running_server(tmp_path, models=catalog) as srv, Client(f"127.0.0.1:{srv.port}") as c:
        assert srv.load_error is not None
        assert health_status(f"127.0.0.1:{srv.port}") == NOT_SERVING
        assert c.capabilities().default_model_id == "missing"
        job = c.submit(generate_task())
        failed = c.wait_result(job.job_id)
        assert failed.state == jobs_pb2.JOB_STATE_FAILED
        assert failed.failure.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION
        # the client learns which folder (its name) but not where the server keeps it
        assert failed.failure.message == "model 'missing': '.../model-folder' does not exist"


def test_large_messages_pass_both_ways(client):
    import numpy as np
    from dccbridge.imaging import encode_png

    noise = np.random.default_rng(0).integers(0, 256, (1600, 1600, 3), dtype=np.uint8)  # ~7.7 MB PNG > 4 MiB
    task = tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(
        unit={"control_type": 1, "image": {"data": encode_png(noise)}}, width=1600, height=1600))
    result = result_of(run_to_end(client, task))
    assert len(result.images[0].image.data) > 4 * 1024 * 1024
