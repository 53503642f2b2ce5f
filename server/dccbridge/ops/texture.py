"""texture: a material texture -- seamless along the chosen axes, optionally with PBR maps derived from it, or
made for one camera's view so a client can project it back onto the mesh through that camera.

Contract: TextureRequest -> OpOutput with, per batch image, an "albedo" and with pbr_maps its "height",
"normal", "roughness" and "ao" maps (same index and seed). With a projection view the result's extra holds
the camera it was made for (extra["projection"]); extra["texture"] always says how it tiles.
Stages: 1 check inputs (no loading) · 2 load the model and its ControlNets · 3 decode the init image and
prepare the control maps (the view's depth -> a depth unit, its image -> a canny unit, then the request's
units) · 4 the txt2img / img2img pipeline over the shared components · 5 denoise with the convolutions
wrapping around the tiled axes · 6 derive the PBR maps · 7 package with provenance.
"""

from __future__ import annotations

import math

from .. import families
from ..domain import (
    CameraSpec,
    ControlType,
    ControlUnitSpec,
    OpOutput,
    OutputImage,
    Preprocessor,
    PreprocessInput,
    ProjectionView,
    TextureRequest,
    to_plain,
)
from ..errors import InvalidInput
from ..imaging import decode_image
from ..models.tiling import seamless
from . import common, texture_maps
from .context import OpContext
from .env import OpEnv
from .limits import check_range
from .pbr import PBR_ROLES, pbr_maps

SUPPORTED_FAMILIES = families.TEXTURE_FAMILIES
FOV_RANGE_DEGREES = (1.0, 179.0)
ASPECT_TOLERANCE = 0.02  # sizes are multiples of 8, so a camera's exact aspect is not always reachable
CAMERA_FIELD = "projection.camera"


# 1. check inputs ------------------------------------------------------------------------------


def resolve_size(req: TextureRequest, entry) -> tuple[int, int]:
    """Explicit size, else the init image's, else the model's default pixel count at the projection camera's
    aspect ratio (multiples of 8), else the model default."""
    fallback = (entry.default_width, entry.default_height)
    camera = req.projection.camera if req.projection is not None else None
    if camera is not None and camera.width and camera.height:
        area, aspect = entry.default_width * entry.default_height, camera.width / camera.height
        fallback = (max(8, round(math.sqrt(area * aspect) / 8) * 8), max(8, round(math.sqrt(area / aspect) / 8) * 8))
    return common.resolve_size(req.width, req.height, req.init_image, fallback)


def check_inputs(req: TextureRequest, env: OpEnv) -> None:
    if req.albedo is not None:
        return texture_maps.check_inputs(req, env)
    limits = env.limits
    entry = env.catalog.get(req.model_id)
    common.require_family(entry, SUPPORTED_FAMILIES, "texture")
    width, height = resolve_size(req, entry)
    common.check_diffusion_fields(req, entry, width, height, limits)
    if req.init_image is not None:
        decode_image(req.init_image.data, "init_image", max_pixels=limits.max_input_pixels)
    view_units = ()
    if req.projection is not None:
        view_units = _check_projection(req.projection, entry, width, height, env)
    room = limits.max_control_units - len(view_units)
    if len(req.control_units) > room:
        raise InvalidInput("control_units", f"at most {room} units (the projection view uses {len(view_units)} of "
                                            f"{limits.max_control_units}), got {len(req.control_units)}")
    common.check_control_units(req.control_units, entry, width, height, env)
    common.check_adapters(req.adapters, entry, env)


def _check_projection(view: ProjectionView, entry, width: int, height: int,
                      env: OpEnv) -> tuple[ControlUnitSpec, ...]:
    if view.camera is None:
        raise InvalidInput(CAMERA_FIELD, "is required: the camera the view was captured from, so that the texture "
                                         "can be projected back through it")
    check_camera(view.camera, width, height)
    if view.depth_pass is None and view.view_image is None:
        raise InvalidInput("projection.depth_pass", "set the view's depth_pass (and optionally its view_image): a "
                                                    "projection texture is conditioned on what the camera sees")
    if view.view_image is not None:
        decode_image(view.view_image.data, "projection.view_image", max_pixels=env.limits.max_input_pixels)
    units = projection_units(view)
    for unit in units:
        common.check_unit(unit, "projection", entry, width, height, env)
    return units


