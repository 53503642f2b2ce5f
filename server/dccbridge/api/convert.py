"""Proto <-> domain conversion, in one place. Servicers call only this module to translate."""

from __future__ import annotations

import math

from google.protobuf import json_format

from .. import domain as d
from ..errors import InvalidInput, ResultLost, without_host_paths
from ..jobs import JobEvent, JobRecord, JobResult
from ..jobs.result_storage import read_result
from ..v1 import control_pb2, jobs_pb2, media_pb2, tasks_pb2
from .convert_history import mark_results_removed

CONTROL_TYPES = {getattr(control_pb2, f"CONTROL_TYPE_{t.name}"): t for t in d.ControlType}
PREPROCESSORS = {getattr(control_pb2, f"PREPROCESSOR_{p.name}"): p for p in d.Preprocessor}
DEPTH_ENCODINGS = {getattr(media_pb2, f"DEPTH_ENCODING_{e.name}"): e for e in d.DepthEncoding}
DEPTH_NORMALIZATIONS = {getattr(media_pb2, f"DEPTH_NORMALIZATION_{n.name}"): n for n in d.DepthNormalization}
JOB_STATES = {s: getattr(jobs_pb2, f"JOB_STATE_{s.name}") for s in d.JobState}
JOB_STATES_FROM_PROTO = {v: k for k, v in JOB_STATES.items()}
CONTROL_TYPE_TO_PROTO = {v: k for k, v in CONTROL_TYPES.items()}
PREPROCESSOR_TO_PROTO = {v: k for k, v in PREPROCESSORS.items()}

# -- requests -------------------------------------------------------------------------------------


def task_to_request(task: tasks_pb2.Task):
    kind = task.WhichOneof("kind")
    if kind == "generate":
        return generate_request(task.generate)
    if kind == "preprocess":
        return preprocess_request(task.preprocess)
    if kind == "depth2img":
        return depth2img_request(task.depth2img)
    if kind == "texture":
        return texture_request(task.texture)
    if kind == "upscale":
        return upscale_request(task.upscale)
    if kind == "outpaint":
        return outpaint_request(task.outpaint)
    raise InvalidInput("task", "is empty; set one of generate, depth2img, texture, upscale, preprocess, outpaint")


def generate_request(g: tasks_pb2.GenerateTask) -> d.GenerateRequest:
    return d.GenerateRequest(
        prompt=g.prompt,
        model_id=g.model_id,
        negative_prompt=g.negative_prompt,
        width=g.width,
        height=g.height,
        sampling=sampling(g.sampling),
        init_image=image_input(g.init_image) if g.HasField("init_image") else None,
        strength=_finite("strength", g.strength) if g.HasField("strength") else None,
        mask_image=image_input(g.mask_image) if g.HasField("mask_image") else None,
        control_units=tuple(control_unit(u, f"control_units[{i}]") for i, u in enumerate(g.control_units)),
        adapters=adapters(g.adapters),
    )


def depth2img_request(t: tasks_pb2.Depth2ImgTask) -> d.Depth2ImgRequest:
    return d.Depth2ImgRequest(
        prompt=t.prompt,
        model_id=t.model_id,
        negative_prompt=t.negative_prompt,
        width=t.width,
        height=t.height,
        sampling=sampling(t.sampling),
        init_image=image_input(t.init_image) if t.HasField("init_image") else None,
        strength=_finite("strength", t.strength) if t.HasField("strength") else None,
        depth_pass=depth_pass(t.depth_pass, "depth_pass") if t.HasField("depth_pass") else None,
        adapters=adapters(t.adapters),
    )


