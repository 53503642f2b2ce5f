"""CORS for the HTTP face, so browser-like runtimes (Photoshop's UXP, a web page) may call it: answer
preflights, and let responses be read along with the headers Connect and gRPC-Web clients need."""

from __future__ import annotations

# What Connect / gRPC-Web clients send, plus our bearer token and client name.
ALLOWED_HEADERS = (
    "authorization", "content-type", "connect-protocol-version", "connect-timeout-ms", "connect-accept-encoding",
    "connect-content-encoding", "grpc-timeout", "x-grpc-web", "x-user-agent", "dccbridge-client",
)
# What clients must be able to read: gRPC-Web statuses, Connect's encodings, our error trailers.
EXPOSED_HEADERS = (
    "grpc-status", "grpc-message", "grpc-status-details-bin", "content-encoding", "connect-content-encoding",
    "connect-protocol-version", "connect-timeout-ms", "dccbridge-field", "retry-after-ms",
    "trailer-dccbridge-field", "trailer-retry-after-ms",
)
PREFLIGHT_MAX_AGE_S = 7200


class Cors:
    """ASGI middleware. origins: allowed Origin values, or ("*",) for any."""

    def __init__(self, app, origins: tuple[str, ...]):
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        allowed = self._allow_origin(origin)
        if scope["method"] == "OPTIONS":  # a preflight: nothing here is for the service
            headers = [
                (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
                (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
                *allowed,
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return None

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *allowed,
                                                  (b"access-control-expose-headers",
                                                   ", ".join(EXPOSED_HEADERS).encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_cors)

    def _allow_origin(self, origin: str) -> list[tuple[bytes, bytes]]:
        if self.any_origin:
            return [(b"access-control-allow-origin", b"*")]
        if origin in self.origins:
            return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        return [(b"vary", b"Origin")]  # no allow-origin: the browser keeps the response from the page
