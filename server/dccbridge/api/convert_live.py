"""Wire <-> domain for live mode (live.proto <-> domain_live.py): the live counterpart of convert.py."""

from __future__ import annotations

from .. import domain as d
from ..domain_live import LiveConfig, LiveFrame, LivePriority, LiveSettings, LiveSlot
from ..errors import InvalidInput
from ..jobs.live_session import LiveEventRecord
from ..v1 import live_pb2, media_pb2, tasks_pb2
from . import convert

PRIORITIES = {
    live_pb2.LIVE_PRIORITY_UNSPECIFIED: None,
    live_pb2.LIVE_PRIORITY_LATENCY: LivePriority.LATENCY,
    live_pb2.LIVE_PRIORITY_THROUGHPUT: LivePriority.THROUGHPUT,
}
PRIORITY_TO_PROTO = {v: k for k, v in PRIORITIES.items() if v is not None}


def _prefixed(prefix: str, convert_fn, *args):
    try:
        return convert_fn(*args)
    except InvalidInput as error:
        raise InvalidInput(f"{prefix}.{error.field}", error.reason) from None


def config(c: live_pb2.LiveConfig) -> LiveConfig:
    if c.priority not in PRIORITIES:
        raise InvalidInput("config.priority", "must be LIVE_PRIORITY_LATENCY or LIVE_PRIORITY_THROUGHPUT")
    return LiveConfig(
        model_id=c.model_id,
        prompt=c.prompt,
        negative_prompt=c.negative_prompt,
        width=c.width,
        height=c.height,
        sampling=_prefixed("config", convert.sampling, c.sampling),
        strength=_optional(c, "strength", "config"),
        controls=tuple(slot(s, f"config.controls[{i}]") for i, s in enumerate(c.controls)),
        adapters=_prefixed("config", convert.adapters, c.adapters),
        similarity_threshold=_optional(c, "similarity_threshold", "config"),
        feedback=_optional(c, "feedback", "config"),
        priority=PRIORITIES[c.priority],
        jpeg_results=c.jpeg_results,
        idle_timeout_ms=c.idle_timeout_ms,
        label=c.label,
    )


def slot(s: live_pb2.LiveControlSlot, field: str) -> LiveSlot:
    if s.control_type not in convert.CONTROL_TYPES:
        names = ", ".join(f"CONTROL_TYPE_{t.name}" for t in d.ControlType)
        raise InvalidInput(f"{field}.control_type", f"must be one of {names}")
    return LiveSlot(
        control_type=convert.CONTROL_TYPES[s.control_type],
        conditioning_scale=_optional(s, "controlnet_conditioning_scale", field, 1.0),
        guidance_start=_optional(s, "control_guidance_start", field, 0.0),
        guidance_end=_optional(s, "control_guidance_end", field, 1.0),
        controlnet_id=s.controlnet_id,
    )


def frame(f: live_pb2.LiveFrame) -> LiveFrame:
    if f.frame == 0:
        raise InvalidInput("frame.frame", "must be greater than 0 (the client's increasing frame number)")
    controls = []
    for i, c in enumerate(f.controls):
        field = f"frame.controls[{i}]"
        kind = c.WhichOneof("source")
        if kind == "image":
            source = convert.image_input(c.image)
        elif kind == "preprocess":
            source = convert.preprocess_input(c.preprocess, f"{field}.preprocess")
        elif kind == "depth_pass":
            source = convert.depth_pass(c.depth_pass, f"{field}.depth_pass")
        elif kind == "pose_rig":
            source = convert.pose_rig(c.pose_rig)
        else:
            raise InvalidInput(f"{field}.source", "set one of image, preprocess, depth_pass, pose_rig")
        controls.append((c.slot, source))
    return LiveFrame(
        frame=f.frame,
        image=convert.image_input(f.image) if f.HasField("image") and f.image.data else None,
        controls=tuple(controls),
        prompt=f.prompt if f.HasField("prompt") else None,
        seed=f.seed if f.HasField("seed") else None,
    )


def settings_to_proto(s: LiveSettings) -> live_pb2.LiveConfig:
    """The resolved settings, as LiveOpened.config."""
    message = live_pb2.LiveConfig(
        model_id=s.model_id, prompt=s.prompt, negative_prompt=s.negative_prompt, width=s.width, height=s.height,
        sampling=tasks_pb2.Sampling(num_inference_steps=s.steps, guidance_scale=s.guidance, scheduler=s.scheduler,
                                    seed=s.seed, num_images_per_prompt=1),
        strength=s.strength, similarity_threshold=s.similarity_threshold, feedback=s.feedback,
        priority=PRIORITY_TO_PROTO[s.priority], jpeg_results=s.jpeg_results, idle_timeout_ms=s.idle_timeout_ms,
        label=s.label,
    )
    for c in s.controls:
        message.controls.add(control_type=convert.CONTROL_TYPE_TO_PROTO[c.control_type],
                             controlnet_conditioning_scale=c.conditioning_scale,
                             control_guidance_start=c.guidance_start, control_guidance_end=c.guidance_end,
                             controlnet_id=c.controlnet_id)
    for lora in s.adapters.loras:
        message.adapters.loras.add(id=lora.id, weight=lora.weight)
    message.adapters.embeddings.extend(s.adapters.embeddings)
    message.adapters.vae_id = s.adapters.vae_id
    return message


def closed(data: dict) -> live_pb2.LiveClosed:
    return live_pb2.LiveClosed(**data)


def event(e: LiveEventRecord) -> live_pb2.LiveEvent:
    message = live_pb2.LiveEvent(session_id=e.session_id, sequence=e.sequence, time_ms=e.time_ms)
    data = e.data
    if e.kind == "opened":
        message.opened.CopyFrom(live_pb2.LiveOpened(session_id=e.session_id,
                                                    config=settings_to_proto(data["settings"])))
    elif e.kind == "result":
        message.result.CopyFrom(live_pb2.LiveResult(
            frame=data["frame"], image=media_pb2.Image(data=data["image"], mime_type=data["mime_type"]),
            reused=data["reused"], reused_from_frame=data["reused_from_frame"], similarity=data["similarity"],
            seed=data["seed"], timings=live_pb2.LiveTimings(**data["timings"])))
    elif e.kind == "superseded":
        message.superseded.CopyFrom(live_pb2.LiveSuperseded(frame=data["frame"], by_frame=data["by_frame"]))
    elif e.kind == "frame_failed":
        message.frame_failed.CopyFrom(live_pb2.LiveFrameFailed(frame=data["frame"],
                                                               failure=convert.failure(data["failure"])))
    elif e.kind == "closed":
        message.closed.CopyFrom(closed(data))
    return message


def _optional(message, name: str, field: str, default=None):
    if not message.HasField(name):
        return default
    return convert._finite(f"{field}.{name}", getattr(message, name))
