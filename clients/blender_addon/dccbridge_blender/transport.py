"""The network: a gRPC connection and job runner threads. No bpy — runs off Blender's main thread.

A runner submits a task (or picks up an existing job id), watches its events and turns each into a plain dict on
a queue; the main thread's pump (jobs.py) drains the queue. Streams that break are resumed from the last event
(Watch after_sequence) a few times, then the runner reports the connection lost — keeping the job id, so the
result can be fetched again later with GetJob.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import grpc

from .proto import jobs_pb2, service_pb2, service_pb2_grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN)
TERMINAL_STATES = (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED)


@dataclass(frozen=True)
class Settings:
    address: str
    token: str = ""
    use_tls: bool = False
    ca_path: str = ""
    connect_timeout_s: float = 10.0
    retries: int = 3


class Connection:
    def __init__(self, settings: Settings):
        self.settings = settings
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        if settings.use_tls:
            root = None
            if settings.ca_path:
                with open(settings.ca_path, "rb") as f:
                    root = f.read()
            self.channel = grpc.secure_channel(settings.address, grpc.ssl_channel_credentials(root), options=options)
        else:
            self.channel = grpc.insecure_channel(settings.address, options=options)
        self.stub = service_pb2_grpc.DccBridgeServiceStub(self.channel)
        md = [("dccbridge-client", "blender")]
        if settings.token:
            md.append(("authorization", f"Bearer {settings.token}"))
        self.metadata = tuple(md)

    def close(self):
        self.channel.close()

    def capabilities(self) -> service_pb2.GetCapabilitiesResponse:
        return self.stub.GetCapabilities(service_pb2.GetCapabilitiesRequest(), timeout=self.settings.connect_timeout_s,
                                         metadata=self.metadata)


def describe_error(error: BaseException, address: str) -> str:
    """A message an artist can act on."""
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        code, details = error.code(), (error.details() or "")
        if code == grpc.StatusCode.UNAVAILABLE:
            return f"Cannot reach the server at {address} ({details.splitlines()[0][:160] if details else 'unavailable'}). Is it running? Check the address in the add-on preferences."
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"The server at {address} did not answer in time."
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return "The server refused the token (UNAUTHENTICATED): set the token in the add-on preferences."
        return f"{code.name}: {details}"
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error}"
    return f"{type(error).__name__}: {error}"


def capabilities_dict(caps) -> dict:
    return {
        "server_version": caps.server_version, "api_version": caps.api_version,
        "device": f"{caps.device.type} {caps.device.name} {caps.device.dtype}".strip(),
        "default_model": caps.default_model_id,
        "models": [{"id": m.id, "family": m.family, "tasks": [service_pb2.TaskType.Name(t) for t in m.tasks],
                    "default_width": m.default_width, "default_height": m.default_height,
                    "reference_adapters": [{"id": a.id, "label": a.label} for a in m.reference_adapters]}
                   for m in caps.models],
        "schedulers": [s.id for s in caps.schedulers],
        "upscalers": [u.id for u in caps.upscalers],
        "restorers": [{"id": r.id, "description": f"{r.architecture} · {r.license}"
                       + ("" if r.commercial_use else " · non-commercial")} for r in caps.restorers],
        "features": list(caps.features),
        **{kind: [{"id": a.id, "family": a.family, "description": a.description} for a in getattr(caps, kind)]
           for kind in ("loras", "embeddings", "vaes")},
    }


def event_dict(event: jobs_pb2.JobEvent) -> dict:
    kind = event.WhichOneof("event")
    out = {"type": kind, "job_id": event.job_id, "sequence": event.sequence}
    if kind == "queued":
        out["position"] = event.queued.position
    elif kind == "progress":
        p = event.progress
        out.update(stage=p.stage, step=p.step, total=p.total, preview=bytes(p.preview.data))
    elif kind == "result":
        out.update(result_dict(event.result))
    elif kind == "failed":
        out.update(code=jobs_pb2.ErrorCode.Name(event.failed.code), message=event.failed.message,
                   field=event.failed.field)
    elif kind == "cancelled":
        out["reason"] = event.cancelled.reason
    return out


def result_dict(result: jobs_pb2.Result) -> dict:
    return {"images": [{"data": bytes(i.image.data), "role": i.role, "seed": i.seed, "index": i.index,
                        "parameters": i.parameters, "width": i.image.width, "height": i.image.height}
                       for i in result.images],
            "metadata_json": result.metadata_json, "extra_json": result.extra_json}


def job_terminal_event(job: jobs_pb2.Job) -> dict | None:
    """The terminal event a finished job stands for (GetJob after a lost stream)."""
    base = {"job_id": job.job_id, "sequence": job.sequence}
    if job.state == jobs_pb2.JOB_STATE_SUCCEEDED:
        return {"type": "result", **base, **result_dict(job.result)}
    if job.state == jobs_pb2.JOB_STATE_FAILED:
        return {"type": "failed", **base, "code": jobs_pb2.ErrorCode.Name(job.failure.code),
                "message": job.failure.message, "field": job.failure.field}
    if job.state == jobs_pb2.JOB_STATE_CANCELLED:
        return {"type": "cancelled", **base, "reason": job.cancelled.reason}
    return None


class JobRunner(threading.Thread):
    """Submit + Watch (or, with job_id and no task, fetch an existing job) in a daemon thread."""

    def __init__(self, settings: Settings, task=None, options=None, job_id: str = ""):
        super().__init__(daemon=True, name=f"dccbridge-job-{job_id or 'new'}")
        self.settings, self.task, self.options = settings, task, options
        self.job_id = job_id
        self.events: queue.Queue = queue.Queue()
        self.sequence = 0
        self._cancel = threading.Event()
        self._abandon = threading.Event()
        self._call = None
        self.finished = threading.Event()

    # -- main-thread API ----------------------------------------------------------------------------
    def cancel(self):
        """Ask the server to cancel; the job's own 'cancelled' event ends the runner."""
        self._cancel.set()
        if self.job_id:
            threading.Thread(target=self._send_cancel, daemon=True).start()

    def abandon(self):
        """Stop watching locally (the server job goes on; fetch it later by id) — what a dropped connection does."""
        self._abandon.set()
        if self._call is not None:
            self._call.cancel()

    # -- thread ------------------------------------------------------------------------------------
    def _post(self, event: dict):
        self.events.put(event)

    def _send_cancel(self):
        try:
            conn = Connection(self.settings)
            try:
                conn.stub.Cancel(service_pb2.CancelRequest(job_id=self.job_id), timeout=10, metadata=conn.metadata)
            finally:
                conn.close()
        except Exception as error:  # noqa: BLE001 - reported, not raised, off the main thread
            self._post({"type": "warning", "message": "Cancel failed: " + describe_error(error, self.settings.address)})

    def run(self):
        conn = None
        try:
            conn = Connection(self.settings)
            if not self.job_id:
                request = service_pb2.SubmitRequest(task=self.task, options=self.options)
                job = conn.stub.Submit(request, timeout=self.settings.connect_timeout_s, metadata=conn.metadata).job
                self.job_id = job.job_id
                self._post({"type": "submitted", "job_id": job.job_id, "position": job.queue_position})
                if self._cancel.is_set():
                    self._send_cancel()
            else:
                job = conn.stub.GetJob(service_pb2.GetJobRequest(job_id=self.job_id), timeout=self.settings.connect_timeout_s,
                                       metadata=conn.metadata).job
                self._post({"type": "submitted", "job_id": job.job_id, "position": job.queue_position})
                terminal = job_terminal_event(job)
                if terminal is not None:
                    self._post(terminal)
                    return
                self.sequence = 0
            self._watch(conn)
        except Exception as error:  # noqa: BLE001
            self._post({"type": "error", "job_id": self.job_id, "message": describe_error(error, self.settings.address),
                        "retryable": bool(self.job_id)})
        finally:
            if conn is not None:
                conn.close()
            self.finished.set()

    def _watch(self, conn: Connection):
        failures = 0
        while True:
            try:
                self._call = conn.stub.Watch(service_pb2.WatchRequest(job_id=self.job_id, after_sequence=self.sequence),
                                             metadata=conn.metadata)
                for event in self._call:
                    self.sequence = event.sequence
                    failures = 0
                    data = event_dict(event)
                    self._post(data)
                    if data["type"] in ("result", "failed", "cancelled"):
                        return
                # The stream ended without a terminal event: ask for the job itself.
                job = conn.stub.GetJob(service_pb2.GetJobRequest(job_id=self.job_id), timeout=self.settings.connect_timeout_s,
                                       metadata=conn.metadata).job
                terminal = job_terminal_event(job)
                if terminal is not None:
                    self._post(terminal)
                    return
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.CANCELLED and self._abandon.is_set():
                    self._post({"type": "abandoned", "job_id": self.job_id})
                    return
                if error.code() not in RETRYABLE or failures >= self.settings.retries:
                    raise
                failures += 1
                self._post({"type": "reconnecting", "attempt": failures,
                            "message": describe_error(error, self.settings.address)})
                time.sleep(0.5 * 2 ** (failures - 1))


