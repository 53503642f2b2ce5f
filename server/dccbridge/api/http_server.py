"""The HTTP/1.1 face: the v1 service over Connect (JSON and binary; unary and server-streaming) and gRPC-Web,
for hosts without HTTP/2 (Photoshop's UXP, Unity). connectrpc's ASGI app from the generated service_connect,
under uvicorn on a thread of this process, calling the same service as the gRPC face."""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import uvicorn

from ..errors import Unauthenticated
from ..metrics import CONTENT_TYPE
from ..v1.service_connect import DccBridgeServiceASGIApplication
from .connect_servicer import ConnectServicer
from .cors import Cors
from .security import BearerToken, TlsFiles
from .service import SHORT_CALL_THREADS, DccBridgeService

STARTUP_TIMEOUT_S = 10


class MetricsRoute:
    """GET /metrics answers Prometheus' text format (with the server's token when it has one: Prometheus sends
    it with `authorization` / `bearer_token_file`); every other request goes to the Connect app."""

    def __init__(self, app, metrics, token: BearerToken):
        self.app = app
        self.metrics = metrics
        self.token = token

    async def __call__(self, scope, receive, send):
        if self.metrics is None or scope["type"] != "http" or scope["path"] != "/metrics":
            return await self.app(scope, receive, send)
        try:
            self.token.check(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
        except Unauthenticated as error:
            status, body, content_type = 401, error.message.encode(), "text/plain; charset=utf-8"
        else:
            status, body, content_type = 200, self.metrics.exposition(), CONTENT_TYPE
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class HttpFace:
    def __init__(self, service: DccBridgeService, max_message_bytes: int, cors_origins: tuple[str, ...],
                 metrics=None, token: BearerToken = BearerToken(None)):
        # Threads for the blocking service calls: like the gRPC face's pool, one per call in flight, with a
        # thread for every stream the service admits plus some for short calls.
        self.executor = ThreadPoolExecutor(max_workers=service.streams.limit + SHORT_CALL_THREADS,
                                           thread_name_prefix="dccbridge-http")
        connect_app = DccBridgeServiceASGIApplication(ConnectServicer(service, self.executor),
                                                      read_max_bytes=max_message_bytes)
        self.app = Cors(MetricsRoute(connect_app, metrics, token), cors_origins)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def bind(self, host: str, port: int, tls: TlsFiles | None = None) -> int:
        """Listen now (so a busy port or a bad certificate fails the start, not a thread later)."""
        config = uvicorn.Config(
            self.app, log_config=None, log_level=logging.WARNING, access_log=False, lifespan="off",
            proxy_headers=False, timeout_graceful_shutdown=2,
            ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
        )
        config.load()  # builds the TLS context
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
            sock.listen(128)
        except OSError as error:
            sock.close()
            raise OSError(f"cannot listen on {host}:{port} for HTTP ({error.strerror})") from None
        self._socket = sock
        self._server = uvicorn.Server(config)
        return sock.getsockname()[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="dccbridge-http-loop", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP face did not start; see the log")
            time.sleep(0.01)

    def stop(self) -> None:
        """Close connections (calls still running get the graceful timeout), then the worker threads."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
        self.executor.shutdown(wait=False, cancel_futures=True)
