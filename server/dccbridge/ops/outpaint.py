"""outpaint: extend an image beyond its borders by margins per side, or to an aspect ratio placed by an anchor.

Contract: OutpaintRequest -> OpOutput with num_images_per_prompt images (role "image") of the extended size (a
multiple of 8; margins are padded up on an extended side) and extra {offset_x, offset_y, margins, width, height,
original_width, original_height}: where the original sits in the result, exactly.
Stages: 1 check inputs (header only, no loading) · 2 load the family's inpainting model when the catalog names one
for the model, else the model itself · 3 fill the new area (edge-extend or OpenCV inpainting: a start that
continues the image) · 4 feathered mask · 5 inpaint pipeline over the filled canvas · 6 composite the original back
outside the feather band (its pixels kept exactly) · 7 package with provenance.
"""

from __future__ import annotations

from PIL import Image

from .. import families, imaging
from ..domain import Anchor, OpOutput, OutpaintRequest, OutputImage
from ..errors import InvalidInput
from . import canvas, common
from .context import OpContext
from .env import OpEnv
from .limits import check_range

SUPPORTED_FAMILIES = families.GENERATE_FAMILIES
MAX_FEATHER = 256
DEFAULT_FEATHER = 32
MAX_ASPECT_TERM = 100
# Without an inpainting model the base model's UNet never sees the context as input: starting from part of the
# fill (rather than pure noise) keeps the new area's colours connected to the image.
DEFAULT_STRENGTH_INPAINT_MODEL = 1.0
DEFAULT_STRENGTH_BASE_MODEL = 0.85
MARGIN_SIDES = ("left", "top", "right", "bottom")


# 1. check inputs ------------------------------------------------------------------------------


def plan_layout(req: OutpaintRequest, width: int, height: int, multiple: int) -> canvas.Layout:
    """Where the original (width x height) goes on the result; InvalidInput naming margins/aspect/anchor."""
    if req.margins is not None:
        if req.anchor is not None:
            raise InvalidInput("anchor", "applies only with aspect; margins already place the image")
        for side in MARGIN_SIDES:
            value = getattr(req.margins, side)
            if value < 0:
                raise InvalidInput(f"margins.{side}", f"must be 0 or more pixels, got {value}")
        if not any(getattr(req.margins, side) for side in MARGIN_SIDES):
            raise InvalidInput("margins", "all four are 0; set at least one side to a number of pixels to add")
        margins = req.margins
    elif req.aspect is not None:
        for name, value in zip(("aspect.width", "aspect.height"), req.aspect):
            if not 1 <= value <= MAX_ASPECT_TERM:
                raise InvalidInput(name, f"must be between 1 and {MAX_ASPECT_TERM}, got {value}")
        margins = canvas.margins_for_aspect(width, height, req.aspect, req.anchor or Anchor.CENTER)
        if not any(getattr(margins, side) for side in MARGIN_SIDES):
            raise InvalidInput("aspect", f"the {width}x{height} image already is {req.aspect[0]}:{req.aspect[1]}; "
                                         "nothing to extend")
    else:
        raise InvalidInput("margins", "set margins (pixels per side) or aspect (width:height)")
    return canvas.layout(width, height, margins, multiple)


