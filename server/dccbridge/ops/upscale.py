"""upscale: make an image larger with Lanczos, an ESRGAN-family model, the SD x4 upscaler, or a tiled
diffusion upscale ("SD upscale": pre-upscale to the target size, then img2img tile by tile at low strength).

Contract: UpscaleRequest -> one image (role "image") of exactly round(width * scale) x round(height * scale)
pixels (halves round up). An input alpha channel is resized on its own and kept.
Stages: 1 check inputs and plan (no loading) · 2 decode the image · 3 load the upscaler / model · 4 upscale
tile by tile, with progress per tile and cancel between tiles and within diffusion steps · 5 resize to the
exact output size · 6 package with provenance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from diffusers import StableDiffusionUpscalePipeline
from PIL import Image

from .. import families, imaging
from ..domain import ControlType, OpOutput, OutputImage, UpscaleMethod, UpscaleRequest
from ..errors import InvalidInput, Unsupported
from ..models.adapter_catalog import ResolvedAdapters
from ..models.catalog import Catalog, ModelEntry, UpscalerEntry
from ..models.schedulers import make_scheduler
from . import common
from .context import OpContext, raise_if_cancelled
from .env import OpEnv
from .limits import Limits, check_range
from .prompt_embeds import with_cached_embeddings
from .tiles import Tile, TileCanvas, pad_to_multiple, plan_tiles

DEFAULT_SCALE = 2.0
MIN_SCALE, MAX_SCALE = 1.0, 8.0
# Tile sizes are in pixels of the tiled stage's output. 384 + 2 x 64 = 512-pixel windows: the size SD 1.5 and
# the SD x4 upscaler (128 -> 512) were trained at.
DEFAULT_TILE_SIZE = 384
DEFAULT_TILE_OVERLAP = 64
MIN_TILE_SIZE = 64
DEFAULT_TILED_STRENGTH = 0.3
SD_X4_SCALE = 4
SD_X4_DEFAULT_NOISE_LEVEL = 20
SD_SIZE_MULTIPLE = 8  # SD inputs are padded to this (VAE / UNet downsampling) and the padding cropped off
TILE_CONTROLNET_SCALE = 1.0
STAGE = "tiles"
KIND_BY_METHOD = {UpscaleMethod.ESRGAN: "esrgan", UpscaleMethod.SD_X4: "sd_x4",
                  UpscaleMethod.TILED_DIFFUSION: "esrgan"}  # tiled diffusion: the optional pre-upscaler
DIFFUSION_METHODS = (UpscaleMethod.SD_X4, UpscaleMethod.TILED_DIFFUSION)


@dataclass(frozen=True)
class SdX4Defaults:
    """Sampling defaults for the SD x4 upscaler (its catalog table has none); diffusers' guidance for it."""

    default_steps: int = 20
    default_guidance_scale: float = 9.0
    default_scheduler: str = "unipc"


SD_X4_DEFAULTS = SdX4Defaults()


# 1. check inputs and plan ---------------------------------------------------------------------


@dataclass(frozen=True)
class UpscalePlan:
    """What a request resolves to: a pure function of the request, the catalog, the limits and the image size."""

    method: UpscaleMethod
    upscaler: UpscalerEntry | None  # the esrgan / sd_x4 model; for tiled diffusion the pre-upscaler (None: Lanczos)
    model: ModelEntry | None        # tiled diffusion's SD model
    scale: float
    output_size: tuple[int, int]
    tile_size: int
    tile_overlap: int


def check_inputs(req: UpscaleRequest, env: OpEnv) -> None:
    # The header's size plans the job (an output too large is refused) before the image is decoded at all.
    width, height = imaging.image_size(req.image.data, "image")
    imaging.check_pixel_budget(width, height, "image", env.limits.max_upscale_input_pixels)
    plan = plan_upscale(req, env.catalog, env.limits, width, height)
    check_adapters(req, plan, env)
    imaging.decode_image(req.image.data, "image", max_pixels=env.limits.max_upscale_input_pixels)


