"""The v1 service, once, for every face: gRPC (servicer.py) and Connect / gRPC-Web (connect_servicer.py).

Each method takes the request proto and a Caller, returns a proto or an iterator of events, and raises domain
errors; the faces translate transport to Caller and errors to statuses (status.py). Calls block (long-polls,
streams), so a face runs them on threads.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Callable, Iterator, Protocol

from ..errors import InvalidInput, JobNotFound, PermissionDenied, TooManyStreams
from ..jobs import Engine
from ..jobs.thumbnails import job_thumbnail
from ..v1 import jobs_pb2, service_pb2, tasks_pb2
from . import convert, convert_history
from .security import AdminAccess, BearerToken

MAX_WAIT_MS = 60_000
DEFAULT_MAX_STREAMS = 1000
SHORT_CALL_THREADS = 64  # each face's threads beyond the stream cap: short calls never wait behind streams
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE_TOKEN_DIGITS = 9  # page tokens are row offsets; SQLite takes 64-bit ones, a billion jobs is plenty
CLIENT_HEADER = "dccbridge-client"


class Caller(Protocol):
    """Who is calling, and whether they are still there. Each face builds one per call."""

    client: str  # the queue's fairness lane
    authorization: str  # the `authorization` header, "" when absent

    def is_active(self) -> bool: ...

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Run callback when the client goes away. gRPC also runs it after a normal end: it must be harmless then."""


def client_name(declared: str, address: str) -> str:
    """The name a client gives itself (the dccbridge-client header), else its address without the port."""
    if declared:
        return declared[:64]
    return address.rsplit(":", 1)[0] if ":" in address else address or "anonymous"