TILING = {
    tasks_pb2.TILING_AXES_UNSPECIFIED: d.TilingAxes.NONE,
    tasks_pb2.TILING_AXES_NONE: d.TilingAxes.NONE,
    tasks_pb2.TILING_AXES_X: d.TilingAxes.X,
    tasks_pb2.TILING_AXES_Y: d.TilingAxes.Y,
    tasks_pb2.TILING_AXES_BOTH: d.TilingAxes.BOTH,
}
NORMAL_CONVENTIONS = {
    tasks_pb2.NORMAL_CONVENTION_UNSPECIFIED: d.NormalConvention.OPENGL,
    tasks_pb2.NORMAL_CONVENTION_OPENGL: d.NormalConvention.OPENGL,
    tasks_pb2.NORMAL_CONVENTION_DIRECTX: d.NormalConvention.DIRECTX,
}
UPSCALE_METHODS = {
    tasks_pb2.UPSCALE_METHOD_UNSPECIFIED: d.UpscaleMethod.AUTO,
    tasks_pb2.UPSCALE_METHOD_LANCZOS: d.UpscaleMethod.LANCZOS,
    tasks_pb2.UPSCALE_METHOD_ESRGAN: d.UpscaleMethod.ESRGAN,
    tasks_pb2.UPSCALE_METHOD_SD_X4: d.UpscaleMethod.SD_X4,
    tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION: d.UpscaleMethod.TILED_DIFFUSION,
}
PROJECTIONS = {
    tasks_pb2.CAMERA_PROJECTION_UNSPECIFIED: "perspective",
    tasks_pb2.CAMERA_PROJECTION_PERSPECTIVE: "perspective",
    tasks_pb2.CAMERA_PROJECTION_ORTHOGRAPHIC: "orthographic",
}


def texture_request(t: tasks_pb2.TextureTask) -> d.TextureRequest:
    return d.TextureRequest(
        prompt=t.prompt,
        model_id=t.model_id,
        negative_prompt=t.negative_prompt,
        width=t.width,
        height=t.height,
        sampling=sampling(t.sampling),
        tiling=_enum("tiling", TILING, t.tiling),
        pbr_maps=t.pbr_maps,
        normal_convention=_enum("normal_convention", NORMAL_CONVENTIONS, t.normal_convention),
        projection=projection_view(t.projection, "projection") if t.HasField("projection") else None,
        control_units=tuple(control_unit(u, f"control_units[{i}]") for i, u in enumerate(t.control_units)),
        init_image=image_input(t.init_image) if t.HasField("init_image") else None,
        strength=_finite("strength", t.strength) if t.HasField("strength") else None,
        adapters=adapters(t.adapters),
    )


def projection_view(p: tasks_pb2.ProjectionView, field: str) -> d.ProjectionView:
    camera = None
    if p.HasField("camera"):
        c = p.camera
        if c.camera_to_world and len(c.camera_to_world) != 16:
            raise InvalidInput(f"{field}.camera.camera_to_world",
                               f"must have 16 numbers (a row-major 4x4 matrix), got {len(c.camera_to_world)}")
        camera = d.CameraSpec(
            camera_to_world=tuple(_finite(f"{field}.camera.camera_to_world", v) for v in c.camera_to_world),
            projection=_enum(f"{field}.camera.projection", PROJECTIONS, c.projection),
            fov_y_degrees=_finite(f"{field}.camera.fov_y_degrees", c.fov_y_degrees),
            ortho_height=_finite(f"{field}.camera.ortho_height", c.ortho_height),
            near=_finite(f"{field}.camera.near", c.near),
            far=_finite(f"{field}.camera.far", c.far),
            width=c.width,
            height=c.height,
            host=c.host,
        )
    return d.ProjectionView(
        depth_pass=depth_pass(p.depth_pass, f"{field}.depth_pass") if p.HasField("depth_pass") else None,
        view_image=image_input(p.view_image) if p.HasField("view_image") else None,
        camera=camera,
    )


def upscale_request(t: tasks_pb2.UpscaleTask) -> d.UpscaleRequest:
    if not t.HasField("image"):
        raise InvalidInput("image", "is required: the image to upscale")
    return d.UpscaleRequest(
        image=image_input(t.image),
        method=_enum("method", UPSCALE_METHODS, t.method),
        upscaler_id=t.upscaler_id,
        scale=_finite("scale", t.scale) if t.HasField("scale") else None,
        model_id=t.model_id,
        prompt=t.prompt,
        negative_prompt=t.negative_prompt,
        sampling=sampling(t.sampling),
        strength=_finite("strength", t.strength) if t.HasField("strength") else None,
        tile_size=t.tile_size,
        tile_overlap=t.tile_overlap,
        adapters=adapters(t.adapters),
    )


