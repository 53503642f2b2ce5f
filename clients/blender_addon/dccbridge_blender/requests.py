"""Building v1 requests from plain data (dicts the capture step produced). No bpy.

Everything the scene gives is already plain: floats, bytes, lists. This module only knows the wire.
"""

from __future__ import annotations

from .proto import control_pb2, jobs_pb2, media_pb2, tasks_pb2

CONTROL_TYPES = {"depth": control_pb2.CONTROL_TYPE_DEPTH, "openpose": control_pb2.CONTROL_TYPE_OPENPOSE,
                 "canny": control_pb2.CONTROL_TYPE_CANNY}
TILING = {"NONE": tasks_pb2.TILING_AXES_NONE, "X": tasks_pb2.TILING_AXES_X, "Y": tasks_pb2.TILING_AXES_Y,
          "BOTH": tasks_pb2.TILING_AXES_BOTH}
UPSCALE_METHODS = {"AUTO": tasks_pb2.UPSCALE_METHOD_UNSPECIFIED, "LANCZOS": tasks_pb2.UPSCALE_METHOD_LANCZOS,
                   "ESRGAN": tasks_pb2.UPSCALE_METHOD_ESRGAN, "SD_X4": tasks_pb2.UPSCALE_METHOD_SD_X4,
                   "TILED_DIFFUSION": tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION}
OUTPAINT_FILLS = {"EDGE": tasks_pb2.OUTPAINT_FILL_EDGE, "INPAINT_TELEA": tasks_pb2.OUTPAINT_FILL_INPAINT_TELEA,
                  "INPAINT_NS": tasks_pb2.OUTPAINT_FILL_INPAINT_NS}


def sampling(params: dict) -> tasks_pb2.Sampling:
    s = tasks_pb2.Sampling(scheduler=params.get("scheduler", ""))
    if params.get("steps"):
        s.num_inference_steps = int(params["steps"])
    if params.get("guidance") is not None:
        s.guidance_scale = float(params["guidance"])
    s.seed = int(params["seed"]) if params.get("seed") is not None else -1
    return s


def adapters(chosen: dict | None) -> tasks_pb2.Adapters | None:
    """chosen: {"loras": [{"id", "weight"}], "embeddings": [ids], "vae_id": id} (adapters.choose); None if empty."""
    if not chosen or not (chosen.get("loras") or chosen.get("embeddings") or chosen.get("vae_id")):
        return None
    return tasks_pb2.Adapters(loras=[tasks_pb2.LoraRef(id=lora["id"], weight=float(lora["weight"]))
                                     for lora in chosen.get("loras", ())],
                              embeddings=list(chosen.get("embeddings", ())), vae_id=chosen.get("vae_id", ""))


def _set_adapters(task, params: dict):
    """The job's adapters on a task message, when the artist chose any."""
    chosen = adapters(params.get("adapters"))
    if chosen is not None:
        task.adapters.CopyFrom(chosen)
    return task


def image(data: bytes, mime: str = "image/png") -> media_pb2.Image:
    return media_pb2.Image(data=data, mime_type=mime)


# The depth unit's "Normalisation" choice; AUTO = the model family's default on the server (min-max today)
DEPTH_NORMALIZATIONS = {"AUTO": media_pb2.DEPTH_NORMALIZATION_UNSPECIFIED,
                        "MIN_MAX": media_pb2.DEPTH_NORMALIZATION_MIN_MAX,
                        "PERCENTILE": media_pb2.DEPTH_NORMALIZATION_PERCENTILE,
                        "NEAR_FAR": media_pb2.DEPTH_NORMALIZATION_NEAR_FAR}


def depth_pass(depth: dict) -> media_pb2.DepthPass:
    """depth: {"data": float32_le bytes, "width", "height", "near", "far"} (linear distance from the camera),
    optionally "normalization" (a DEPTH_NORMALIZATIONS key; AUTO when absent)."""
    return media_pb2.DepthPass(float32_le=depth["data"], width=depth["width"], height=depth["height"],
                               encoding=media_pb2.DEPTH_ENCODING_LINEAR, near=depth["near"], far=depth["far"],
                               normalization=DEPTH_NORMALIZATIONS[depth.get("normalization") or "AUTO"])


def pose_rig(pose: dict) -> media_pb2.PoseRig:
    """pose: {"width", "height", "people": [[(x, y, visible) * 18], ...]}."""
    rig = media_pb2.PoseRig(canvas_width=pose["width"], canvas_height=pose["height"])
    for person in pose["people"]:
        rig.people.add(body=[media_pb2.Keypoint(x=x, y=y, visible=bool(v)) for x, y, v in person])
    return rig


