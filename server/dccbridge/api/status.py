"""Domain errors -> gRPC status, through the one table in errors.STATUS_BY_ERROR."""

from __future__ import annotations

import functools
import inspect
import logging

import grpc

from ..errors import DccError, QueueFull, status_name

log = logging.getLogger("dccbridge.api")

FIELD_TRAILER = "dccbridge-field"
RETRY_TRAILER = "retry-after-ms"


def abort(context: grpc.ServicerContext, error: BaseException):
    """End the RPC with the status the table gives; a bug becomes INTERNAL and is logged."""
    if isinstance(error, DccError):
        code, message = grpc.StatusCode[status_name(error)], error.message
    else:
        log.exception("internal error in an RPC", exc_info=error)
        code, message = grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}"
    trailers = []
    if getattr(error, "field", ""):
        trailers.append((FIELD_TRAILER, error.field))
    if isinstance(error, QueueFull):
        trailers.append((RETRY_TRAILER, str(int(error.retry_after_s * 1000))))
    if trailers:
        context.set_trailing_metadata(tuple(trailers))
    context.abort(code, message)


def mapped_errors(method):
    """Decorator for servicer methods (unary or streaming) that turns raised errors into statuses."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as error:  # noqa: BLE001 - every error gets a status
                abort(context, error)

        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as error:  # noqa: BLE001
            abort(context, error)

    return unary
