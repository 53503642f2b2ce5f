"""The gRPC face: the v1 service, standard health and reflection (both open without a token), raised message
limits, optional TLS."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..v1 import service_pb2, service_pb2_grpc
from .security import TlsFiles
from .servicer import DccBridgeServicer

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["DccBridgeService"].full_name


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """The same limits on both ends: gRPC's default is 4 MiB each way."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


class GrpcFace:
    def __init__(self, servicer: DccBridgeServicer, max_message_bytes: int, max_workers: int = 64):
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dccbridge-rpc"),
            options=channel_options(max_message_bytes),
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