def control_unit(unit: dict) -> control_pb2.ControlUnit:
    """unit: {"type": "depth"|"openpose"|"canny", "weight", "start", "end", and "depth" | "pose" | "image"
    (+ "low", "high" for canny)}."""
    msg = control_pb2.ControlUnit(control_type=CONTROL_TYPES[unit["type"]],
                                  controlnet_conditioning_scale=float(unit.get("weight", 1.0)),
                                  control_guidance_start=float(unit.get("start", 0.0)),
                                  control_guidance_end=float(unit.get("end", 1.0)))
    if unit["type"] == "depth":
        msg.depth_pass.CopyFrom(depth_pass(unit["depth"]))
    elif unit["type"] == "openpose":
        msg.pose_rig.CopyFrom(pose_rig(unit["pose"]))
    else:
        msg.preprocess.image.CopyFrom(image(unit["image"]))
        msg.preprocess.preprocessor = control_pb2.PREPROCESSOR_CANNY
        if unit.get("low") is not None:
            msg.preprocess.canny.low_threshold = int(unit["low"])
        if unit.get("high") is not None:
            msg.preprocess.canny.high_threshold = int(unit["high"])
    return msg


def generate_task(params: dict, units: list) -> tasks_pb2.Task:
    task = tasks_pb2.GenerateTask(model_id=params.get("model", ""), prompt=params.get("prompt", ""),
                                  negative_prompt=params.get("negative_prompt", ""), width=params["width"],
                                  height=params["height"], sampling=sampling(params),
                                  control_units=[control_unit(u) for u in units])
    return tasks_pb2.Task(generate=_set_adapters(task, params))


def with_inpaint(task: tasks_pb2.Task, init_png: bytes, mask_png: bytes, strength=None) -> tasks_pb2.Task:
    """A generate task made an inpaint: start from init_png, repaint where mask_png is white."""
    task.generate.init_image.CopyFrom(image(init_png))
    task.generate.mask_image.CopyFrom(image(mask_png))
    if strength is not None:
        task.generate.strength = float(strength)
    return task


def depth2img_task(params: dict, init_png: bytes, depth: dict | None) -> tasks_pb2.Task:
    task = tasks_pb2.Depth2ImgTask(model_id=params.get("model", ""), prompt=params.get("prompt", ""),
                                   negative_prompt=params.get("negative_prompt", ""), width=params["width"],
                                   height=params["height"], sampling=sampling(params), init_image=image(init_png))
    if params.get("strength") is not None:
        task.strength = float(params["strength"])
    if depth is not None:
        task.depth_pass.CopyFrom(depth_pass(depth))
    return tasks_pb2.Task(depth2img=_set_adapters(task, params))


def texture_task(params: dict, tiling: str = "BOTH", pbr: bool = True, units=()) -> tasks_pb2.Task:
    task = tasks_pb2.TextureTask(model_id=params.get("model", ""), prompt=params.get("prompt", ""),
                                 negative_prompt=params.get("negative_prompt", ""), width=params["width"],
                                 height=params["height"], sampling=sampling(params), tiling=TILING[tiling],
                                 pbr_maps=pbr, normal_convention=tasks_pb2.NORMAL_CONVENTION_OPENGL,
                                 control_units=[control_unit(u) for u in units])
    return tasks_pb2.Task(texture=_set_adapters(task, params))


def projection_task(params: dict, depth: dict, view_png: bytes | None, camera: dict) -> tasks_pb2.Task:
    """camera: {"camera_to_world": 16 floats row-major, "perspective": bool, "fov_y_degrees", "ortho_height",
    "near", "far", "width", "height"}."""
    cam = tasks_pb2.Camera(camera_to_world=camera["camera_to_world"],
                           projection=(tasks_pb2.CAMERA_PROJECTION_PERSPECTIVE if camera["perspective"]
                                       else tasks_pb2.CAMERA_PROJECTION_ORTHOGRAPHIC),
                           fov_y_degrees=camera.get("fov_y_degrees", 0.0), ortho_height=camera.get("ortho_height", 0.0),
                           near=camera["near"], far=camera["far"], width=camera["width"], height=camera["height"],
                           host="blender")
    view = tasks_pb2.ProjectionView(depth_pass=depth_pass(depth), camera=cam)
    if view_png:
        view.view_image.CopyFrom(image(view_png))
    task = texture_task(params, tiling="NONE", pbr=False)
    task.texture.projection.CopyFrom(view)
    return task