def test_connection(settings: Settings, out: queue.Queue) -> threading.Thread:
    """GetCapabilities in a thread; puts {"type": "capabilities", ...} or {"type": "error", ...} on `out`."""
    def work():
        try:
            conn = Connection(settings)
            try:
                out.put({"type": "capabilities", **capabilities_dict(conn.capabilities())})
            finally:
                conn.close()
        except Exception as error:  # noqa: BLE001
            out.put({"type": "error", "message": describe_error(error, settings.address)})

    thread = threading.Thread(target=work, daemon=True, name="dccbridge-capabilities")
    thread.start()
    return thread


# -- live mode: one bidirectional `Live` stream per session ---------------------------------------------------

from .proto import live_pb2  # noqa: E402  (with the live runner below)


def live_event_dict(event: live_pb2.LiveEvent, received_at: float = 0.0) -> dict:
    """A LiveEvent as plain data for the main thread (live.LiveState.on_event, live_host)."""
    kind = event.WhichOneof("event")
    out = {"type": kind, "session_id": event.session_id, "sequence": event.sequence, "received_at": received_at}
    if kind == "opened":
        c = event.opened.config
        out.update(model=c.model_id, width=c.width, height=c.height, steps=c.sampling.num_inference_steps,
                   idle_timeout_ms=c.idle_timeout_ms, loras=[[a.id, a.weight] for a in c.adapters.loras],
                   embeddings=list(c.adapters.embeddings), vae_id=c.adapters.vae_id,
                   similarity_threshold=(c.similarity_threshold if c.HasField("similarity_threshold")
                                         else None))
    elif kind == "result":
        r = event.result
        out.update(frame=r.frame, data=bytes(r.image.data), mime=r.image.mime_type, width=r.image.width,
                   height=r.image.height, reused=r.reused, reused_from=r.reused_from_frame,
                   similarity=r.similarity, seed=r.seed, total_ms=r.timings.total_ms,
                   pipeline_ms=r.timings.pipeline_ms)
    elif kind == "superseded":
        out.update(frame=event.superseded.frame, by_frame=event.superseded.by_frame)
    elif kind == "frame_failed":
        f = event.frame_failed
        out.update(frame=f.frame, code=jobs_pb2.ErrorCode.Name(f.failure.code).removeprefix("ERROR_CODE_"),
                   message=f.failure.message, field=f.failure.field)
    elif kind == "closed":
        c = event.closed
        out.update(reason=c.reason, frames_received=c.frames_received, frames_computed=c.frames_computed,
                   frames_reused=c.frames_reused, frames_superseded=c.frames_superseded)
    return out


