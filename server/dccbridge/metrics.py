"""Prometheus metrics for operators, served at /metrics on the HTTP face.

One registry per Server (tests run several servers in one process). Counters and histograms are fed as things
happen (the engine through EngineObserver, the model manager's on_load, the faces' error statuses); gauges are
read at scrape time from their owners (queue lanes, the index, open streams, device memory), so nothing can
drift out of step.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .jobs import EngineObserver

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LOAD_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics(EngineObserver):
    def __init__(self, default_model: str = "default"):
        self.default_model = default_model  # the label of jobs that name no model
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs_finished = Counter(
            "dccbridge_jobs_finished", "Jobs that reached a final state, by state and final status code",
            ["state", "code", "task_type"], registry=self.registry)
        self.job_seconds = Histogram(
            "dccbridge_job_seconds", "Time from a job's start to its end (running time), per model",
            ["model"], buckets=JOB_BUCKETS, registry=self.registry)
        self.step_seconds = Histogram(
            "dccbridge_step_seconds", "Time per reported step (denoising steps, tiles), per model",
            ["model"], buckets=STEP_BUCKETS, registry=self.registry)
        self.model_load_seconds = Histogram(
            "dccbridge_model_load_seconds", "Time to load a model or upscaler onto the device",
            ["model"], buckets=LOAD_BUCKETS, registry=self.registry)
        self.rejected = Counter(
            "dccbridge_rejected_requests", "Calls answered with an error status, by code (both faces)",
            ["code"], registry=self.registry)
        self.live_frames = Counter(
            "dccbridge_live_frames", "Live frames answered, by outcome (computed, reused, superseded, failed)",
            ["outcome"], registry=self.registry)
        self.live_control_maps = Counter(
            "dccbridge_live_control_maps_computed", "Control maps live sessions computed (an unchanged input's "
            "map is reused)", registry=self.registry)

    # -- fed as things happen ---------------------------------------------------------------------

    def job_finished(self, job, code: str, seconds: float) -> None:
        self.jobs_finished.labels(job.state.value, code, job.task_type).inc()
        if job.started_ms:
            self.job_seconds.labels(job.model_id or self.default_model).observe(seconds)

    def step_time(self, model_id: str, seconds: float) -> None:
        self.step_seconds.labels(model_id or self.default_model).observe(seconds)

    def model_loaded(self, model_id: str, seconds: float) -> None:
        self.model_load_seconds.labels(model_id).observe(seconds)

    def rejected_call(self, code: str) -> None:
        self.rejected.labels(code).inc()

    def live_frame(self, outcome: str) -> None:
        self.live_frames.labels(outcome).inc()

    def live_control_map(self) -> None:
        self.live_control_maps.inc()

    # -- read at scrape time ----------------------------------------------------------------------

    def track(self, engine, open_streams: Callable[[], int], device_memory: Callable[[], int | None]) -> None:
        self.registry.register(_LiveState(engine, open_streams, device_memory))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveState(Collector):
    def __init__(self, engine, open_streams: Callable[[], int], device_memory: Callable[[], int | None]):
        self._engine = engine
        self._open_streams = open_streams
        self._device_memory = device_memory

    def describe(self):
        return []  # collected only at scrape time; names are not checked for clashes up front

    def collect(self):
        lanes = GaugeMetricFamily("dccbridge_queue_depth", "Jobs waiting, per fairness lane (client)",
                                  labels=["lane"])
        for lane, depth in sorted(self._engine.lane_depths().items()):
            lanes.add_metric([lane], depth)
        yield lanes
        yield GaugeMetricFamily("dccbridge_queued_input_bytes", "Bytes of inputs held by waiting jobs",
                                value=self._engine.queued_input_bytes())
        states = GaugeMetricFamily("dccbridge_jobs", "Jobs in the index, by state", labels=["state"])
        counts = self._engine.store.count_by_state()
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            states.add_metric([state], counts.get(state, 0))
        yield states
        yield GaugeMetricFamily("dccbridge_open_streams", "Open Watch/Run streams and long-polls (both faces)",
                                value=self._open_streams())
        live = getattr(self._engine, "live", None)
        if live is not None:
            yield GaugeMetricFamily("dccbridge_live_sessions", "Open live sessions (both faces)",
                                    value=live.open_count())
        memory = self._device_memory()
        if memory is not None:
            yield GaugeMetricFamily("dccbridge_device_memory_bytes", "Device memory in use by this process",
                                    value=memory)