def upscale_task(png: bytes, scale: float, method: str = "AUTO", params: dict | None = None) -> tasks_pb2.Task:
    params = params or {}
    task = tasks_pb2.UpscaleTask(image=image(png), method=UPSCALE_METHODS[method], scale=float(scale),
                                 model_id=params.get("model", ""), prompt=params.get("prompt", ""))
    if method == "TILED_DIFFUSION":  # the other methods run no SD model to apply them to
        _set_adapters(task, params)
    return tasks_pb2.Task(upscale=task)


def outpaint_task(png: bytes, margins, fill: str = "EDGE", feather: int | None = None,
                  params: dict | None = None) -> tasks_pb2.Task:
    """Extend an image by margins (left, top, right, bottom pixels); the server reports the placement."""
    params = params or {}
    left, top, right, bottom = (int(m) for m in margins)
    task = tasks_pb2.OutpaintTask(image=image(png), margins=tasks_pb2.Margins(left=left, top=top, right=right,
                                                                              bottom=bottom),
                                  fill=OUTPAINT_FILLS[fill], model_id=params.get("model", ""),
                                  prompt=params.get("prompt", ""), negative_prompt=params.get("negative_prompt", ""),
                                  sampling=sampling(params))
    if feather is not None:
        task.feather = int(feather)
    return tasks_pb2.Task(outpaint=_set_adapters(task, params))


def preprocess_task(unit: dict, width: int, height: int) -> tasks_pb2.Task:
    return tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=control_unit(unit), width=width, height=height))


def job_options(label: str = "", preview_every: int = 1, preview_size: int = 256) -> jobs_pb2.JobOptions:
    return jobs_pb2.JobOptions(preview_every_n_steps=preview_every, preview_max_size=preview_size, label=label)


# -- live mode (live.proto): a session's fixed settings, then frames that carry only what changed -----------------

from .proto import live_pb2  # noqa: E402  (here, with the live builders: the rest of the module predates them)


def live_config(params: dict, slots: list, width: int, height: int, *, strength: float | None = None,
                jpeg: bool = True, label: str = "", idle_timeout_ms: int = 0) -> live_pb2.LiveConfig:
    """params: as for generate_task, except that steps 0/None leave the sampling to the server (the model's
    few-step path when it has one); slots: [{"type", "weight", "start", "end"}] in slot order; idle_timeout_ms 0 =
    the server's default."""
    config = live_pb2.LiveConfig(model_id=params.get("model", ""), prompt=params.get("prompt", ""),
                                 negative_prompt=params.get("negative_prompt", ""), width=width, height=height,
                                 sampling=sampling(params), jpeg_results=jpeg, label=label,
                                 idle_timeout_ms=idle_timeout_ms,
                                 controls=[live_pb2.LiveControlSlot(
                                     control_type=CONTROL_TYPES[slot["type"]],
                                     controlnet_conditioning_scale=float(slot.get("weight", 1.0)),
                                     control_guidance_start=float(slot.get("start", 0.0)),
                                     control_guidance_end=float(slot.get("end", 1.0))) for slot in slots])
    if strength is not None:
        config.strength = float(strength)
    chosen = adapters(params.get("adapters"))
    if chosen is not None:
        config.adapters.CopyFrom(chosen)
    return config


def live_frame(number: int, inputs: dict, slots: list) -> live_pb2.LiveFrame:
    """inputs: what changed since the last frame — "depth" (a depth dict), "openpose" (a pose dict), "canny"
    (colour PNG bytes), "image" (the init image's PNG bytes); slots: the session's slot dicts ("low"/"high" for
    canny), whose order gives each input its slot index."""
    frame = live_pb2.LiveFrame(frame=number)
    if "image" in inputs:
        frame.image.CopyFrom(image(inputs["image"]))
    for index, slot in enumerate(slots):
        if slot["type"] not in inputs:
            continue
        # The same sources a job's ControlUnit carries (LiveControlInput's oneof mirrors it): built once, there.
        unit = control_unit({**slot, "depth": inputs.get("depth"), "pose": inputs.get("openpose"),
                             "image": inputs.get("canny")})
        source = unit.WhichOneof("source")
        getattr(frame.controls.add(slot=index), source).CopyFrom(getattr(unit, source))
    return frame