class LiveRunner(threading.Thread):
    """The `Live` stream in a daemon thread: the main thread queues frames (send_frame / update / close, never
    blocking); the server's events come out on `events` as dicts, then {"type": "ended"} when the stream is over
    (after "closed", or an {"type": "error"} the panel shows)."""

    POLL_S = 0.2

    def __init__(self, settings: Settings, config: live_pb2.LiveConfig):
        super().__init__(daemon=True, name="dccbridge-live")
        self.settings, self.config = settings, config
        self.events: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._call = None
        self.finished = threading.Event()

    # -- main-thread API ----------------------------------------------------------------------------
    def send_frame(self, frame: live_pb2.LiveFrame) -> None:
        self._outbox.put(live_pb2.LiveRequest(frame=frame))

    def update(self, prompt: str | None = None, seed: int | None = None) -> None:
        update = live_pb2.LiveUpdate()
        if prompt is not None:
            update.prompt = prompt
        if seed is not None:
            update.seed = int(seed)
        self._outbox.put(live_pb2.LiveRequest(update=update))

    def close(self) -> None:
        """End the session: `close`, then the end of the request stream; the server answers with `closed`."""
        if not self._closing.is_set():
            self._outbox.put(live_pb2.LiveRequest(close=live_pb2.LiveClose()))
            self._closing.set()

    def abandon(self) -> None:
        """Drop the stream without waiting for the server (Blender is quitting)."""
        self._closing.set()
        if self._call is not None:
            self._call.cancel()

    # -- thread ------------------------------------------------------------------------------------
    def _requests(self):
        yield live_pb2.LiveRequest(open=self.config)
        while True:
            try:
                request = self._outbox.get(timeout=self.POLL_S)
            except queue.Empty:
                if self._closing.is_set() or self.finished.is_set():
                    return
                continue
            yield request
            if request.WhichOneof("request") == "close":
                return

    def run(self):
        conn = None
        try:
            conn = Connection(self.settings)
            self._call = conn.stub.Live(self._requests(), metadata=conn.metadata)
            for event in self._call:
                self.events.put(live_event_dict(event, time.monotonic()))
        except grpc.RpcError as error:
            if not (error.code() == grpc.StatusCode.CANCELLED and self._closing.is_set()):
                self.events.put({"type": "error", "message": describe_error(error, self.settings.address)})
        except Exception as error:  # noqa: BLE001 - reported on the panel, not raised off the main thread
            self.events.put({"type": "error", "message": describe_error(error, self.settings.address)})
        finally:
            self.finished.set()
            if conn is not None:
                conn.close()
            self.events.put({"type": "ended"})


# -- history: ListJobs pages, off the main thread -------------------------------------------------------------


def list_jobs(settings: Settings, request, out: queue.Queue) -> threading.Thread:
    """ListJobs in a thread; puts {"type": "jobs", "jobs": [Job], "next_page_token", "page_token"} or
    {"type": "error", "message"} on `out` (history_host drains it on the main thread)."""
    def work():
        try:
            conn = Connection(settings)
            try:
                response = conn.stub.ListJobs(request, timeout=settings.connect_timeout_s, metadata=conn.metadata)
                out.put({"type": "jobs", "jobs": list(response.jobs), "next_page_token": response.next_page_token,
                         "page_token": request.page_token})
            finally:
                conn.close()
        except Exception as error:  # noqa: BLE001 - shown on the History panel
            out.put({"type": "error", "message": describe_error(error, settings.address)})

    thread = threading.Thread(target=work, daemon=True, name="dccbridge-history")
    thread.start()
    return thread
