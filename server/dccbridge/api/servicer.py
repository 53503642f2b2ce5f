"""The v1 servicer: thin. Convert, call the engine, convert back. Errors go through status.py."""

from __future__ import annotations

import grpc

from ..errors import InvalidInput
from ..jobs import Engine
from ..v1 import service_pb2, service_pb2_grpc
from . import convert
from .status import mapped_errors

MAX_WAIT_MS = 60_000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CLIENT_METADATA = "dccbridge-client"


def client_of(context: grpc.ServicerContext) -> str:
    """Who is asking, for queue fairness: the client's own name if it sends one, else its address."""
    for key, value in context.invocation_metadata() or ():
        if key == CLIENT_METADATA and value:
            return value[:64]
    peer = context.peer() or ""
    return peer.rsplit(":", 1)[0] if ":" in peer else peer or "anonymous"


class DccBridgeServicer(service_pb2_grpc.DccBridgeServiceServicer):
    def __init__(self, engine: Engine, capabilities):
        self.engine = engine
        self._capabilities = capabilities  # () -> GetCapabilitiesResponse

    @mapped_errors
    def GetCapabilities(self, request, context):
        return self._capabilities()

    @mapped_errors
    def Submit(self, request, context):
        job = self._submit(request, context)
        return service_pb2.SubmitResponse(job=convert.job_to_proto(job))

    @mapped_errors
    def Run(self, request, context):
        job = self._submit(request, context)
        if job.options.cancel_on_disconnect:
            job_id = job.job_id
            context.add_callback(lambda: self._cancel_if_running(job_id))
        yield from self._events(job.job_id, 0, context)

    @mapped_errors
    def Watch(self, request, context):
        yield from self._events(request.job_id, request.after_sequence, context)

    @mapped_errors
    def GetJob(self, request, context):
        if request.wait_ms > MAX_WAIT_MS:
            raise InvalidInput("wait_ms", f"must be at most {MAX_WAIT_MS}, got {request.wait_ms}")
        if request.wait_ms:
            job = self.engine.wait(request.job_id, request.after_sequence, request.wait_ms / 1000)
        else:
            job = self.engine.get(request.job_id)
        return service_pb2.GetJobResponse(job=convert.job_to_proto(job, include_images=not request.omit_image_data))

    @mapped_errors
    def Cancel(self, request, context):
        return service_pb2.CancelResponse(job=convert.job_to_proto(self.engine.cancel(request.job_id), False))

    @mapped_errors
    def ListJobs(self, request, context):
        size = request.page_size or DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            raise InvalidInput("page_size", f"must be at most {MAX_PAGE_SIZE}, got {size}")
        try:
            offset = int(request.page_token or "0")
        except ValueError:
            raise InvalidInput("page_token", "is not a token from a previous ListJobs response") from None
        jobs = self.engine.list(size + 1, offset, convert.job_states(request.states))
        response = service_pb2.ListJobsResponse(jobs=[convert.job_to_proto(j, False) for j in jobs[:size]])
        if len(jobs) > size:
            response.next_page_token = str(offset + size)
        return response

    # -- helpers ------------------------------------------------------------------------------

    def _submit(self, request, context):
        domain_request = convert.task_to_request(request.task)
        return self.engine.submit(
            domain_request,
            convert.job_options(request.options),
            convert.task_json(request.task),
            client=client_of(context),
        )

    def _events(self, job_id: str, after_sequence: int, context):
        include_images = not self.engine.get(job_id).options.omit_image_data
        for event in self.engine.watch(job_id, after_sequence, is_active=context.is_active):
            yield convert.event_to_proto(event, include_images)

    def _cancel_if_running(self, job_id: str) -> None:
        if not self.engine.get(job_id).state.finished:
            self.engine.cancel(job_id, "the client went away (cancel_on_disconnect)")
