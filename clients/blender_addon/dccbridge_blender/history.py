"""History rows from ListJobs, and re-run tasks from a job's stored Task. No bpy — plain data both ways.

The server keeps each job's Task with its image bytes stripped (api/convert.task_json): a re-run resubmits that
Task as it was, with the same or a new seed. Inputs that were images (control maps, init images, depth passes)
are gone: `stripped_inputs` names them; the add-on recaptures what it can from the current scene (the control
units of a Generate job, by their stored type, weight and range) and refuses the rest with what to do.
"""

from __future__ import annotations

import json

from .proto import control_pb2, jobs_pb2, service_pb2, tasks_pb2

# Job.task_type → the add-on's result kind (apply.apply_result): how a re-applied result is written.
KINDS = {"generate": "generate", "depth2img": "depth2img", "texture": "texture", "upscale": "upscale",
         "outpaint": "outpaint", "preprocess": "generate"}
STATES = {jobs_pb2.JOB_STATE_QUEUED: "queued", jobs_pb2.JOB_STATE_RUNNING: "running",
          jobs_pb2.JOB_STATE_SUCCEEDED: "done", jobs_pb2.JOB_STATE_FAILED: "failed",
          jobs_pb2.JOB_STATE_CANCELLED: "cancelled"}
CONTROL_NAMES = {v: k for k, v in (("depth", control_pb2.CONTROL_TYPE_DEPTH),
                                   ("openpose", control_pb2.CONTROL_TYPE_OPENPOSE),
                                   ("canny", control_pb2.CONTROL_TYPE_CANNY))}
MAX_PAGE_SIZE = 500
MAX_THUMBNAIL = 512


def list_request(page_size: int = 10, page_token: str = "", all_clients: bool = False, text: str = "",
                 model_id: str = "", thumbnail_size: int = 96) -> service_pb2.ListJobsRequest:
    """This client's jobs ("blender", the dccbridge-client header transport.Connection sends), or every client's
    (what the server shows depends on the token: an ordinary token sees its own client only)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"History page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    if not 0 <= thumbnail_size <= MAX_THUMBNAIL:
        raise ValueError(f"History thumbnail size must be 0..{MAX_THUMBNAIL}, got {thumbnail_size}")
    return service_pb2.ListJobsRequest(page_size=page_size, page_token=page_token,
                                       client="" if all_clients else "blender", text=text.strip(),
                                       model_id=model_id.strip(), thumbnail_size=thumbnail_size)


def task_body(task: tasks_pb2.Task):
    kind = task.WhichOneof("kind")
    return kind, (getattr(task, kind) if kind else None)


def job_row(job: jobs_pb2.Job) -> dict:
    """What a history row shows and keeps: prompt, seed, model, controls, the thumbnail, and the Task itself."""
    kind, body = task_body(job.task)
    seeds = sorted({i.seed for i in job.result.images})
    sampling = getattr(body, "sampling", None) if body is not None else None
    controls = [f"{CONTROL_NAMES.get(u.control_type, 'unit')} {u.controlnet_conditioning_scale:g}"
                for u in getattr(body, "control_units", ())] if body is not None else []
    return {"job_id": job.job_id, "state": STATES.get(job.state, "unknown"), "task_type": job.task_type,
            "kind": KINDS.get(job.task_type, "generate"), "model": job.model_id or getattr(body, "model_id", ""),
            "prompt": getattr(body, "prompt", ""), "negative_prompt": getattr(body, "negative_prompt", ""),
            "seed": int(seeds[0]) if seeds else (int(sampling.seed) if sampling is not None else -1),
            "steps": int(sampling.num_inference_steps) if sampling is not None else 0,
            "controls": ", ".join(controls), "client": job.client, "label": job.label,
            "created_ms": int(job.created_ms), "thumbnail": bytes(job.thumbnail.data),
            "task": job.task.SerializeToString(), "message": job.failure.message}


def stripped_inputs(task: tasks_pb2.Task) -> list:
    """Field paths of inputs whose bytes the server did not keep: a message that is set (an Image, a DepthPass)
    with every bytes field empty. A pose unit carries keypoints, no bytes: it re-runs as it was."""
    found = []

    def walk(message, path):
        for descriptor, value in message.ListFields():
            name = f"{path}.{descriptor.name}" if path else descriptor.name
            if descriptor.type == descriptor.TYPE_MESSAGE:
                items = list(value) if descriptor.is_repeated else [value]
                for index, item in enumerate(items):
                    walk(item, f"{name}[{index}]" if descriptor.is_repeated else name)
        fields = [f.name for f in message.DESCRIPTOR.fields if f.type == f.TYPE_BYTES and not f.is_repeated]
        if fields and not any(getattr(message, name) for name in fields):   # one of several encodings is enough
            found.append(f"{path}.{'|'.join(fields)}" if path else "|".join(fields))

    walk(task, "")
    return found


def control_units_wanted(task: tasks_pb2.Task) -> list:
    """A Generate task's units as capture_units takes them: type, weight, start, end (their images recaptured)."""
    kind, body = task_body(task)
    if kind != "generate":
        return []
    return [{"type": CONTROL_NAMES[u.control_type], "weight": u.controlnet_conditioning_scale,
             "start": u.control_guidance_start, "end": u.control_guidance_end}
            for u in body.control_units if u.control_type in CONTROL_NAMES]


def rerun_task(task_bytes: bytes, seed: int, units: list | None = None) -> tasks_pb2.Task:
    """The stored Task with `seed` (-1: the server picks) and, for a Generate job, recaptured control units.
    Raises ValueError naming the inputs that must be recaptured when they cannot be."""
    task = tasks_pb2.Task.FromString(task_bytes)
    kind, body = task_body(task)
    if body is None:
        raise ValueError("Re-run: this job has no stored task (an older server?)")
    if kind == "generate" and units is not None:
        del body.control_units[:]
        body.control_units.extend(units)
    missing = stripped_inputs(task)
    if missing:
        raise ValueError(f"Re-run: the server did not keep this {kind} job's input images ({', '.join(missing)}); "
                         "recapture them: run it again from its workspace with the settings loaded (Use settings)")
    if hasattr(body, "sampling"):
        body.sampling.seed = int(seed)
    return task


def settings_of(row: dict) -> dict:
    """The scene settings a row restores (Use settings): prompt, negative, model, seed, steps."""
    return {k: row[k] for k in ("prompt", "negative_prompt", "model", "seed", "steps")}


def row_json(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in ("thumbnail", "task")})
