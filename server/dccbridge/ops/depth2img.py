"""depth2img: an image re-imagined by a prompt while its depth is kept -- the host's true depth pass, or depth
estimated on the server when only the image is sent.

Two ways, by the model's family:
- sd2-depth: StableDiffusionDepth2ImgPipeline, whose UNet takes the depth as a fifth input channel. A depth pass
  is normalised exactly as for a ControlNet (control/depth.py: near = 1, background = 0) and handed over as a
  float plane; the pipeline rescales it to [-1, 1]. Without a pass the model's own estimator runs (the SD2-depth
  repository ships the DPT-Hybrid it was trained with), else the catalog's [estimators.depth].
- sd15 and sdxl, which have no depth2img model: "depth-preserving img2img" -- generate's ControlNet img2img with one
  depth unit, fed by the depth pass or by the depth_estimate preprocessor on the init image.

Contract: Depth2ImgRequest -> OpOutput with num_images_per_prompt images (role "image").
Stages: 1 check inputs (no loading) · 2 load the model · 3 decode the init image and get the depth (pass or
estimate) · 4 the depth2img pipeline over the shared components · 5 denoise · 6 package with provenance.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import StableDiffusionDepth2ImgPipeline

from .. import control, families
from ..domain import (
    ControlType,
    ControlUnitSpec,
    Depth2ImgRequest,
    DepthPassInput,
    GenerateRequest,
    OpOutput,
    OutputImage,
    Preprocessor,
    PreprocessInput,
)
from ..errors import InvalidInput, Unsupported
from ..models.estimators import estimate_depth
from . import common, generate
from .context import OpContext
from .env import OpEnv
from .limits import Limits

DEPTH2IMG_FAMILY = "sd2-depth"
CONTROLNET_DEPTH_FAMILIES = families.CONTROLNET_DEPTH2IMG_FAMILIES
FLAT_DEPTH_RANGE = 1e-6  # below this the pipeline's min..max rescaling would divide by ~zero


# 1. check inputs ------------------------------------------------------------------------------


def resolve_size(req: Depth2ImgRequest, entry) -> tuple[int, int]:
    """Explicit size, else the init image's size rounded down to a multiple of 8."""
    return common.resolve_size(req.width, req.height, req.init_image, (entry.default_width, entry.default_height))


def check_inputs(req: Depth2ImgRequest, env: OpEnv) -> None:
    limits = env.limits
    entry = env.catalog.get(req.model_id)
    if entry.family in CONTROLNET_DEPTH_FAMILIES:
        if ControlType.DEPTH not in entry.controlnets:
            raise Unsupported(f"model '{entry.id}' ({entry.family}) has no depth ControlNet, which depth2img needs "
                              "for this family; use an sd2-depth model or add controlnets.depth to the catalog")
    elif entry.family != DEPTH2IMG_FAMILY:
        raise Unsupported(f"model '{entry.id}' is family '{entry.family}'; depth2img supports {DEPTH2IMG_FAMILY} "
                          f"and, through a depth ControlNet, {', '.join(CONTROLNET_DEPTH_FAMILIES)}")
    if req.init_image is None:
        raise InvalidInput("init_image", "is required: depth2img transforms an image (for a picture from depth "
                                         "alone, use generate with a depth ControlNet unit)")
    width, height = resolve_size(req, entry)
    common.check_diffusion_fields(req, entry, width, height, limits)
    if req.depth_pass is not None:
        depth_pass = common.resolved_depth_pass(req.depth_pass, entry.family)
        depth_pass_level(depth_pass, width, height, limits)  # bytes, NaN, near/far and a usable depth range
    elif entry.family != DEPTH2IMG_FAMILY and Preprocessor.DEPTH_ESTIMATE not in env.estimators.available:
        raise Unsupported("depth_pass was not sent and this server has no depth estimator to estimate it from "
                          "init_image; send the host's depth pass, or configure [estimators.depth]")
    common.check_adapters(req.adapters, entry, env)


def depth_pass_level(depth_pass: DepthPassInput, width: int, height: int, limits: Limits) -> np.ndarray:
    level = control.depth_pass_level(depth_pass, width, height, "depth_pass", limits.max_input_pixels)
    _require_depth_range(level, "depth_pass", "is flat or all background after normalisation; depth2img needs "
                                              "near and far parts")
    return level


def _require_depth_range(level: np.ndarray, field: str, reason: str) -> None:
    if float(level.max() - level.min()) <= FLAT_DEPTH_RANGE:
        raise InvalidInput(field, reason)


