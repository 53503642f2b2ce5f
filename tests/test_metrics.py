"""Operators can see it: Prometheus metrics at /metrics on the HTTP face, scraped over HTTP after real jobs."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dccbridge.client import Client

from conftest import generate_task, result_of, run_to_end, running_server
from test_durability import wait_until_running


def scrape(http_port: int, token: str | None = None) -> dict[str, list]:
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/metrics")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples, name: str, **labels) -> float:
    matching = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"no sample {name} {labels} in {samples}"
    return sum(matching)


def test_metrics_after_some_jobs(tmp_path):
    with running_server(tmp_path, http_port=0) as srv, Client(f"127.0.0.1:{srv.port}", client_name="ops") as c:
        for seed in (1, 2):
            result_of(run_to_end(c, generate_task(steps=3, seed=seed)))
        blocker = c.submit(generate_task(size=128, steps=150))
        wait_until_running(c, blocker.job_id)
        waiting = c.submit(generate_task(steps=1))
        c.cancel(waiting.job_id)
        waiting = c.submit(generate_task(steps=1))
        with pytest.raises(grpc.RpcError):
            c.submit(generate_task(steps=0))  # INVALID_ARGUMENT, counted as a rejected call
        watch = c.watch(blocker.job_id)
        next(iter(watch))

        m = scrape(srv.http_port)
        assert value(m["dccbridge_queue_depth"], "dccbridge_queue_depth", lane="ops") == 1
        jobs = m["dccbridge_jobs"]
        assert value(jobs, "dccbridge_jobs", state="succeeded") == 2
        assert value(jobs, "dccbridge_jobs", state="cancelled") == 1
        assert value(jobs, "dccbridge_jobs", state="queued") == 1
        assert value(jobs, "dccbridge_jobs", state="running") == 1
        finished = m["dccbridge_jobs_finished"]
        assert value(finished, "dccbridge_jobs_finished_total", state="succeeded", code="OK") == 2
        assert value(finished, "dccbridge_jobs_finished_total", state="cancelled", code="CANCELLED") == 1
        steps = m["dccbridge_step_seconds"]
        assert value(steps, "dccbridge_step_seconds_count", model="tiny") >= 4  # 2 jobs x (3 steps - the first)
        assert 0 < value(steps, "dccbridge_step_seconds_sum", model="tiny") < 60
        assert value(m["dccbridge_job_seconds"], "dccbridge_job_seconds_count", model="tiny") == 2
        assert value(m["dccbridge_model_load_seconds"], "dccbridge_model_load_seconds_count", model="tiny") == 1
        assert value(m["dccbridge_open_streams"], "dccbridge_open_streams") == 1
        assert value(m["dccbridge_rejected_requests"], "dccbridge_rejected_requests_total",
                     code="INVALID_ARGUMENT") == 1
        assert value(m["dccbridge_queued_input_bytes"], "dccbridge_queued_input_bytes") > 0
        # A CPU reports no device memory; the series is left out rather than faked.
        assert "dccbridge_device_memory_bytes" not in m
        c.cancel(blocker.job_id)
        c.cancel(waiting.job_id)
        watch.cancel()


def test_metrics_need_the_token_when_the_server_has_one(tmp_path):
    with running_server(tmp_path, http_port=0, token="s3cret") as srv:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(srv.http_port)
        assert refused.value.code == 401
        assert "dccbridge_jobs" in scrape(srv.http_port, token="s3cret")