OUTPAINT_FILLS = {
    tasks_pb2.OUTPAINT_FILL_UNSPECIFIED: d.OutpaintFill.EDGE,
    tasks_pb2.OUTPAINT_FILL_EDGE: d.OutpaintFill.EDGE,
    tasks_pb2.OUTPAINT_FILL_INPAINT_TELEA: d.OutpaintFill.INPAINT_TELEA,
    tasks_pb2.OUTPAINT_FILL_INPAINT_NS: d.OutpaintFill.INPAINT_NS,
}
ANCHORS = {tasks_pb2.ANCHOR_UNSPECIFIED: None,
           **{getattr(tasks_pb2, f"ANCHOR_{a.name}"): a for a in d.Anchor}}


def outpaint_request(t: tasks_pb2.OutpaintTask) -> d.OutpaintRequest:
    if not t.HasField("image"):
        raise InvalidInput("image", "is required: the image to extend")
    extent = t.WhichOneof("extent")
    if extent is None:
        raise InvalidInput("margins", "set margins (pixels per side) or aspect (width:height)")
    m = t.margins
    return d.OutpaintRequest(
        image=image_input(t.image),
        prompt=t.prompt,
        model_id=t.model_id,
        negative_prompt=t.negative_prompt,
        sampling=sampling(t.sampling),
        margins=d.Margins(m.left, m.top, m.right, m.bottom) if extent == "margins" else None,
        aspect=(t.aspect.width, t.aspect.height) if extent == "aspect" else None,
        anchor=_enum("anchor", ANCHORS, t.anchor),
        feather=t.feather if t.HasField("feather") else None,
        fill=_enum("fill", OUTPAINT_FILLS, t.fill),
        strength=_finite("strength", t.strength) if t.HasField("strength") else None,
        adapters=adapters(t.adapters),
    )


def _enum(field: str, table: dict, value: int):
    if value not in table:
        raise InvalidInput(field, f"unknown value {value}")
    return table[value]


def preprocess_request(p: tasks_pb2.PreprocessTask) -> d.PreprocessRequest:
    if not p.HasField("unit"):
        raise InvalidInput("unit", "is required: the ControlNet unit whose map to compute")
    return d.PreprocessRequest(unit=control_unit(p.unit, "unit"), width=p.width, height=p.height)


def sampling(s: tasks_pb2.Sampling) -> d.Sampling:
    return d.Sampling(
        num_inference_steps=s.num_inference_steps if s.HasField("num_inference_steps") else None,
        guidance_scale=_finite("sampling.guidance_scale", s.guidance_scale) if s.HasField("guidance_scale") else None,
        scheduler=s.scheduler,
        seed=s.seed if s.HasField("seed") else None,
        num_images_per_prompt=s.num_images_per_prompt if s.HasField("num_images_per_prompt") else 1,
    )


def adapters(a: tasks_pb2.Adapters) -> d.AdapterSpec:
    return d.AdapterSpec(
        loras=tuple(
            d.LoraSpec(id=lora.id, weight=_finite(f"adapters.loras[{i}].weight", lora.weight)
                       if lora.HasField("weight") else 1.0)
            for i, lora in enumerate(a.loras)
        ),
        embeddings=tuple(a.embeddings),
        vae_id=a.vae_id,
    )


def image_input(image: media_pb2.Image) -> d.ImageInput:
    return d.ImageInput(data=image.data, mime_type=image.mime_type)