def check_adapters(req: UpscaleRequest, plan: UpscalePlan, env: OpEnv) -> ResolvedAdapters | None:
    """The job's adapters, which only the tiled diffusion upscale (an SD model) takes."""
    if req.adapters and plan.model is None:
        raise InvalidInput("adapters", f"LoRAs, embeddings and VAEs apply to the tiled_diffusion method only; this "
                                       f"job runs '{plan.method.value}'")
    return common.check_adapters(req.adapters, plan.model, env) if plan.model is not None else None


def plan_upscale(req: UpscaleRequest, catalog: Catalog, limits: Limits, width: int, height: int) -> UpscalePlan:
    scale = DEFAULT_SCALE if req.scale is None else req.scale
    check_range("scale", scale, MIN_SCALE, MAX_SCALE)
    output_size = (_round_half_up(width * scale), _round_half_up(height * scale))
    _check_output_size(output_size, width, height, limits)

    tile_size = req.tile_size or DEFAULT_TILE_SIZE
    max_tile = max(limits.max_width, limits.max_height)
    if not MIN_TILE_SIZE <= tile_size <= max_tile:
        raise InvalidInput("tile_size", f"must be 0 (default {DEFAULT_TILE_SIZE}) or between {MIN_TILE_SIZE} and "
                                        f"{max_tile}, got {tile_size}")
    tile_overlap = req.tile_overlap or min(DEFAULT_TILE_OVERLAP, tile_size // 4)
    if not 1 <= tile_overlap <= tile_size:
        raise InvalidInput("tile_overlap", f"must be 0 (default) or between 1 and tile_size ({tile_size}), "
                                           f"got {tile_overlap}")

    method, upscaler = resolve_method(req, catalog)
    model = None
    if method == UpscaleMethod.TILED_DIFFUSION:
        model = catalog.get(req.model_id)
        if model.family not in families.TILED_UPSCALE_FAMILIES:
            raise Unsupported(f"model '{model.id}' is family '{model.family}'; the tiled diffusion upscale runs on "
                              f"{', '.join(families.TILED_UPSCALE_FAMILIES)} models")
        common.require_family(model, families.TILED_UPSCALE_FAMILIES, "the tiled diffusion upscale")
    if method in DIFFUSION_METHODS:
        _check_diffusion_fields(req, method, limits)
    if model is not None:
        common.check_gets_a_step(req.sampling, req.strength, model, DEFAULT_TILED_STRENGTH, what="each tile")
    return UpscalePlan(method, upscaler, model, scale, output_size, tile_size, tile_overlap)


def _round_half_up(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def _check_output_size(size: tuple[int, int], width: int, height: int, limits: Limits) -> None:
    out_w, out_h = size
    if out_w <= limits.max_width and out_h <= limits.max_height and out_w * out_h <= limits.max_pixels:
        return
    largest = min(limits.max_width / width, limits.max_height / height, math.sqrt(limits.max_pixels / (width * height)))
    raise InvalidInput("scale", f"the output would be {out_w}x{out_h}; outputs are limited to {limits.max_width}x"
                                f"{limits.max_height} and {limits.max_pixels} pixels, so this {width}x{height} image "
                                f"can be scaled by at most {math.floor(largest * 100) / 100:g}")


def resolve_method(req: UpscaleRequest, catalog: Catalog) -> tuple[UpscaleMethod, UpscalerEntry | None]:
    """AUTO: the named upscaler's method, else ESRGAN when one is configured, else Lanczos."""
    named = catalog.upscaler(req.upscaler_id) if req.upscaler_id else None  # unknown id: ModelNotFound listing ids
    method = req.method
    if method == UpscaleMethod.AUTO:
        if named is not None:
            method = UpscaleMethod.ESRGAN if named.kind == "esrgan" else UpscaleMethod.SD_X4
        else:
            method = UpscaleMethod.ESRGAN if _of_kind(catalog, "esrgan") else UpscaleMethod.LANCZOS
    if method == UpscaleMethod.LANCZOS:
        if named is not None:
            raise InvalidInput("upscaler_id", "the lanczos method uses no model; leave upscaler_id empty or choose "
                                              "the esrgan or sd_x4 method")
        return method, None
    kind = KIND_BY_METHOD[method]
    candidates = _of_kind(catalog, kind)
    if named is not None:
        if named.kind != kind:
            raise InvalidInput("upscaler_id", f"'{named.id}' is an {named.kind} upscaler; method '{method.value}' "
                                              f"takes one of kind {kind}: {', '.join(candidates) or 'none configured'}")
        return method, named
    if not candidates and method != UpscaleMethod.TILED_DIFFUSION:
        raise Unsupported(f"method '{method.value}' needs an upscaler of kind '{kind}' and this server has none "
                          f"({_describe_upscalers(catalog)}); add an [upscalers.ID] table with kind = \"{kind}\" "
                          "to the catalog")
    return method, catalog.upscaler(candidates[0]) if candidates else None


def _of_kind(catalog: Catalog, kind: str) -> list[str]:
    return [entry.id for entry in catalog.upscalers() if entry.kind == kind]


def _describe_upscalers(catalog: Catalog) -> str:
    configured = ", ".join(f"{entry.id} ({entry.kind})" for entry in catalog.upscalers()) or "no upscaler models"
    return f"it has: {configured}, and the lanczos method"


def _check_diffusion_fields(req: UpscaleRequest, method: UpscaleMethod, limits: Limits) -> None:
    common.check_prompt(req.prompt, limits)
    common.check_sampling(req.sampling, limits)
    if req.sampling.num_images_per_prompt != 1:
        raise InvalidInput("sampling.num_images_per_prompt",
                           f"an upscale returns one image; must be 1, got {req.sampling.num_images_per_prompt}")
    if req.strength is not None:
        # Tiled diffusion: img2img denoising strength. SD x4: the share of the maximum noise level.
        check_range("strength", req.strength, 0.0, 1.0, low_open=method == UpscaleMethod.TILED_DIFFUSION)


# 2-6. run -------------------------------------------------------------------------------------


@dataclass
class Upscaled:
    """What a method produced: pixels (before the exact resize), its provenance fields, its A1111 text."""

    pixels: np.ndarray
    details: dict = field(default_factory=dict)
    parameters: str = ""  # "" = A1111's Extras-tab fields, for the methods without diffusion


def run(req: UpscaleRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    # 2. decode (alpha is kept aside and resized at the end) and plan
    rgba = imaging.decode_image(req.image.data, "image", mode="RGBA", max_pixels=env.limits.max_upscale_input_pixels)
    rgb, alpha = np.ascontiguousarray(rgba[:, :, :3]), rgba[:, :, 3]
    height, width = rgb.shape[:2]
    plan = plan_upscale(req, env.catalog, env.limits, width, height)
    out_w, out_h = plan.output_size
    adapters = check_adapters(req, plan, env)  # again: the folders may have changed since the job was queued

    # 3. load what the method needs (lazily, cached across jobs)
    upscaler = model = None
    if plan.upscaler is not None:
        if not env.manager.is_upscaler_loaded(plan.upscaler.id):
            ctx.report("load", 0, 1)
        upscaler = env.manager.upscaler(plan.upscaler.id)
    if plan.model is not None:
        model = common.load_model(env, plan.model.id, ctx)

    # 4. upscale tile by tile (all the tiles of a job count towards one progress total)
    with common.out_of_memory_as_error(), torch.inference_mode():
        if plan.method == UpscaleMethod.LANCZOS:
            ctx.report(STAGE, 0, 1)
            upscaled = Upscaled(resize_exact(rgb, out_w, out_h))
            ctx.report(STAGE, 1, 1)
        elif plan.method == UpscaleMethod.ESRGAN:
            passes = esrgan_passes(upscaler.model.scale, plan, width, height)
            pixels = run_esrgan(rgb, upscaler.model, passes, TileProgress(ctx, _count(passes)))
            upscaled = Upscaled(pixels, _esrgan_details(upscaler, passes))
        elif plan.method == UpscaleMethod.SD_X4:
            tiles = plan_tiles(width, height, *_input_tiling(plan, SD_X4_SCALE))
            upscaled = run_sd_x4(rgb, upscaler, tiles, plan, req, TileProgress(ctx, len(tiles)))
        else:
            pre_passes = esrgan_passes(upscaler.model.scale, plan, width, height) if upscaler else []
            tiles = plan_tiles(out_w, out_h, plan.tile_size, plan.tile_overlap)
            progress = TileProgress(ctx, _count(pre_passes) + len(tiles))
            pre_upscaled = run_esrgan(rgb, upscaler.model, pre_passes, progress) if upscaler else rgb
            upscaled = run_tiled_diffusion(resize_exact(pre_upscaled, out_w, out_h), model, tiles, plan, req,
                                           adapters, progress, env)
            if upscaler:
                upscaled.details = {**_esrgan_details(upscaler, pre_passes), **upscaled.details}

    # 5. exact output size
    pixels = resize_exact(upscaled.pixels, out_w, out_h)
    if (alpha != 255).any():
        pixels = np.dstack([pixels, resize_exact(alpha, out_w, out_h)])

    # 6. package with provenance
    metadata = {
        "method": plan.method.value,
        "scale": plan.scale,
        "input_width": width,
        "input_height": height,
        "width": out_w,
        "height": out_h,
        "tile_size": plan.tile_size,
        "tile_overlap": plan.tile_overlap,
        **upscaled.details,
    }
    parameters = upscaled.parameters or _postprocess_parameters(metadata)
    image = OutputImage(pixels, role="image", seed=metadata.get("seed", 0), index=0, parameters=parameters)
    return OpOutput([image], metadata)


def _count(passes: list[list[Tile]]) -> int:
    return sum(len(tiles) for tiles in passes)


def resize_exact(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos when enlarging; area averaging when shrinking, where Lanczos would alias."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    interpolation = cv2.INTER_LANCZOS4 if width * height > w * h else cv2.INTER_AREA
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


class TileProgress:
    """One count over every tile of a job: reported after each tile (with a preview of the stitched result so
    far when the client asked for previews), and where a cancelled job stops between tiles."""

    def __init__(self, ctx: OpContext, total: int):
        self.ctx, self.total, self.done = ctx, total, 0
        ctx.report(STAGE, 0, total)

    def tile_done(self, canvas: TileCanvas) -> None:
        self.done += 1
        every = self.ctx.preview_every
        preview = canvas.image() if every and self.done % every == 0 else None
        self.ctx.report(STAGE, self.done, self.total, preview)
        raise_if_cancelled(self.ctx)

    def on_step_end(self, pipe, step, timestep, callback_kwargs):
        """diffusers' callback_on_step_end: stops a cancelled job within one denoising step."""
        raise_if_cancelled(self.ctx)
        return callback_kwargs


def _input_tiling(plan: UpscalePlan, native_scale: int) -> tuple[int, int]:
    """Tile size and overlap in input pixels of a model that enlarges `native_scale` times."""
    return max(1, plan.tile_size // native_scale), max(1, plan.tile_overlap // native_scale)


def _upscaler_details(upscaler, native_scale: int, tiles: int) -> dict:
    return {
        "upscaler_id": upscaler.entry.id,
        "upscaler_kind": upscaler.entry.kind,
        "upscaler_hash": upscaler.weights_hash,
        "native_scale": native_scale,
        "tiles": tiles,
    }


def _esrgan_details(upscaler, passes: list[list[Tile]]) -> dict:
    return {
        **_upscaler_details(upscaler, upscaler.model.scale, _count(passes)),
        "upscaler_architecture": upscaler.model.architecture.name,
        "passes": len(passes),
    }


def _postprocess_parameters(meta: dict) -> str:
    """A1111's Extras-tab fields."""
    fields = [f"Postprocess upscale by: {meta['scale']:g}",
              f"Postprocess upscaler: {meta.get('upscaler_id', 'Lanczos')}",
              f"Size: {meta['width']}x{meta['height']}"]
    if "upscaler_hash" in meta:
        fields.append(f"Postprocess upscaler hash: {meta['upscaler_hash']}")
    return ", ".join(fields)


# ESRGAN ---------------------------------------------------------------------------------------


def esrgan_passes(native_scale: int, plan: UpscalePlan, width: int, height: int) -> list[list[Tile]]:
    """The tiles of each pass: as many passes of the model as reach the scale (resized down exactly later)."""
    count = 1 if native_scale == 1 else max(1, math.ceil(math.log(plan.scale) / math.log(native_scale) - 1e-9))
    tile, overlap = _input_tiling(plan, native_scale)
    return [plan_tiles(width * native_scale**i, height * native_scale**i, tile, overlap) for i in range(count)]


def run_esrgan(pixels: np.ndarray, descriptor, passes: list[list[Tile]], progress: TileProgress) -> np.ndarray:
    """Crop-stitched tiles: each window's output is cut back to its core, so memory is bounded by the window and
    the result equals the untiled one wherever the model's receptive field fits in the overlap."""
    for tiles in passes:
        height, width = pixels.shape[:2]
        canvas = TileCanvas(width, height, descriptor.scale, feather=False)
        for tile in tiles:
            window = torch.from_numpy(np.ascontiguousarray(pixels[tile.window])).to(descriptor.device)
            batch = window.permute(2, 0, 1)[None].to(descriptor.dtype) / 255.0
            canvas.add(tile, descriptor(batch)[0].permute(1, 2, 0).float().cpu().numpy())
            progress.tile_done(canvas)
        pixels = canvas.image()
    return pixels


# SD x4 ----------------------------------------------------------------------------------------


def run_sd_x4(pixels: np.ndarray, upscaler, tiles: list[Tile], plan: UpscalePlan, req: UpscaleRequest,
              progress: TileProgress) -> Upscaled:
    """The x4 upscaler on each low-res window (padded to a multiple of 8), feather-stitched at 4x."""
    sampling = common.plan_sampling(req.sampling, SD_X4_DEFAULTS)
    # A view over the shared components, so this job's scheduler never replaces the shared pipeline's; the
    # dtype must be theirs, since from_pipe casts the (shared) components to it.
    pipe = StableDiffusionUpscalePipeline.from_pipe(upscaler.model, dtype=upscaler.model.dtype)
    pipe.scheduler = make_scheduler(sampling.scheduler_id, upscaler.model.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    noise_level = SD_X4_DEFAULT_NOISE_LEVEL if req.strength is None else \
        round(req.strength * pipe.config.max_noise_level)
    height, width = pixels.shape[:2]
    canvas = TileCanvas(width, height, SD_X4_SCALE, feather=True, overlap=_input_tiling(plan, SD_X4_SCALE)[1])
    for index, tile in enumerate(tiles):
        raise_if_cancelled(progress.ctx)
        window = pixels[tile.window]
        output = pipe(
            prompt=req.prompt,
            negative_prompt=req.negative_prompt or None,
            image=Image.fromarray(pad_to_multiple(window, SD_SIZE_MULTIPLE)),
            noise_level=noise_level,
            num_inference_steps=sampling.steps,
            guidance_scale=sampling.guidance,
            generator=torch.Generator("cpu").manual_seed(sampling.seed + index),
            output_type="np",
            # This pipeline has only the legacy per-step callback.
            callback=lambda step, timestep, latents: raise_if_cancelled(progress.ctx),
        ).images[0]
        canvas.add(tile, output[: window.shape[0] * SD_X4_SCALE, : window.shape[1] * SD_X4_SCALE])
        progress.tile_done(canvas)
    details = {
        **_upscaler_details(upscaler, SD_X4_SCALE, len(tiles)),
        "seed": sampling.seed,
        "num_inference_steps": sampling.steps,
        "guidance_scale": sampling.guidance,
        "scheduler": sampling.scheduler_id,
        "noise_level": noise_level,
    }
    parameters = common.a1111_parameters(req.prompt, req.negative_prompt, upscaler, sampling, sampling.seed,
                                         *plan.output_size, extra=(f"Noise level: {noise_level}",))
    return Upscaled(canvas.image(), details, parameters)


# tiled diffusion ------------------------------------------------------------------------------


def run_tiled_diffusion(pixels: np.ndarray, model, tiles: list[Tile], plan: UpscalePlan, req: UpscaleRequest,
                        adapters: ResolvedAdapters, progress: TileProgress, env: OpEnv) -> Upscaled:
    """img2img at low strength on each window of the pre-upscaled image, feather-stitched. With a tile
    ControlNet in the model's catalog entry each window also conditions on itself, which keeps detail in place."""
    sampling = common.plan_sampling(req.sampling, model.entry)
    use_tile_controlnet = ControlType.TILE in model.entry.controlnets
    img2img_cls, controlnet_img2img_cls = common.mode_pipelines(model.entry.family, "img2img")
    if use_tile_controlnet:
        pipe = common.pipeline_view(controlnet_img2img_cls, model, sampling, [model.controlnet(ControlType.TILE)])
    else:
        pipe = common.pipeline_view(img2img_cls, model, sampling)
    strength = DEFAULT_TILED_STRENGTH if req.strength is None else req.strength
    height, width = pixels.shape[:2]
    canvas = TileCanvas(width, height, 1, feather=True, overlap=plan.tile_overlap)
    with env.manager.adapters.applied(pipe, model.entry.family, adapters):  # this job's LoRAs, embeddings, VAE
        for index, tile in enumerate(tiles):
            raise_if_cancelled(progress.ctx)
            window = pixels[tile.window]
            padded = Image.fromarray(pad_to_multiple(window, SD_SIZE_MULTIPLE))
            control = dict(control_image=padded, controlnet_conditioning_scale=TILE_CONTROLNET_SCALE) \
                if use_tile_controlnet else {}
            # Every tile has the same prompt: the model's prompt cache encodes it once.
            prompts = with_cached_embeddings(pipe, model, dict(prompt=req.prompt, guidance_scale=sampling.guidance,
                                                               negative_prompt=req.negative_prompt or None))
            output = pipe(
                **prompts,
                image=padded,
                strength=strength,
                num_inference_steps=sampling.steps,
                generator=torch.Generator("cpu").manual_seed(sampling.seed + index),
                output_type="np",
                callback_on_step_end=progress.on_step_end,
                **control,
            ).images[0]
            canvas.add(tile, output[: window.shape[0], : window.shape[1]])
            progress.tile_done(canvas)
    pre_upscaler = plan.upscaler.id if plan.upscaler else "Lanczos"
    adapter_fields, adapter_record = common.adapter_provenance(adapters, env)
    details = common.provenance(model, sampling, width, height, pre_upscaler=pre_upscaler, strength=strength,
                                tile_controlnet=use_tile_controlnet, tiles=progress.total, **adapter_record)
    parameters = common.a1111_parameters(
        req.prompt, req.negative_prompt, model, sampling, sampling.seed, width, height, strength=strength,
        extra=(f"SD upscale overlap: {plan.tile_overlap}", f"SD upscale upscaler: {pre_upscaler}", *adapter_fields))
    return Upscaled(canvas.image(), details, parameters)
