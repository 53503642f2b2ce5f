"""The gRPC face: the v1 service, standard health and reflection (both open without a token), raised message
limits, optional TLS.

grpcio's sync server runs each call, streams included, on a pool thread. The pool has a thread for every
stream the service admits (StreamSlots) plus SHORT_CALL_THREADS, so health, Cancel and GetCapabilities always
find a thread however many streams are open (docs/reliability.md)."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import InvalidInput
from ..v1 import service_pb2, service_pb2_grpc
from .security import TlsFiles
from .service import SHORT_CALL_THREADS
from .servicer import DccBridgeServicer
from .status import abort

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["DccBridgeService"].full_name


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """The same limits on both ends: gRPC's default is 4 MiB each way."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


class _Undecodable:
    """What the lenient deserializer hands on for bytes that do not parse."""

    def __init__(self, error: Exception):
        self.error = error


class UndecodableAsInvalidArgument(grpc.ServerInterceptor):
    """grpc ends a call INTERNAL when the request bytes do not parse (not this protobuf message, or a string
    field that is not UTF-8) before any servicer code runs. This wraps each unary-request handler's deserializer
    so such a call ends INVALID_ARGUMENT, through the one error table, like any other bad input."""

    def __init__(self, metrics=None):
        self._metrics = metrics

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        method = details.method

        def lenient(data: bytes):
            try:
                return parse(data)
            except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and friends
                return _Undecodable(error)

        def refuse(request, context):
            abort(context, InvalidInput(
                "request", f"the bytes sent to {method} are not its request message (or a string field in them "
                           f"is not valid UTF-8): {request.error}"), self._metrics)

        if handler.response_streaming:
            behaviour = handler.unary_stream

            def stream(request, context):
                if isinstance(request, _Undecodable):
                    refuse(request, context)
                yield from behaviour(request, context)

            return grpc.unary_stream_rpc_method_handler(stream, lenient, handler.response_serializer)
        behaviour = handler.unary_unary

        def unary(request, context):
            if isinstance(request, _Undecodable):
                refuse(request, context)
            return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, lenient, handler.response_serializer)


class GrpcFace:
    def __init__(self, servicer: DccBridgeServicer, max_message_bytes: int):
        max_streams = servicer.service.streams.limit
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_streams + SHORT_CALL_THREADS,
                                       thread_name_prefix="dccbridge-rpc"),
            options=channel_options(max_message_bytes),
            interceptors=[UndecodableAsInvalidArgument(servicer.service.metrics)],
        )
        service_pb2_grpc.add_DccBridgeServiceServicer_to_server(servicer, self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.set_serving(False)

    def bind(self, host: str, port: int, tls: TlsFiles | None = None) -> int:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls is None:
            bound = self.server.add_insecure_port(address)
        else:
            cert, key = tls.read()
            bound = self.server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        if not bound:
            raise OSError(f"cannot listen on {address} (port in use or address not local)")
        return bound

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def start(self) -> None:
        self.server.start()

    def stop(self, grace_s: float) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