def control_unit(u: control_pb2.ControlUnit, field: str) -> d.ControlUnitSpec:
    if u.control_type not in CONTROL_TYPES:
        names = ", ".join(f"CONTROL_TYPE_{t.name}" for t in d.ControlType)
        raise InvalidInput(f"{field}.control_type", f"must be one of {names}")
    source_kind = u.WhichOneof("source")
    if source_kind == "image":
        source = image_input(u.image)
    elif source_kind == "preprocess":
        source = preprocess_input(u.preprocess, f"{field}.preprocess")
    elif source_kind == "depth_pass":
        source = depth_pass(u.depth_pass, f"{field}.depth_pass")
    elif source_kind == "pose_rig":
        source = pose_rig(u.pose_rig)
    else:
        raise InvalidInput(f"{field}.source", "set one of image, preprocess, depth_pass, pose_rig")
    return d.ControlUnitSpec(
        control_type=CONTROL_TYPES[u.control_type],
        source=source,
        conditioning_scale=_optional_float(u, "controlnet_conditioning_scale", 1.0, field),
        guidance_start=_optional_float(u, "control_guidance_start", 0.0, field),
        guidance_end=_optional_float(u, "control_guidance_end", 1.0, field),
        controlnet_id=u.controlnet_id,
    )


def preprocess_input(p: control_pb2.PreprocessSource, field: str) -> d.PreprocessInput:
    if p.preprocessor and p.preprocessor not in PREPROCESSORS:
        raise InvalidInput(f"{field}.preprocessor", "unknown preprocessor")
    return d.PreprocessInput(
        image=image_input(p.image),
        preprocessor=PREPROCESSORS.get(p.preprocessor),
        canny_low=p.canny.low_threshold if p.canny.HasField("low_threshold") else None,
        canny_high=p.canny.high_threshold if p.canny.HasField("high_threshold") else None,
    )


def depth_pass(p: media_pb2.DepthPass, field: str) -> d.DepthPassInput:
    if p.encoding not in DEPTH_ENCODINGS:
        raise InvalidInput(f"{field}.encoding",
                           "must be set: DEPTH_ENCODING_LINEAR, DEPTH_ENCODING_INVERSE or DEPTH_ENCODING_NORMALIZED")
    data_kind = p.WhichOneof("data")
    if data_kind is None:
        raise InvalidInput(f"{field}.data", "set float32_le (raw float plane) or png16")
    if p.normalization and p.normalization not in DEPTH_NORMALIZATIONS:
        names = ", ".join(f"DEPTH_NORMALIZATION_{n.name}" for n in d.DepthNormalization)
        raise InvalidInput(f"{field}.normalization",
                           f"unknown value {p.normalization}; send DEPTH_NORMALIZATION_UNSPECIFIED (the model family's "
                           f"default) or one of {names}")
    return d.DepthPassInput(
        width=p.width,
        height=p.height,
        encoding=DEPTH_ENCODINGS[p.encoding],
        near=p.near,
        far=p.far,
        float32_le=p.float32_le if data_kind == "float32_le" else None,
        png16=p.png16 if data_kind == "png16" else None,
        png16_scale=p.png16_scale or 1.0,
        normalization=DEPTH_NORMALIZATIONS.get(p.normalization),
    )


def pose_rig(rig: media_pb2.PoseRig) -> d.PoseRigInput:
    def points(keypoints):
        return tuple(d.Keypoint(k.x, k.y, k.visible) for k in keypoints)

    return d.PoseRigInput(
        canvas_width=rig.canvas_width,
        canvas_height=rig.canvas_height,
        people=tuple(
            d.PosePerson(points(p.body), points(p.left_hand), points(p.right_hand), points(p.face)) for p in rig.people
        ),
    )


def job_options(o: jobs_pb2.JobOptions) -> d.JobOptions:
    return d.JobOptions(
        preview_every_n_steps=o.preview_every_n_steps,
        preview_max_size=o.preview_max_size or 256,
        cancel_on_disconnect=o.cancel_on_disconnect,
        label=o.label,
        omit_image_data=o.omit_image_data,
    )


def task_json(task: tasks_pb2.Task) -> str:
    """The task as JSON for the index and provenance, with image bytes left out (their hashes are
    in the request metadata)."""
    stripped = tasks_pb2.Task()
    stripped.CopyFrom(task)
    _strip_bytes(stripped)
    return json_format.MessageToJson(stripped, preserving_proto_field_name=True, indent=None)


