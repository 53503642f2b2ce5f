"""Wire <-> domain for history: ListJobs filters (service.proto ListJobsRequest 4-10) and what a job's history
entry carries (thumbnail, a note when retention removed its results). docs/api.md "ListJobs"."""

from __future__ import annotations

import json

from ..errors import InvalidInput
from ..jobs.history import JobFilter
from ..jobs.thumbnails import MAX_THUMBNAIL_SIZE
from ..v1 import jobs_pb2, service_pb2

TASK_KINDS = {
    service_pb2.TASK_TYPE_TXT2IMG: "txt2img",
    service_pb2.TASK_TYPE_IMG2IMG: "img2img",
    service_pb2.TASK_TYPE_INPAINT: "inpaint",
    service_pb2.TASK_TYPE_DEPTH2IMG: "depth2img",
    service_pb2.TASK_TYPE_TEXTURE: "texture",
    service_pb2.TASK_TYPE_UPSCALE: "upscale",
    service_pb2.TASK_TYPE_PREPROCESS: "preprocess",
    service_pb2.TASK_TYPE_OUTPAINT: "outpaint",
}
MAX_TEXT_CHARS = 200
MAX_CLIENT_CHARS = 64  # client names are cut to this at submit (service.client_name)


def list_filter(request: service_pb2.ListJobsRequest, client: str) -> JobFilter:
    """The request's filters; `client` is the scope the caller may see ("" = all), already decided by the
    service from the token."""
    kinds = []
    for task_type in request.task_types:
        if task_type not in TASK_KINDS:
            allowed = ", ".join(service_pb2.TaskType.Name(t) for t in TASK_KINDS)
            raise InvalidInput("task_types", f"unknown task type {task_type}; use {allowed}")
        kinds.append(TASK_KINDS[task_type])
    if request.created_after_ms < 0 or request.created_before_ms < 0:
        raise InvalidInput("created_after_ms", "times are Unix milliseconds, 0 or more")
    if request.created_before_ms and request.created_after_ms >= request.created_before_ms:
        raise InvalidInput("created_before_ms", f"must be after created_after_ms ({request.created_after_ms}), "
                                                f"got {request.created_before_ms}")
    if len(request.text) > MAX_TEXT_CHARS:
        raise InvalidInput("text", f"at most {MAX_TEXT_CHARS} characters, got {len(request.text)}")
    if len(request.client) > MAX_CLIENT_CHARS:
        raise InvalidInput("client", f"at most {MAX_CLIENT_CHARS} characters, got {len(request.client)}")
    return JobFilter(client=client, kinds=tuple(dict.fromkeys(kinds)), created_after_ms=request.created_after_ms,
                     created_before_ms=request.created_before_ms, text=request.text.strip(),
                     model_id=request.model_id)


def thumbnail_size(request: service_pb2.ListJobsRequest) -> int:
    if request.thumbnail_size > MAX_THUMBNAIL_SIZE:
        raise InvalidInput("thumbnail_size", f"must be at most {MAX_THUMBNAIL_SIZE} (pixels, the longest side), "
                                             f"got {request.thumbnail_size}")
    return request.thumbnail_size


def attach_thumbnail(message: jobs_pb2.Job, thumbnail: tuple[bytes, int, int] | None) -> jobs_pb2.Job:
    if thumbnail is not None:
        data, width, height = thumbnail
        message.thumbnail.data = data
        message.thumbnail.mime_type = "image/jpeg"
        message.thumbnail.width = width
        message.thumbnail.height = height
    return message


def removed_note(job) -> str:
    return (f"the result images of job {job.job_id} were removed by retention ({job.results_removed_note}); "
            "the metadata stays")


def mark_results_removed(message: jobs_pb2.Job, job) -> None:
    """A job whose files retention removed: its images keep size and seed but no data and no path, and the
    result's extra_json says so ({"results_removed": {"at_ms", "reason", "message"}})."""
    for image in message.result.images:
        image.image.ClearField("data")
        image.path = ""
    try:
        extra = json.loads(message.result.extra_json) if message.result.extra_json else {}
    except ValueError:
        extra = {}
    if not isinstance(extra, dict):
        extra = {"extra": extra}
    extra["results_removed"] = {"at_ms": job.results_removed_ms, "reason": job.results_removed_note,
                                "message": removed_note(job)}
    message.result.extra_json = json.dumps(extra)
