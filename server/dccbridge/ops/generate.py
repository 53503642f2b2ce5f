"""generate: txt2img, img2img (init image + strength) and inpaint (+ mask), each with 0..N
ControlNet units (canny, depth, openpose, ...) and reference units (IP-Adapter image prompts, ops/reference.py).

Contract: GenerateRequest -> OpOutput with num_images_per_prompt images (role "image").
Stages: 1 check inputs (no loading) · 2 load the model and its ControlNets · 3 decode
inputs and prepare control maps · 4 build the pipeline for the mode over the shared
components · 5 denoise with progress, previews and cancel · 6 package with provenance.
"""

from __future__ import annotations

from PIL import Image

from .. import families, imaging
from ..domain import GenerateRequest, OpOutput, OutputImage
from ..errors import InvalidInput
from . import batching, common, reference
from .context import OpContext
from .env import OpEnv

SUPPORTED_FAMILIES = families.GENERATE_FAMILIES


# 1. check inputs ------------------------------------------------------------------------------


def resolve_size(req: GenerateRequest, entry) -> tuple[int, int]:
    """Explicit size, else the init image's size rounded down to a multiple of 8, else the model default."""
    return common.resolve_size(req.width, req.height, req.init_image, (entry.default_width, entry.default_height))


def check_inputs(req: GenerateRequest, env: OpEnv) -> None:
    limits = env.limits
    entry = env.catalog.get(req.model_id)
    common.require_family(entry, SUPPORTED_FAMILIES, "generate", inpainting_ok=req.mask_image is not None)
    width, height = resolve_size(req, entry)
    common.check_diffusion_fields(req, entry, width, height, limits)
    budget = limits.max_input_pixels
    if req.mask_image is not None:
        if req.init_image is None:
            raise InvalidInput("mask_image", "inpainting needs init_image as well")
        init_h, init_w = imaging.decode_image(req.init_image.data, "init_image", max_pixels=budget).shape[:2]
        mask_h, mask_w = imaging.decode_image(req.mask_image.data, "mask_image", mode="L",
                                              max_pixels=budget).shape[:2]
        if (mask_w, mask_h) != (init_w, init_h):
            raise InvalidInput("mask_image",
                               f"must be the same size as init_image ({init_w}x{init_h}), got {mask_w}x{mask_h}")
    elif req.init_image is not None:
        imaging.decode_image(req.init_image.data, "init_image", max_pixels=budget)
    common.check_control_units(req.control_units, entry, width, height, env, reference_ok=True)
    reference.check_one_encoder(req.control_units, entry)
    common.check_adapters(req.adapters, entry, env)


def batch_key(req: GenerateRequest, env: OpEnv) -> tuple | None:
    """Requests with equal keys may run as one batch (ops/batching.py): same model, size, scheduler, steps,
    guidance mode (with or without classifier-free guidance) and ControlNets. Prompts, seeds, strengths, CFG
    values, control maps and scales may differ. None: this request runs alone (per-job LoRAs, embeddings or VAE
    change the shared modules for one job; so do reference units' IP-Adapters, and an fp16 SDXL VAE that must be
    upcast)."""
    entry = env.catalog.get(req.model_id)
    if req.adapters or reference.has_references(req.control_units) or not batching.vae_stays_shared(env, entry):
        return None
    plan = common.plan_sampling(req.sampling, entry)
    units = tuple((u.control_type.value, u.controlnet_id) for u in req.control_units)
    return ("generate", entry.id, resolve_size(req, entry), plan.scheduler_id, plan.steps, plan.guidance > 1.0, units)


def batch_capacity(req: GenerateRequest, env: OpEnv) -> int:
    """How many images of this request's kind fit in one batch on the device."""
    entry = env.catalog.get(req.model_id)
    width, height = resolve_size(req, entry)
    guidance = common.plan_sampling(req.sampling, entry).guidance > 1.0
    return batching.capacity_images(env, entry.id, width, height, guidance)


# 2-6. run -------------------------------------------------------------------------------------


def run(req: GenerateRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    # 2. load the model and its ControlNets (lazily, shared across jobs)
    model = common.load_model(env, req.model_id, ctx)
    entry = model.entry
    all_units = common.with_family_defaults(req.control_units, entry.family)
    units, references = reference.split_units(all_units)  # ControlNet units; (index, unit) of IP-Adapter ones
    controlnets = [model.controlnet(u.control_type, u.controlnet_id) for u in units]
    adapters = common.check_adapters(req.adapters, entry, env)  # again: the folders may have changed since

    # 3. decode inputs and prepare control maps
    width, height = resolve_size(req, entry)
    init = mask = None
    if req.init_image is not None:
        init = common.load_init_image(req.init_image, width, height, env.limits)
    if req.mask_image is not None:
        mask_pixels = imaging.decode_image(req.mask_image.data, "mask_image", mode="L",
                                           max_pixels=env.limits.max_input_pixels)
        mask = Image.fromarray(imaging.resize(mask_pixels, width, height))
    control_maps = common.control_images(units, width, height, env, ctx)

    # 4. the pipeline for this mode, over the shared components; a fresh scheduler per job
    plan = common.plan_sampling(req.sampling, entry)
    pipe, kwargs, strength = common.pipeline_call(
        model, plan, prompt=req.prompt, negative_prompt=req.negative_prompt, width=width, height=height, init=init,
        strength=req.strength, mask=mask, units=units, controlnets=controlnets, control_maps=control_maps,
    )
    pipe = batching.gathered(pipe, ctx)  # in a batch: UNet, ControlNets, VAE, text encoders run with its other jobs

    # 5. denoise, with the job's LoRAs, embeddings, VAE and reference units' IP-Adapters on the view for this job
    # only (the model lock that `adapters.applied` holds covers the IP-Adapters too)
    total_steps = common.expected_steps(plan.steps, strength)
    with env.manager.adapters.applied(pipe, entry.family, adapters), \
            reference.applied(pipe, references, entry, env, kwargs, plan.guidance > 1.0, total_steps) as on_step:
        pixels = common.denoise(pipe, ctx, total_steps, on_step=on_step, **kwargs)

    # 6. package with provenance
    adapter_fields, adapter_record = common.adapter_provenance(adapters, env)
    reference_fields, reference_record = reference.provenance(references, entry, env)
    adapter_fields += reference_fields
    outputs = [
        OutputImage(
            pixels[i], role="image", seed=seed, index=i,
            parameters=common.a1111_parameters(req.prompt, req.negative_prompt, model, plan, seed, width, height,
                                               strength=strength, units=units, extra=adapter_fields),
        )
        for i, seed in enumerate(plan.seeds)
    ]
    depth_record = common.depth_provenance((f"control_units[{i}].depth_pass", u) for i, u in enumerate(all_units))
    return OpOutput(outputs, common.provenance(model, plan, width, height, mode=req.mode, **adapter_record,
                                               **depth_record, **reference_record))
