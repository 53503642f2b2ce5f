"""generate: txt2img, img2img (init image + strength) and inpaint (+ mask), each with 0..N
ControlNet units (canny, depth, openpose, ...).

Contract: GenerateRequest -> OpOutput with num_images_per_prompt images (role "image").
Stages: 1 check inputs (no loading) · 2 load the model and its ControlNets · 3 decode
inputs and prepare control maps · 4 build the pipeline for the mode over the shared
components · 5 denoise with progress, previews and cancel · 6 package with provenance.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch
from diffusers import (
    StableDiffusionControlNetImg2ImgPipeline,
    StableDiffusionControlNetInpaintPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
)
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from PIL import Image

from .. import control, imaging
from ..domain import ControlUnitSpec, GenerateRequest, OpOutput, OutputImage
from ..errors import Cancelled, InvalidInput, OutOfMemory, Unsupported
from ..models.schedulers import SCHEDULERS, make_scheduler
from .context import OpContext
from .env import OpEnv
from .limits import check_range

SUPPORTED_FAMILIES = ("sd15",)
DEFAULT_STRENGTH = 0.75
MAX_GUIDANCE = 30.0
MAX_SEED = 2**63 - 1

PIPELINE_BY_MODE = {
    # mode: (without ControlNet, with ControlNet)
    "txt2img": (StableDiffusionPipeline, StableDiffusionControlNetPipeline),
    "img2img": (StableDiffusionImg2ImgPipeline, StableDiffusionControlNetImg2ImgPipeline),
    "inpaint": (StableDiffusionInpaintPipeline, StableDiffusionControlNetInpaintPipeline),
}

# Linear map from SD1.5 latents to RGB: a cheap preview without running the VAE decoder.
SD15_LATENT_RGB = torch.tensor(
    [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
)


# 1. check inputs ------------------------------------------------------------------------------


def resolve_size(req: GenerateRequest, entry) -> tuple[int, int]:
    """Explicit size, else the init image's size rounded down to a multiple of 8, else the model default."""
    if bool(req.width) != bool(req.height):
        raise InvalidInput("width" if not req.width else "height", "set both width and height, or neither (0)")
    if req.width:
        return req.width, req.height
    if req.init_image is not None:
        h, w = imaging.decode_image(req.init_image.data, "init_image").shape[:2]
        return max(8, w // 8 * 8), max(8, h // 8 * 8)
    return entry.default_width, entry.default_height


def check_inputs(req: GenerateRequest, env: OpEnv) -> None:
    limits = env.limits
    entry = env.catalog.get(req.model_id)
    if entry.family not in SUPPORTED_FAMILIES:
        raise Unsupported(f"model '{entry.id}' is family '{entry.family}'; generate supports {SUPPORTED_FAMILIES}")
    if len(req.prompt) > limits.max_prompt_chars:
        raise InvalidInput("prompt", f"must be at most {limits.max_prompt_chars} characters, got {len(req.prompt)}")
    width, height = resolve_size(req, entry)
    limits.check_size(width, height)

    s = req.sampling
    if s.num_inference_steps is not None and not 1 <= s.num_inference_steps <= limits.max_steps:
        raise InvalidInput("sampling.num_inference_steps",
                           f"must be between 1 and {limits.max_steps}, got {s.num_inference_steps}")
    if s.guidance_scale is not None:
        check_range("sampling.guidance_scale", s.guidance_scale, 0.0, MAX_GUIDANCE)
    if s.scheduler and s.scheduler not in SCHEDULERS:
        raise InvalidInput("sampling.scheduler",
                           f"unknown scheduler '{s.scheduler}'; choose one of: {', '.join(SCHEDULERS)}")
    if s.seed is not None and not -1 <= s.seed <= MAX_SEED:
        raise InvalidInput("sampling.seed", f"must be -1 (random) or between 0 and {MAX_SEED}, got {s.seed}")
    if not 1 <= s.num_images_per_prompt <= limits.max_batch:
        raise InvalidInput("sampling.num_images_per_prompt",
                           f"must be between 1 and {limits.max_batch}, got {s.num_images_per_prompt}")

    if req.strength is not None:
        if req.init_image is None:
            raise InvalidInput("strength", "applies only with init_image (img2img / inpaint)")
        check_range("strength", req.strength, 0.0, 1.0, low_open=True)
    if req.mask_image is not None:
        if req.init_image is None:
            raise InvalidInput("mask_image", "inpainting needs init_image as well")
        init_h, init_w = imaging.decode_image(req.init_image.data, "init_image").shape[:2]
        mask_h, mask_w = imaging.decode_image(req.mask_image.data, "mask_image", mode="L").shape[:2]
        if (mask_w, mask_h) != (init_w, init_h):
            raise InvalidInput("mask_image",
                               f"must be the same size as init_image ({init_w}x{init_h}), got {mask_w}x{mask_h}")
    elif req.init_image is not None:
        imaging.decode_image(req.init_image.data, "init_image")

    if len(req.control_units) > limits.max_control_units:
        raise InvalidInput("control_units",
                           f"at most {limits.max_control_units} units, got {len(req.control_units)}")
    for i, unit in enumerate(req.control_units):
        check_unit(unit, f"control_units[{i}]", entry, width, height, env)


def check_unit(unit: ControlUnitSpec, field: str, entry, width: int, height: int, env: OpEnv) -> None:
    if unit.control_type not in entry.controlnets and not unit.controlnet_id:
        have = ", ".join(t.value for t in entry.controlnets) or "none"
        raise Unsupported(f"{field}: model '{entry.id}' has no ControlNet for '{unit.control_type.value}' "
                          f"(it has: {have})")
    check_range(f"{field}.controlnet_conditioning_scale", unit.conditioning_scale, 0.0, 2.0)
    check_range(f"{field}.control_guidance_start", unit.guidance_start, 0.0, 1.0)
    check_range(f"{field}.control_guidance_end", unit.guidance_end, 0.0, 1.0)
    if unit.guidance_start >= unit.guidance_end:
        raise InvalidInput(f"{field}.control_guidance_end",
                           f"must be greater than control_guidance_start ({unit.guidance_start:g}), "
                           f"got {unit.guidance_end:g}")
    if not control.needs_estimator(unit):
        control.prepare_control_map(unit, width, height, field)  # depth NaN, keypoints off-canvas, bad bytes


# 2-6. run -------------------------------------------------------------------------------------


def run(req: GenerateRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    # 2. load the model and its ControlNets (lazily, shared across jobs)
    if not env.manager.is_loaded(req.model_id or env.catalog.default_id):
        ctx.report("load", 0, 1)
    model = env.manager.load(req.model_id)
    entry = model.entry
    controlnets = [model.controlnet(u.control_type, u.controlnet_id) for u in req.control_units]

    # 3. decode inputs and prepare control maps
    width, height = resolve_size(req, entry)
    init = mask = None
    if req.init_image is not None:
        init = Image.fromarray(imaging.resize(imaging.decode_image(req.init_image.data, "init_image"), width, height))
    if req.mask_image is not None:
        mask_pixels = imaging.decode_image(req.mask_image.data, "mask_image", mode="L")
        mask = Image.fromarray(imaging.resize(mask_pixels, width, height))
    control_maps = []
    for i, unit in enumerate(req.control_units):
        ctx.report("preprocess", i, len(req.control_units))
        control_maps.append(
            Image.fromarray(control.prepare_control_map(unit, width, height, f"control_units[{i}]", env.estimators))
        )

    # 4. the pipeline for this mode, over the shared components; a fresh scheduler per job
    s = req.sampling
    steps = s.num_inference_steps or entry.default_steps
    guidance = entry.default_guidance_scale if s.guidance_scale is None else s.guidance_scale
    scheduler_id = s.scheduler or entry.default_scheduler
    plain_cls, control_cls = PIPELINE_BY_MODE[req.mode]
    if controlnets:
        controlnet = controlnets[0] if len(controlnets) == 1 else MultiControlNetModel(controlnets)
        pipe = control_cls.from_pipe(model.pipeline, controlnet=controlnet, dtype=model.pipeline.dtype)
    else:
        pipe = plain_cls.from_pipe(model.pipeline, dtype=model.pipeline.dtype)
    pipe.scheduler = make_scheduler(scheduler_id, model.pipeline.scheduler.config)
    pipe.set_progress_bar_config(disable=True)

    seed = s.seed if s.seed is not None and s.seed >= 0 else secrets.randbelow(2**32)
    count = s.num_images_per_prompt
    # CPU generators make a seed give the same image on every device.
    generators = [torch.Generator("cpu").manual_seed(seed + i) for i in range(count)]

    kwargs = dict(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt or None,
        num_inference_steps=steps,
        guidance_scale=guidance,
        num_images_per_prompt=count,
        generator=generators,
        output_type="np",
        callback_on_step_end=_step_callback(ctx),
    )
    strength = DEFAULT_STRENGTH if req.strength is None else req.strength
    if req.mode == "txt2img":
        kwargs.update(width=width, height=height)
    elif req.mode == "img2img":
        kwargs.update(image=init, strength=strength)
    else:
        kwargs.update(image=init, mask_image=mask, strength=strength, width=width, height=height)
    if controlnets:
        single = len(controlnets) == 1
        units = req.control_units
        kwargs.update(
            controlnet_conditioning_scale=units[0].conditioning_scale if single else [u.conditioning_scale for u in units],
            control_guidance_start=[u.guidance_start for u in units],
            control_guidance_end=[u.guidance_end for u in units],
        )
        maps = control_maps[0] if single else control_maps
        kwargs["image" if req.mode == "txt2img" else "control_image"] = maps

    # 5. denoise
    ctx.report("denoise", 0, _expected_steps(req, steps, strength))
    try:
        with torch.inference_mode():
            images = pipe(**kwargs).images
    except torch.cuda.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        raise OutOfMemory(str(error).splitlines()[0]) from None
    if ctx.cancelled:
        raise Cancelled()

    # 6. package with provenance
    pixels = (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    metadata = {
        "model_id": entry.id,
        "model_family": entry.family,
        "model_hash": model.weights_hash,
        "mode": req.mode,
        "seed": seed,
        "seeds": [seed + i for i in range(count)],
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "scheduler": scheduler_id,
        "width": width,
        "height": height,
    }
    outputs = [
        OutputImage(
            pixels[i], role="image", seed=seed + i, index=i,
            parameters=a1111_parameters(req, entry.id, model.weights_hash, seed + i, steps, guidance,
                                        scheduler_id, width, height, strength),
        )
        for i in range(count)
    ]
    return OpOutput(outputs, metadata)


def _expected_steps(req: GenerateRequest, steps: int, strength: float) -> int:
    return steps if req.mode == "txt2img" else max(1, int(steps * strength))


def _step_callback(ctx: OpContext):
    """diffusers' callback_on_step_end: progress, previews, and cancel within one step."""

    def on_step_end(pipe, step, timestep, callback_kwargs):
        if ctx.cancelled:
            # Raising (rather than setting pipe._interrupt) skips the remaining steps *and* the VAE decode.
            raise Cancelled()
        done = step + 1
        preview = None
        if ctx.preview_every and done % ctx.preview_every == 0:
            preview = latents_to_preview(callback_kwargs["latents"])
        ctx.report("denoise", done, pipe.num_timesteps, preview)
        return callback_kwargs

    return on_step_end


def latents_to_preview(latents: torch.Tensor) -> np.ndarray:
    """First image of the batch, RGB uint8 at latent resolution x 2 (cheap linear approximation)."""
    latent = latents[-1].float().cpu()  # with CFG the batch is [uncond, cond]; any image will do
    rgb = torch.einsum("chw,cr->hwr", latent[:4], SD15_LATENT_RGB)
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    h, w = rgb.shape[:2]
    return imaging.resize(rgb, w * 2, h * 2)


def a1111_parameters(req: GenerateRequest, model_id: str, model_hash: str, seed: int, steps: int,
                     guidance: float, scheduler_id: str, width: int, height: int, strength: float) -> str:
    """The 'parameters' text A1111-compatible tools read from a PNG."""
    lines = [req.prompt]
    if req.negative_prompt:
        lines.append(f"Negative prompt: {req.negative_prompt}")
    fields = [
        f"Steps: {steps}",
        f"Sampler: {SCHEDULERS[scheduler_id].label if scheduler_id in SCHEDULERS else scheduler_id}",
        f"CFG scale: {guidance:g}",
        f"Seed: {seed}",
        f"Size: {width}x{height}",
        f"Model hash: {model_hash}",
        f"Model: {model_id}",
    ]
    if req.mode != "txt2img":
        fields.append(f"Denoising strength: {strength:g}")
    for i, unit in enumerate(req.control_units):
        source = type(unit.source).__name__.replace("Input", "")
        fields.append(
            f'ControlNet {i}: "Module: {source}, Model: {unit.controlnet_id or unit.control_type.value}, '
            f"Weight: {unit.conditioning_scale:g}, Guidance Start: {unit.guidance_start:g}, "
            f'Guidance End: {unit.guidance_end:g}"'
        )
    lines.append(", ".join(fields))
    return "\n".join(lines)
