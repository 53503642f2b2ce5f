"""Domain errors -> statuses on both faces, through the one table in errors.STATUS_BY_ERROR.

gRPC gets the table's code and the message, with `dccbridge-field` / `retry-after-ms` trailers; Connect and
gRPC-Web get the same code (Connect spells it in lower case), message and trailers.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from ..errors import DccError, status_name, without_host_paths

log = logging.getLogger("dccbridge.api")

FIELD_TRAILER = "dccbridge-field"
RETRY_TRAILER = "retry-after-ms"


@dataclass(frozen=True)
class ErrorStatus:
    code: str  # a gRPC status code name, e.g. "INVALID_ARGUMENT"
    message: str
    trailers: tuple[tuple[str, str], ...]


def error_status(error: BaseException) -> ErrorStatus:
    """The status the table gives; a bug becomes INTERNAL and is logged (its text stays in the log: it may carry
    host paths or internals). No message carries a host path."""
    if isinstance(error, DccError):
        code, message = status_name(error), without_host_paths(error.message)
    else:
        log.exception("internal error in an RPC", exc_info=error)
        code, message = "INTERNAL", f"internal error ({type(error).__name__}); the server's log has the details"
    trailers = []
    if getattr(error, "field", ""):
        trailers.append((FIELD_TRAILER, error.field))
    if getattr(error, "retry_after_s", None) is not None:  # QueueFull, QueuedInputsFull, TooManyStreams
        trailers.append((RETRY_TRAILER, str(int(error.retry_after_s * 1000))))
    return ErrorStatus(code, message, tuple(trailers))


# -- gRPC -------------------------------------------------------------------------------------------


def abort(context: grpc.ServicerContext, error: BaseException, metrics=None):
    """End the gRPC call with the error's status (counted on metrics.rejected_call when given)."""
    status = error_status(error)
    if metrics is not None:
        metrics.rejected_call(status.code)
    if status.trailers:
        context.set_trailing_metadata(status.trailers)
    context.abort(grpc.StatusCode[status.code], status.message)


def mapped_errors(method):
    """Decorator for gRPC servicer methods (unary or streaming) that turns raised errors into statuses."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as error:  # noqa: BLE001 - every error gets a status
                abort(context, error, self.service.metrics)

        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as error:  # noqa: BLE001
            abort(context, error, self.service.metrics)

    return unary


# -- Connect and gRPC-Web ---------------------------------------------------------------------------


def connect_code(grpc_name: str) -> Code:
    """Connect's codes are gRPC's names in lower case; only CANCELLED is spelt 'canceled'."""
    return Code.CANCELED if grpc_name == "CANCELLED" else Code(grpc_name.lower())


def connect_error(error: BaseException, ctx: RequestContext, metrics=None) -> ConnectError:
    """The ConnectError to raise for an error; its trailers go on the response (connectrpc writes them as
    `trailer-*` headers for unary calls, in the end message for streams)."""
    status = error_status(error)
    if metrics is not None:
        metrics.rejected_call(status.code)
    for key, value in status.trailers:
        ctx.response_trailers[key] = value
    return ConnectError(connect_code(status.code), status.message)