def _strip_bytes(message) -> None:
    for descriptor, value in message.ListFields():
        if descriptor.type == descriptor.TYPE_BYTES:
            message.ClearField(descriptor.name)
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            for item in value if descriptor.is_repeated else [value]:
                _strip_bytes(item)


def _optional_float(message, name: str, default: float, field: str) -> float:
    return _finite(f"{field}.{name}", getattr(message, name)) if message.HasField(name) else default


def _finite(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidInput(field, f"must be a finite number, got {value}")
    return value


# -- jobs and events -------------------------------------------------------------------------------


def job_to_proto(job: JobRecord, include_images: bool = True) -> jobs_pb2.Job:
    include_images = include_images and not job.options.omit_image_data
    message = jobs_pb2.Job(
        job_id=job.job_id,
        state=JOB_STATES[job.state],
        task_type=job.task_type,
        model_id=job.model_id,
        label=job.label,
        created_ms=job.created_ms,
        started_ms=job.started_ms,
        finished_ms=job.finished_ms,
        queue_position=job.position if job.state == d.JobState.QUEUED else 0,
        sequence=job.sequence,
        client=job.client,
    )
    if job.task_json:
        json_format.Parse(job.task_json, message.task, ignore_unknown_fields=True)
    if job.progress is not None:
        message.progress.CopyFrom(progress(job.progress))
    if job.result is not None:
        removed = bool(job.results_removed_ms)  # retention removed the files: metadata only
        message.result.CopyFrom(result(job.result, include_images and not removed))
        if removed:
            mark_results_removed(message, job)
    if job.failure is not None:
        message.failure.CopyFrom(failure(job.failure))
    if job.state == d.JobState.CANCELLED:
        message.cancelled.reason = job.cancel_reason
    return message


def event_to_proto(event: JobEvent, include_images: bool = True) -> jobs_pb2.JobEvent:
    message = jobs_pb2.JobEvent(job_id=event.job_id, sequence=event.sequence, time_ms=event.time_ms)
    if event.kind == "queued":
        message.queued.position = event.position
    elif event.kind == "started":
        message.started.SetInParent()
    elif event.kind == "progress":
        message.progress.CopyFrom(progress(event))
    elif event.kind == "result":
        message.result.CopyFrom(result(event.result, include_images))
    elif event.kind == "failed":
        message.failed.CopyFrom(failure(event.failure))
    elif event.kind == "cancelled":
        message.cancelled.reason = event.reason
    return message


def progress(event: JobEvent) -> jobs_pb2.Progress:
    message = jobs_pb2.Progress(stage=event.stage, step=event.step, total=event.total)
    if event.preview_jpeg:
        message.preview.data = event.preview_jpeg
        message.preview.mime_type = "image/jpeg"
    return message


def result(res: JobResult, include_images: bool) -> jobs_pb2.Result:
    message = jobs_pb2.Result(metadata_json=res.metadata_json, extra_json=res.extra_json)
    for f in res.images:
        image = media_pb2.Image(mime_type="image/png", width=f.width, height=f.height)
        if include_images:
            image.data = _read_result_file(f)
        message.images.add(image=image, role=f.role, seed=f.seed, index=f.index, parameters=f.parameters,
                           path=f.path)
    return message


def _read_result_file(f) -> bytes:
    try:
        return read_result(f.path)
    except OSError:
        raise ResultLost(f"result image {f.index} ({f.role})") from None


def failure(f: dict) -> jobs_pb2.Failure:
    """A job's failure as clients see it: its code, and a message without host paths."""
    code = getattr(jobs_pb2, f"ERROR_CODE_{f['code']}", jobs_pb2.ERROR_CODE_INTERNAL)
    return jobs_pb2.Failure(code=code, message=without_host_paths(f["message"]), field=f.get("field", ""))


def job_states(states) -> list[d.JobState]:
    out = []
    for state in states:
        if state not in JOB_STATES_FROM_PROTO:
            raise InvalidInput("states", f"unknown job state {state}")
        out.append(JOB_STATES_FROM_PROTO[state])
    return out