def resolve_feather(req: OutpaintRequest, width: int, height: int) -> int:
    most = min(MAX_FEATHER, min(width, height) // 2)
    if req.feather is None:
        return min(DEFAULT_FEATHER, most)
    if not 0 <= req.feather <= most:
        raise InvalidInput("feather", f"must be between 0 and {most} pixels (at most {MAX_FEATHER} and half the "
                                      f"image's shorter side, {min(width, height)}), got {req.feather}")
    return req.feather


def check_inputs(req: OutpaintRequest, env: OpEnv) -> None:
    limits = env.limits
    entry = env.catalog.get(req.model_id)
    common.require_family(entry, SUPPORTED_FAMILIES, "outpaint", inpainting_ok=True)
    common.check_prompt(req.prompt, limits)
    common.check_sampling(req.sampling, limits)
    width, height = imaging.image_size(req.image.data, "image")
    imaging.check_pixel_budget(width, height, "image", limits.max_input_pixels)
    lay = plan_layout(req, width, height, limits.size_multiple)
    field = "margins" if req.margins is not None else "aspect"
    if lay.canvas_width > limits.max_width or lay.canvas_height > limits.max_height \
            or lay.canvas_width * lay.canvas_height > limits.max_pixels:
        raise InvalidInput(field, f"the result would be {lay.canvas_width}x{lay.canvas_height}; it must be at most "
                                  f"{limits.max_width}x{limits.max_height} and {limits.max_pixels} pixels")
    resolve_feather(req, width, height)
    if req.strength is not None:
        check_range("strength", req.strength, 0.0, 1.0, low_open=True)
    model_entry = inpaint_entry(entry, env)
    common.check_gets_a_step(req.sampling, resolve_strength(req, model_entry), model_entry, what="outpaint")
    common.check_adapters(req.adapters, entry, env)


def inpaint_entry(entry, env: OpEnv):
    """The model that runs: the catalog's inpainting model for `entry` when it names one, else `entry`."""
    return env.catalog.get(entry.inpaint_model) if entry.inpaint_model else entry


def resolve_strength(req: OutpaintRequest, model_entry) -> float:
    if req.strength is not None:
        return req.strength
    return DEFAULT_STRENGTH_INPAINT_MODEL if model_entry.inpainting else DEFAULT_STRENGTH_BASE_MODEL


# 2-7. run -------------------------------------------------------------------------------------


def run(req: OutpaintRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    # 2. the family's inpainting model when the catalog names one, else the requested model's inpaint view
    requested = env.catalog.get(req.model_id)
    model = common.load_model(env, inpaint_entry(requested, env).id, ctx)
    adapters = common.check_adapters(req.adapters, model.entry, env)

    # 3. place the image and fill the new area
    image = imaging.decode_image(req.image.data, "image", max_pixels=env.limits.max_input_pixels)
    height, width = image.shape[:2]
    lay = plan_layout(req, width, height, env.limits.size_multiple)
    filled = canvas.fill(image, lay, req.fill)
    ctx.report("fill", 1, 1)

    # 4. the feathered mask; the pipeline repaints wherever it is above 0 so the blend has generated pixels
    feather = resolve_feather(req, width, height)
    mask = canvas.feather_mask(lay, feather)
    pipeline_mask = Image.fromarray(((mask > 0) * 255).astype("uint8"))

    # 5. inpaint over the filled canvas
    out_w, out_h = lay.canvas_width, lay.canvas_height
    plan = common.plan_sampling(req.sampling, model.entry)
    pipe, kwargs, strength = common.pipeline_call(
        model, plan, prompt=req.prompt, negative_prompt=req.negative_prompt, width=out_w, height=out_h,
        init=Image.fromarray(filled), strength=resolve_strength(req, model.entry), mask=pipeline_mask,
    )
    with env.manager.adapters.applied(pipe, model.entry.family, adapters):
        generated = common.denoise(pipe, ctx, common.expected_steps(plan.steps, strength), **kwargs)

    # 6. the original back outside the feather band, exactly
    results = [canvas.composite(filled, generated[i], mask) for i in range(len(generated))]

    # 7. package with provenance
    placement = lay.as_dict()
    record = dict(placement, fill=req.fill.value, feather=feather, requested_model_id=requested.id,
                  inpainting_model=model.entry.inpainting)
    adapter_fields, adapter_record = common.adapter_provenance(adapters, env)
    extra_fields = (f"Outpaint: {lay.left},{lay.top},{lay.right},{lay.bottom}", f"Fill: {req.fill.value}",
                    f"Mask blur: {feather}", *adapter_fields)
    outputs = [
        OutputImage(
            results[i], role="image", seed=seed, index=i,
            parameters=common.a1111_parameters(req.prompt, req.negative_prompt, model, plan, seed, out_w, out_h,
                                               strength=strength, extra=extra_fields),
        )
        for i, seed in enumerate(plan.seeds)
    ]
    metadata = common.provenance(model, plan, out_w, out_h, mode="outpaint", strength=strength,
                                 outpaint=record, **adapter_record)
    return OpOutput(outputs, metadata, extra=placement)
