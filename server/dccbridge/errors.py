"""Domain errors. Ops raise these; api/status.py maps each to one status code.

A user's mistake is never an internal error: every class here except InternalError
describes something the caller can fix or retry.
"""

from __future__ import annotations

import re

MAX_SHOWN_ID_CHARS = 64
# An absolute host path in a message (POSIX /a/b or Windows C:\a\b): a client never sees where the server keeps
# things. A slash after a word character, a dot or a colon (1/d, owner/name, hf://...) is not the start of one.
HOST_PATH = re.compile(r"(?<![\w.:/\\])(?:/[^\s'\"/,;:()\[\]]+)+/?|\b[A-Za-z]:\\[^\s'\",;:()\[\]]+")
HIDDEN_DIRECTORY = "..."


def shown(value: str, limit: int = MAX_SHOWN_ID_CHARS) -> str:
    """A client-sent id or name as messages echo it: at most `limit` characters, control characters as '?'."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return "".join(c if c.isprintable() else "?" for c in text)


def without_host_paths(message: str) -> str:
    """The message with the folders of absolute host paths hidden: '/srv/models/x.safetensors' reads
    '.../x.safetensors' (the file's name still says which one). Every message a client sees goes through this:
    the status of an RPC and a job's failure."""
    return HOST_PATH.sub(_hide_directory, message)


def _hide_directory(match: re.Match) -> str:
    path = match.group(0).rstrip("/\\")
    separator = "\\" if "\\" in path and "/" not in path else "/"
    return f"{HIDDEN_DIRECTORY}{separator}{path.rsplit(separator, 1)[-1]}"


class DccError(Exception):
    """Base of every error the server reports on purpose. `field`: the request field it is about, if any."""

    field: str = ""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        if field:
            self.field = field


class InvalidInput(DccError):
    """A request field is wrong. The message names the field and the allowed range."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}", field)
        self.reason = reason


class ModelNotFound(DccError):
    """An id names no model, upscaler, ControlNet or adapter. With `field`, the message starts with it."""

    def __init__(self, model_id: str, available: list[str], kind: str = "model", field: str = ""):
        listing = ", ".join(sorted(available)) or "(none)"
        prefix = f"{field}: " if field else ""
        super().__init__(f"{prefix}unknown {kind} '{shown(model_id)}'; available: {listing}", field)
        self.model_id = model_id
        self.available = sorted(available)


class ModelUnavailable(DccError):
    """The catalog names a model whose weights cannot be loaded here (offline hub, missing file, pickle refused)."""


class Unsupported(DccError):
    """The request is valid but this server or model does not offer it (e.g. no ControlNet for a type)."""


class JobNotFound(DccError):
    def __init__(self, job_id: str):
        super().__init__(f"job_id: no job with id '{shown(job_id)}'", "job_id")
        self.job_id = job_id


class ResultLost(DccError):
    """A finished job's result file is gone from (or unreadable on) the server's disk."""

    def __init__(self, what: str):
        super().__init__(f"{what} is no longer in the server's storage (removed or unreadable); submit the job "
                         "again")


class QueueFull(DccError):
    def __init__(self, max_queue: int, retry_after_s: float):
        super().__init__(
            f"the queue is full ({max_queue} jobs waiting); retry in about {retry_after_s:.0f} s"
        )
        self.retry_after_s = retry_after_s


class QueuedInputsFull(QueueFull):
    """The inputs of waiting jobs would pass the server's byte budget (they are held until the job runs)."""

    def __init__(self, held: int, limit: int, retry_after_s: float):
        DccError.__init__(
            self,
            f"waiting jobs already hold {held / 2**20:.0f} MiB of inputs (the limit is {limit / 2**20:.0f} MiB); "
            f"retry in about {retry_after_s:.0f} s",
        )
        self.retry_after_s = retry_after_s


class TooManyStreams(DccError):
    """Open Watch/Run streams and long-polls are capped so that short calls always find a thread."""

    def __init__(self, limit: int, retry_after_s: float = 5.0):
        super().__init__(
            f"the server has {limit} event streams and long-polls open, its limit; close one or retry in about "
            f"{retry_after_s:.0f} s"
        )
        self.retry_after_s = retry_after_s


class ShuttingDown(DccError):
    def __init__(self):
        super().__init__("the server is shutting down and takes no new work; retry on another server or later")


class Cancelled(DccError):
    def __init__(self, reason: str = "cancelled by the client"):
        super().__init__(reason)


class OutOfMemory(DccError):
    def __init__(self, detail: str = ""):
        super().__init__(
            "the device ran out of memory; try a smaller size or batch" + (f" ({detail})" if detail else "")
        )


class ReplicaLost(DccError):
    """Cluster mode: the replicas that ran a job died (or became unreachable) on every try."""

    def __init__(self, tries: int, reason: str):
        super().__init__(f"replica died {tries} time{'s' if tries != 1 else ''} while running this job (last: {reason}); "
                         "it is not run again "
                         "- check the cluster's replicas (GetCapabilities lists them), then submit it again")
        self.tries = tries


class Unauthenticated(DccError):
    def __init__(self):
        super().__init__("missing or invalid token")


class PermissionDenied(DccError):
    """A valid token asked for what only the admin token may do (another client's jobs)."""


class LiveSessionNotFound(DccError):
    """No open live session with this id for this client (closed, timed out, or opened by another client)."""

    def __init__(self, session_id: str):
        super().__init__(f"session_id: no open live session '{shown(session_id)}' for this client (it was closed, "
                         "timed out, or never existed); open a new one", "session_id")


class LiveSessionsFull(DccError):
    def __init__(self, limit: int, retry_after_s: float = 5.0):
        super().__init__(f"the server has {limit} live sessions open, its limit (--max-live-sessions); close one or "
                         f"retry in about {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class InternalError(DccError):
    """A bug on our side; the message is safe to show."""


# The one error table: domain error -> status code name. api/status.py turns the name into a
# grpc.StatusCode (and the Connect face into its code); failure events carry the same name.
STATUS_BY_ERROR: dict[type[DccError], str] = {
    InvalidInput: "INVALID_ARGUMENT",
    ModelNotFound: "NOT_FOUND",
    JobNotFound: "NOT_FOUND",
    ResultLost: "DATA_LOSS",
    ModelUnavailable: "FAILED_PRECONDITION",
    Unsupported: "UNIMPLEMENTED",
    QueueFull: "RESOURCE_EXHAUSTED",
    TooManyStreams: "RESOURCE_EXHAUSTED",
    OutOfMemory: "RESOURCE_EXHAUSTED",
    ShuttingDown: "UNAVAILABLE",
    ReplicaLost: "UNAVAILABLE",
    Cancelled: "CANCELLED",
    Unauthenticated: "UNAUTHENTICATED",
    PermissionDenied: "PERMISSION_DENIED",
    InternalError: "INTERNAL",
    LiveSessionNotFound: "NOT_FOUND",
    LiveSessionsFull: "RESOURCE_EXHAUSTED",
}


def status_name(error: BaseException) -> str:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return "INTERNAL"