def check_camera(camera: CameraSpec, width: int, height: int) -> None:
    if len(camera.camera_to_world) != 16:
        raise InvalidInput(f"{CAMERA_FIELD}.camera_to_world",
                           f"must have 16 numbers (a row-major 4x4 matrix), got {len(camera.camera_to_world)}")
    if camera.projection == "perspective":
        check_range(f"{CAMERA_FIELD}.fov_y_degrees", camera.fov_y_degrees, *FOV_RANGE_DEGREES)
    elif not camera.ortho_height > 0:
        raise InvalidInput(f"{CAMERA_FIELD}.ortho_height",
                           f"must be > 0 for an orthographic camera, got {camera.ortho_height:g}")
    if camera.near < 0:
        raise InvalidInput(f"{CAMERA_FIELD}.near", f"must be >= 0, got {camera.near:g}")
    if not camera.far > camera.near:
        raise InvalidInput(f"{CAMERA_FIELD}.far", f"must be greater than near ({camera.near:g}), got {camera.far:g}")
    if bool(camera.width) != bool(camera.height):
        raise InvalidInput(f"{CAMERA_FIELD}.{'height' if camera.width else 'width'}",
                           "set both width and height of the camera's image, or neither (0)")
    if camera.width:
        camera_aspect, aspect = camera.width / camera.height, width / height
        if abs(aspect / camera_aspect - 1.0) > ASPECT_TOLERANCE:
            raise InvalidInput("width", f"{width}x{height} (aspect {aspect:.3f}) must match the camera's "
                                        f"{camera.width}x{camera.height} (aspect {camera_aspect:.3f}) within "
                                        f"{ASPECT_TOLERANCE:.0%}, or the projection would stretch")


def projection_units(view: ProjectionView | None) -> tuple[ControlUnitSpec, ...]:
    """The ControlNet units a projection view implies: its depth pass, then canny edges of its image."""
    if view is None:
        return ()
    units = []
    if view.depth_pass is not None:
        units.append(ControlUnitSpec(ControlType.DEPTH, view.depth_pass))
    if view.view_image is not None:
        units.append(ControlUnitSpec(ControlType.CANNY, PreprocessInput(view.view_image, Preprocessor.CANNY)))
    return tuple(units)


# 2-7. run -------------------------------------------------------------------------------------


def run(req: TextureRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    if req.albedo is not None:  # a given albedo: its maps only, no model
        return texture_maps.run(req, env, ctx)
    # 2. load the model and its ControlNets (lazily, shared across jobs)
    model = common.load_model(env, req.model_id, ctx)
    entry = model.entry
    view_units = projection_units(req.projection)
    units = common.with_family_defaults(view_units + req.control_units, entry.family)
    controlnets = [model.controlnet(u.control_type, u.controlnet_id) for u in units]
    adapters = common.check_adapters(req.adapters, entry, env)

    # 3. decode the init image, prepare the control maps
    width, height = resolve_size(req, entry)
    init = common.load_init_image(req.init_image, width, height, env.limits) if req.init_image is not None else None
    control_maps = common.control_images(units, width, height, env, ctx)

    # 4. the pipeline over the shared components; a fresh scheduler per job
    plan = common.plan_sampling(req.sampling, entry)
    pipe, kwargs, strength = common.pipeline_call(
        model, plan, prompt=req.prompt, negative_prompt=req.negative_prompt, width=width, height=height, init=init,
        strength=req.strength, units=units, controlnets=controlnets, control_maps=control_maps,
    )

    # 5. denoise, the shared convolutions wrapping around the tiled axes for this job only. The adapters come
    # first: a VAE override must be on the view before the convolutions to wrap are collected.
    with env.manager.adapters.applied(pipe, entry.family, adapters), seamless(tiled_modules(pipe), req.tiling):
        albedos = common.denoise(pipe, ctx, common.expected_steps(plan.steps, strength), **kwargs)

    # 6. PBR maps
    maps = []
    for i, albedo in enumerate(albedos if req.pbr_maps else ()):
        ctx.report("pbr", i, len(albedos))
        maps.append(pbr_maps(albedo, req.tiling, req.normal_convention))

    # 7. package with provenance
    adapter_fields, adapter_record = common.adapter_provenance(adapters, env)
    outputs = []
    for i, seed in enumerate(plan.seeds):
        parameters = common.a1111_parameters(req.prompt, req.negative_prompt, model, plan, seed, width, height,
                                             strength=strength, units=units,
                                             extra=(f"Tiling: {req.tiling.value}", *adapter_fields))
        outputs.append(OutputImage(albedos[i], role="albedo", seed=seed, index=i, parameters=parameters))
        if maps:
            outputs.extend(OutputImage(maps[i][role], role=role, seed=seed, index=i) for role in PBR_ROLES)
    texture = {"tiling": req.tiling.value, "roles": ["albedo", *(PBR_ROLES if req.pbr_maps else ())]}
    if req.pbr_maps:
        texture["normal_convention"] = req.normal_convention.value
    extra = {"texture": texture}
    if req.projection is not None:
        extra["projection"] = {"camera": to_plain(req.projection.camera), "image_width": width,
                               "image_height": height}
    mode = "txt2img" if init is None else "img2img"
    unit_fields = (["projection.depth_pass"] * len(view_units)
                   + [f"control_units[{i}].depth_pass" for i in range(len(req.control_units))])
    metadata = common.provenance(model, plan, width, height, mode=mode, tiling=req.tiling.value,
                                 pbr_maps=req.pbr_maps, projection=req.projection is not None, **adapter_record,
                                 **common.depth_provenance(zip(unit_fields, units)))
    return OpOutput(outputs, metadata, extra)


def tiled_modules(pipe) -> list:
    """The modules whose convolutions must wrap for a seamless result: the denoiser, the decoder and the
    ControlNets (whose residuals are added into the UNet's features)."""
    controlnet = getattr(pipe, "controlnet", None)
    return [pipe.unet, pipe.vae, *([controlnet] if controlnet is not None else [])]