# 2-6. run -------------------------------------------------------------------------------------


def run(req: Depth2ImgRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    if env.catalog.get(req.model_id).family != DEPTH2IMG_FAMILY:
        return _controlnet_depth_img2img(req, env, ctx)

    # 2. load the model (its pipeline is the depth2img pipeline)
    model = common.load_model(env, req.model_id, ctx)
    entry = model.entry
    adapters = common.check_adapters(req.adapters, entry, env)

    # 3. the init image and its depth
    width, height = resolve_size(req, entry)
    init = common.load_init_image(req.init_image, width, height, env.limits)
    ctx.report("preprocess", 0, 1)
    depth_record = {}
    if req.depth_pass is not None:
        depth_pass = common.resolved_depth_pass(req.depth_pass, entry.family)
        depth, depth_source = depth_pass_level(depth_pass, width, height, env.limits), "depth_pass"
        depth_record = {"depth_normalization": {"depth_pass": depth_pass.normalization.value}}
    else:
        depth, depth_source = _estimated_depth(model, env, np.array(init)), "estimated"

    # 4. the pipeline over the shared components; a fresh scheduler per job
    plan = common.plan_sampling(req.sampling, entry)
    pipe = common.pipeline_view(StableDiffusionDepth2ImgPipeline, model, plan)
    strength = common.DEFAULT_STRENGTH if req.strength is None else req.strength

    # 5. denoise, with the job's adapters on the view
    with env.manager.adapters.applied(pipe, entry.family, adapters):
        pixels = common.denoise(
            pipe, ctx, common.expected_steps(plan.steps, strength),
            prompt=req.prompt, negative_prompt=req.negative_prompt or None, image=init,
            depth_map=torch.from_numpy(depth)[None], strength=strength, **plan.pipeline_kwargs(),
        )

    # 6. package with provenance
    adapter_fields, adapter_record = common.adapter_provenance(adapters, env)
    outputs = [
        OutputImage(
            pixels[i], role="image", seed=seed, index=i,
            parameters=common.a1111_parameters(req.prompt, req.negative_prompt, model, plan, seed, width, height,
                                               strength=strength,
                                               extra=(f"Depth: {depth_source}", *depth_fields(depth_record),
                                                      *adapter_fields)),
        )
        for i, seed in enumerate(plan.seeds)
    ]
    metadata = common.provenance(model, plan, width, height, mode="depth2img", method="sd2_depth",
                                 depth_source=depth_source, **adapter_record, **depth_record)
    return OpOutput(outputs, metadata)


def depth_fields(depth_record: dict) -> tuple[str, ...]:
    """The A1111 "Depth normalization: ..." field for a depth pass; nothing for an estimate."""
    return tuple(f"Depth normalization: {v}" for v in depth_record.get("depth_normalization", {}).values())


def _estimated_depth(model, env: OpEnv, rgb: np.ndarray) -> np.ndarray:
    pipeline = model.pipeline
    if pipeline.depth_estimator is not None:  # the estimator the model was trained with
        depth = estimate_depth(pipeline.depth_estimator, pipeline.feature_extractor, rgb)
    else:
        depth = env.estimators.estimate_depth(rgb)
    _require_depth_range(depth, "init_image", "the depth estimated from it is flat; send the host's depth_pass")
    return depth


def _controlnet_depth_img2img(req: Depth2ImgRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    """Depth-preserving img2img: generate's ControlNet img2img with one depth unit."""
    if req.depth_pass is not None:
        source, depth_source = req.depth_pass, "depth_pass"
    else:
        source, depth_source = PreprocessInput(req.init_image, Preprocessor.DEPTH_ESTIMATE), "estimated"
    generate_request = GenerateRequest(
        prompt=req.prompt, model_id=req.model_id, negative_prompt=req.negative_prompt, width=req.width,
        height=req.height, sampling=req.sampling, init_image=req.init_image, strength=req.strength,
        control_units=(ControlUnitSpec(ControlType.DEPTH, source),), adapters=req.adapters,
    )
    output = generate.run(generate_request, env, ctx)
    output.metadata.update(mode="depth2img", method="controlnet_depth", depth_source=depth_source)
    if "depth_normalization" in output.metadata:  # the one unit is the request's depth_pass
        output.metadata["depth_normalization"] = {"depth_pass": output.metadata["depth_normalization"].popitem()[1]}
    return output