def page_offset(token: str) -> int:
    """A ListJobs page_token (an offset this service handed out) -> the offset; anything else is INVALID_ARGUMENT."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit() and len(token) <= MAX_PAGE_TOKEN_DIGITS):
        raise InvalidInput("page_token", "is not a token from a previous ListJobs response (leave it empty for "
                                         "the first page)")
    return int(token)


class StreamSlots:
    """A cap on calls that wait (Watch/Run streams, GetJob long-polls), shared by both faces. Each face gives its
    pool this many threads plus a reserve, so short calls (health, Cancel, GetCapabilities) always find one."""

    def __init__(self, limit: int = DEFAULT_MAX_STREAMS):
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    @contextlib.contextmanager
    def hold(self):
        with self._lock:
            if self._open >= self.limit:
                raise TooManyStreams(self.limit)
            self._open += 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1


def with_seed_drawn(task: tasks_pb2.Task) -> tasks_pb2.Task:
    """The task with a random seed (unset or -1) drawn now, so the stored job re-runs to the same pixels after a
    restart; a task that gives its seed is unchanged."""
    kind = task.WhichOneof("kind")
    inner = getattr(task, kind) if kind else None
    if inner is None or "sampling" not in inner.DESCRIPTOR.fields_by_name:
        return task
    if inner.sampling.HasField("seed") and inner.sampling.seed != -1:
        return task
    drawn = tasks_pb2.Task()
    drawn.CopyFrom(task)
    getattr(drawn, kind).sampling.seed = secrets.randbelow(2**32)
    return drawn


def request_from_payload(payload: bytes):
    """The engine's decode_payload: a stored job's request rebuilt from the Task bytes kept at submit."""
    return convert.task_to_request(tasks_pb2.Task.FromString(payload))


class DccBridgeService:
    def __init__(self, engine: Engine, capabilities: Callable[[], service_pb2.GetCapabilitiesResponse],
                 token: BearerToken, streams: StreamSlots | None = None, metrics=None):
        self.engine = engine
        self._capabilities = capabilities
        self._token = token  # an AdminAccess (--admin-token) scopes job views to the caller's client
        self.streams = streams or StreamSlots()
        self.metrics = metrics  # dccbridge.metrics.Metrics or None; the faces count error statuses on it
        from .live_service import LiveService  # here: live_service imports this module's Caller and StreamSlots
        self.live = LiveService(engine.live, token, self.streams)  # live mode (live.proto)

    def get_capabilities(self, request: service_pb2.GetCapabilitiesRequest,
                         caller: Caller) -> service_pb2.GetCapabilitiesResponse:
        self._token.check(caller.authorization)
        return self._capabilities()

    def submit(self, request: service_pb2.SubmitRequest, caller: Caller) -> service_pb2.SubmitResponse:
        self._token.check(caller.authorization)
        return service_pb2.SubmitResponse(job=convert.job_to_proto(self._submit(request, caller)))

    def run(self, request: service_pb2.SubmitRequest, caller: Caller) -> Iterator[jobs_pb2.JobEvent]:
        self._token.check(caller.authorization)
        with self.streams.hold():  # before the submit: a stream refused for the cap must not leave a job behind
            job = self._submit(request, caller)
            if job.options.cancel_on_disconnect:
                caller.on_disconnect(lambda: self._cancel_if_running(job.job_id))
            yield from self._watch_events(job.job_id, 0, caller)

    def watch(self, request: service_pb2.WatchRequest, caller: Caller) -> Iterator[jobs_pb2.JobEvent]:
        self._token.check(caller.authorization)
        self._check_visible(self.engine.get(request.job_id), caller)
        yield from self._events(request.job_id, request.after_sequence, caller)

    def get_job(self, request: service_pb2.GetJobRequest, caller: Caller) -> service_pb2.GetJobResponse:
        self._token.check(caller.authorization)
        if request.wait_ms > MAX_WAIT_MS:
            raise InvalidInput("wait_ms", f"must be at most {MAX_WAIT_MS}, got {request.wait_ms}")
        self._check_visible(self.engine.get(request.job_id), caller)
        if request.wait_ms:
            with self.streams.hold():
                job = self.engine.wait(request.job_id, request.after_sequence, request.wait_ms / 1000)
        else:
            job = self.engine.get(request.job_id)
        return service_pb2.GetJobResponse(job=convert.job_to_proto(job, include_images=not request.omit_image_data))

    def cancel(self, request: service_pb2.CancelRequest, caller: Caller) -> service_pb2.CancelResponse:
        self._token.check(caller.authorization)
        self._check_visible(self.engine.get(request.job_id), caller)
        return service_pb2.CancelResponse(job=convert.job_to_proto(self.engine.cancel(request.job_id), False))

    def list_jobs(self, request: service_pb2.ListJobsRequest, caller: Caller) -> service_pb2.ListJobsResponse:
        self._token.check(caller.authorization)
        size = request.page_size or DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            raise InvalidInput("page_size", f"must be at most {MAX_PAGE_SIZE}, got {size}")
        offset = page_offset(request.page_token)
        where = convert_history.list_filter(request, self._client_scope(request.client, caller))
        thumbnail_size = convert_history.thumbnail_size(request)
        jobs = self.engine.list(size + 1, offset, convert.job_states(request.states), where)
        response = service_pb2.ListJobsResponse()
        for job in jobs[:size]:
            message = response.jobs.add()
            message.CopyFrom(convert.job_to_proto(job, False))
            if thumbnail_size:
                convert_history.attach_thumbnail(message, job_thumbnail(self.engine.store.storage, job,
                                                                        thumbnail_size))
        if len(jobs) > size:
            response.next_page_token = str(offset + size)
        return response

    # -- helpers ------------------------------------------------------------------------------

    def _restricted(self, caller: Caller) -> bool:
        """With an admin token configured, a caller without it sees only its own client's jobs."""
        return isinstance(self._token, AdminAccess) and self._token.scoped and \
            not self._token.is_admin(caller.authorization)

    def _client_scope(self, requested: str, caller: Caller) -> str:
        if not self._restricted(caller) or requested == caller.client:
            return requested
        if requested:
            raise PermissionDenied(f"client: only the admin token lists other clients' jobs; this caller is "
                                   f"'{caller.client}' (leave client empty for your own jobs)")
        return caller.client

    def _check_visible(self, job, caller: Caller) -> None:
        """Another client's job is NOT_FOUND for a restricted caller (its existence is not revealed)."""
        if self._restricted(caller) and job.client != caller.client:
            raise JobNotFound(job.job_id)

    def _submit(self, request: service_pb2.SubmitRequest, caller: Caller):
        task = with_seed_drawn(request.task)
        return self.engine.submit(
            convert.task_to_request(task),
            convert.job_options(request.options),
            convert.task_json(task),
            client=caller.client,
            payload=task.SerializeToString(),  # kept until the job ends: a restart rebuilds it (request_from_payload)
        )

    def _events(self, job_id: str, after_sequence: int, caller: Caller) -> Iterator[jobs_pb2.JobEvent]:
        with self.streams.hold():
            yield from self._watch_events(job_id, after_sequence, caller)

    def _watch_events(self, job_id: str, after_sequence: int, caller: Caller) -> Iterator[jobs_pb2.JobEvent]:
        include_images = not self.engine.get(job_id).options.omit_image_data
        for event in self.engine.watch(job_id, after_sequence, is_active=caller.is_active):
            yield convert.event_to_proto(event, include_images)

    def _cancel_if_running(self, job_id: str) -> None:
        if not self.engine.get(job_id).state.finished:
            self.engine.cancel(job_id, "the client went away (cancel_on_disconnect)")
