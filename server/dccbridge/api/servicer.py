"""The gRPC face of the v1 service: a thin adapter from grpc's servicer API to service.DccBridgeService."""

from __future__ import annotations

import grpc

from ..v1 import service_pb2_grpc
from .service import CLIENT_HEADER, DccBridgeService, client_name
from .status import mapped_errors


class GrpcCaller:
    """service.Caller for one gRPC call."""

    def __init__(self, context: grpc.ServicerContext):
        metadata = dict(context.invocation_metadata() or ())
        # "ipv4:127.0.0.1:5000" -> "127.0.0.1:5000", so a host is one fairness lane on both faces
        peer = context.peer() or ""
        address = peer.partition(":")[2] if peer.startswith(("ipv4:", "ipv6:")) else peer
        self.client = client_name(metadata.get(CLIENT_HEADER, ""), address)
        self.authorization = metadata.get("authorization", "")
        self.is_active = context.is_active
        self.on_disconnect = context.add_callback  # grpc calls it when the call ends, however it ends


class DccBridgeServicer(service_pb2_grpc.DccBridgeServiceServicer):
    def __init__(self, service: DccBridgeService):
        self.service = service

    @mapped_errors
    def GetCapabilities(self, request, context):
        return self.service.get_capabilities(request, GrpcCaller(context))

    @mapped_errors
    def Submit(self, request, context):
        return self.service.submit(request, GrpcCaller(context))

    @mapped_errors
    def Run(self, request, context):
        yield from self.service.run(request, GrpcCaller(context))

    @mapped_errors
    def Watch(self, request, context):
        yield from self.service.watch(request, GrpcCaller(context))

    @mapped_errors
    def GetJob(self, request, context):
        return self.service.get_job(request, GrpcCaller(context))

    @mapped_errors
    def Cancel(self, request, context):
        return self.service.cancel(request, GrpcCaller(context))

    @mapped_errors
    def ListJobs(self, request, context):
        return self.service.list_jobs(request, GrpcCaller(context))

    # -- live mode (api/live_service.py) --

    @mapped_errors
    def Live(self, request_iterator, context):
        yield from self.service.live.live_stream(request_iterator, GrpcCaller(context))

    @mapped_errors
    def OpenLive(self, request, context):
        return self.service.live.open_live(request, GrpcCaller(context))

    @mapped_errors
    def SendLiveFrame(self, request, context):
        return self.service.live.send_live_frame(request, GrpcCaller(context))

    @mapped_errors
    def WatchLive(self, request, context):
        yield from self.service.live.watch_live(request, GrpcCaller(context))

    @mapped_errors
    def PollLive(self, request, context):
        return self.service.live.poll_live(request, GrpcCaller(context))

    @mapped_errors
    def CloseLive(self, request, context):
        return self.service.live.close_live(request, GrpcCaller(context))
