"""What the diffusion ops (generate, depth2img, texture) share: the checks of prompt, sampling, strength, size
and ControlNet units; the sampling plan (steps, guidance, scheduler, seeds); a pipeline view over a model's
shared components; denoising with progress, previews and cancel within a step; and provenance.
"""

from __future__ import annotations

import logging
import math
import secrets
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from diffusers import (
    StableDiffusionControlNetImg2ImgPipeline,
    StableDiffusionControlNetInpaintPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLControlNetImg2ImgPipeline,
    StableDiffusionXLControlNetInpaintPipeline,
    StableDiffusionXLControlNetPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from PIL import Image

from .. import control, imaging
from ..domain import AdapterSpec, ControlUnitSpec, DepthPassInput, ImageInput, Sampling
from ..errors import Cancelled, InvalidInput, OutOfMemory, Unsupported, shown
from ..models.adapter_catalog import ResolvedAdapters
from ..models.loading import PIPELINE_OPTIONS
from ..models.schedulers import SCHEDULERS, make_scheduler
from . import reference
from .context import OpContext, raise_if_cancelled
from .env import OpEnv
from .limits import Limits, check_range, check_unit_scale_and_window
from .prompt_embeds import with_cached_embeddings

DEFAULT_STRENGTH = 0.75
MAX_GUIDANCE = 30.0
MAX_SEED = 2**63 - 1

# Pipelines per family and mode: (without ControlNet, with ControlNet). All are views over the family's loaded
# pipeline (from_pipe shares every component, both SDXL text encoders included).
PIPELINES = {
    "sd15": {
        "txt2img": (StableDiffusionPipeline, StableDiffusionControlNetPipeline),
        "img2img": (StableDiffusionImg2ImgPipeline, StableDiffusionControlNetImg2ImgPipeline),
        "inpaint": (StableDiffusionInpaintPipeline, StableDiffusionControlNetInpaintPipeline),
    },
    "sdxl": {
        "txt2img": (StableDiffusionXLPipeline, StableDiffusionXLControlNetPipeline),
        "img2img": (StableDiffusionXLImg2ImgPipeline, StableDiffusionXLControlNetImg2ImgPipeline),
        "inpaint": (StableDiffusionXLInpaintPipeline, StableDiffusionXLControlNetInpaintPipeline),
    },
}
SDXL_PIPELINE_CLASSES = tuple(cls for pair in PIPELINES["sdxl"].values() for cls in pair)

# Linear maps from latents to RGB (4 x 3 factors, 3 biases): a cheap preview without running the VAE decoder.
# SD1.5's latent space is also SD2's; SDXL's VAE was retrained and has its own.
SD15_LATENT_RGB = (
    torch.tensor([[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721],
                  [-0.2120, -0.2616, -0.7177]]),
    torch.zeros(3),
)
SDXL_LATENT_RGB = (
    torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
                  [-0.3165, -0.2492, -0.2188]]),
    torch.tensor([0.1084, -0.0175, -0.0011]),
)


# -- checks (cheap, load nothing) -------------------------------------------------------------------


def require_family(entry, families: tuple[str, ...], task: str, *, inpainting_ok: bool = False) -> None:
    if entry.family not in families:
        raise Unsupported(f"model '{entry.id}' is family '{entry.family}'; {task} supports {families}")
    if entry.inpainting and not inpainting_ok:  # a 9-channel UNet cannot start from noise or an image alone
        raise Unsupported(f"model '{entry.id}' is an inpainting model: it runs inpaint (init_image + mask_image) and "
                          "outpaint only")


def check_prompt(prompt: str, limits: Limits) -> None:
    if len(prompt) > limits.max_prompt_chars:
        raise InvalidInput("prompt", f"must be at most {limits.max_prompt_chars} characters, got {len(prompt)}")


def check_sampling(s: Sampling, limits: Limits) -> None:
    if s.num_inference_steps is not None and not 1 <= s.num_inference_steps <= limits.max_steps:
        raise InvalidInput("sampling.num_inference_steps",
                           f"must be between 1 and {limits.max_steps}, got {s.num_inference_steps}")
    if s.guidance_scale is not None:
        check_range("sampling.guidance_scale", s.guidance_scale, 0.0, MAX_GUIDANCE)
    if s.scheduler and s.scheduler not in SCHEDULERS:
        raise InvalidInput("sampling.scheduler",
                           f"unknown scheduler '{shown(s.scheduler)}'; choose one of: {', '.join(SCHEDULERS)}")
    if s.seed is not None and not -1 <= s.seed <= MAX_SEED:
        raise InvalidInput("sampling.seed", f"must be -1 (random) or between 0 and {MAX_SEED}, got {s.seed}")
    if not 1 <= s.num_images_per_prompt <= limits.max_batch:
        raise InvalidInput("sampling.num_images_per_prompt",
                           f"must be between 1 and {limits.max_batch}, got {s.num_images_per_prompt}")


def check_strength(strength: float | None, init_image: ImageInput | None) -> None:
    if strength is None:
        return
    if init_image is None:
        raise InvalidInput("strength", "applies only with init_image (img2img / inpaint)")
    check_range("strength", strength, 0.0, 1.0, low_open=True)


def check_gets_a_step(sampling: Sampling, strength: float | None, entry,
                      default_strength: float = DEFAULT_STRENGTH, what: str = "img2img") -> None:
    """img2img runs int(steps x strength) denoising steps; with none it would fail inside diffusers."""
    steps = sampling.num_inference_steps or entry.default_steps
    strength = default_strength if strength is None else strength
    if int(steps * strength) < 1:
        raise InvalidInput("sampling.num_inference_steps",
                           f"with strength {strength:g} {what} would get no denoising step; use at least "
                           f"{math.ceil(1 / strength - 1e-9)} steps")


def check_diffusion_fields(req, entry, width: int, height: int, limits: Limits) -> None:
    """What generate, texture and depth2img requests share: prompt, size, sampling, strength, and that an img2img
    start gets at least one denoising step."""
    check_prompt(req.prompt, limits)
    limits.check_size(width, height)
    check_sampling(req.sampling, limits)
    check_strength(req.strength, req.init_image)
    if req.init_image is not None:
        check_gets_a_step(req.sampling, req.strength, entry)


def resolve_size(width: int, height: int, init_image: ImageInput | None,
                 fallback: tuple[int, int]) -> tuple[int, int]:
    """Explicit size, else the init image's size rounded down to a multiple of 8, else `fallback`."""
    if bool(width) != bool(height):
        raise InvalidInput("width" if not width else "height", "set both width and height, or neither (0)")
    if width:
        return width, height
    if init_image is not None:
        w, h = imaging.image_size(init_image.data, "init_image")  # the header only: no decoding for a size
        return max(8, w // 8 * 8), max(8, h // 8 * 8)
    return fallback


def check_control_units(units: tuple[ControlUnitSpec, ...], entry, width: int, height: int, env: OpEnv,
                        field: str = "control_units", reference_ok: bool = False) -> None:
    """reference_ok: the task takes CONTROL_TYPE_REFERENCE (IP-Adapter) units too (generate)."""
    if len(units) > env.limits.max_control_units:
        raise InvalidInput(field, f"at most {env.limits.max_control_units} units, got {len(units)}")
    for i, unit in enumerate(units):
        if unit.is_reference:
            if not reference_ok:
                raise InvalidInput(f"{field}[{i}].control_type",
                                   "CONTROL_TYPE_REFERENCE (IP-Adapter) units run in generate tasks only")
            reference.check_reference_unit(unit, f"{field}[{i}]", entry, env)
            continue
        check_unit(unit, f"{field}[{i}]", entry, width, height, env)


def with_family_defaults(units: tuple[ControlUnitSpec, ...], family: str) -> tuple[ControlUnitSpec, ...]:
    """The units with every depth pass's normalisation named: the family's default where the request left it unset
    (families.DEPTH_NORMALIZATION), so that the maps, the A1111 text and the provenance all say the same."""
    return tuple(replace(u, source=resolved_depth_pass(u.source, family)) if isinstance(u.source, DepthPassInput)
                 else u for u in units)


def resolved_depth_pass(depth_pass: DepthPassInput, family: str) -> DepthPassInput:
    return replace(depth_pass, normalization=control.resolve_normalization(depth_pass, family))


def depth_provenance(named_units) -> dict:
    """{"depth_normalization": {depth pass field: value}} for the depth-pass units among (field, unit) pairs; {}
    when none."""
    record = {name: unit.source.normalization.value for name, unit in named_units
              if isinstance(unit.source, DepthPassInput) and unit.source.normalization is not None}
    return {"depth_normalization": record} if record else {}


def check_unit(unit: ControlUnitSpec, field: str, entry, width: int, height: int, env: OpEnv) -> None:
    (unit,) = with_family_defaults((unit,), entry.family)
    if unit.control_type not in entry.controlnets:
        have = ", ".join(t.value for t in entry.controlnets) or "none"
        raise Unsupported(f"{field}: model '{entry.id}' has no ControlNet for '{unit.control_type.value}' "
                          f"(it has: {have})")
    entry.check_controlnet_id(unit.control_type, unit.controlnet_id, f"{field}.controlnet_id")
    check_unit_scale_and_window(unit, field, (0.0, 2.0))
    control.check_source(unit, width, height, field, env.estimators, env.limits.max_input_pixels)


def check_adapters(adapters: AdapterSpec, entry, env: OpEnv) -> ResolvedAdapters:
    """A job's LoRAs, embeddings and VAE, found in the catalog's folders for the model's family (loads nothing)."""
    return env.catalog.adapters.resolve(adapters, entry.family, env.manager.allow_pickle)


# -- running ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingPlan:
    """A request's sampling with the model's defaults filled in and the seed drawn."""

    steps: int
    guidance: float
    scheduler_id: str
    seed: int
    count: int

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.count)]  # image i of a batch gets seed + i

    def pipeline_kwargs(self) -> dict:
        # CPU generators make a seed give the same image on every device.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in self.seeds]
        return dict(num_inference_steps=self.steps, guidance_scale=self.guidance,
                    num_images_per_prompt=self.count, generator=generators)


def plan_sampling(s: Sampling, entry) -> SamplingPlan:
    return SamplingPlan(
        steps=s.num_inference_steps or entry.default_steps,
        guidance=entry.default_guidance_scale if s.guidance_scale is None else s.guidance_scale,
        scheduler_id=s.scheduler or entry.default_scheduler,
        seed=s.seed if s.seed is not None and s.seed >= 0 else secrets.randbelow(2**32),
        count=s.num_images_per_prompt,
    )


def load_model(env: OpEnv, model_id: str, ctx: OpContext):
    """The catalog model (lazily loaded, shared across jobs); a 'load' stage is reported when it must load."""
    if not env.manager.is_loaded(model_id or env.catalog.default_id):
        ctx.report("load", 0, 1)
    return env.manager.load(model_id)


def load_init_image(image: ImageInput, width: int, height: int, limits: Limits) -> Image.Image:
    pixels = imaging.decode_image(image.data, "init_image", max_pixels=limits.max_input_pixels)
    return Image.fromarray(imaging.resize(pixels, width, height))


def control_images(units: tuple[ControlUnitSpec, ...], width: int, height: int, env: OpEnv, ctx: OpContext,
                   field: str = "control_units") -> list[Image.Image]:
    images = []
    for i, unit in enumerate(units):
        ctx.report("preprocess", i, len(units))
        images.append(Image.fromarray(
            control.prepare_control_map(unit, width, height, f"{field}[{i}]", env.estimators,
                                        env.limits.max_input_pixels)
        ))
    return images


class _DropEmptyFloat32Notice(logging.Filter):
    """from_pipe(dtype=...) casts every shared component to the dtype it already has, and diffusers then warns
    that "modules ... should be kept in float32: []" -- an empty list, on every job. Drop just that notice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


logging.getLogger("diffusers.models.modeling_utils").addFilter(_DropEmptyFloat32Notice())


def mode_pipelines(family: str, mode: str) -> tuple[type, type]:
    """The family's pipeline classes for a mode (txt2img, img2img, inpaint): (without, with ControlNet)."""
    return PIPELINES[family][mode]


# Each pipeline view's LoadedModel: denoise and the step callback find the model's prompt cache and preview decoder.
_VIEW_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pipeline_view(pipeline_cls, model, plan: SamplingPlan, controlnets=()):
    """A pipeline of `pipeline_cls` over the model's shared components (never copies), with a fresh scheduler."""
    options = dict(PIPELINE_OPTIONS.get(model.entry.family, {}), dtype=model.pipeline.dtype)
    if controlnets:
        controlnet = controlnets[0] if len(controlnets) == 1 else MultiControlNetModel(list(controlnets))
        pipe = pipeline_cls.from_pipe(model.pipeline, controlnet=controlnet, **options)
    else:
        pipe = pipeline_cls.from_pipe(model.pipeline, **options)
    pipe.scheduler = make_scheduler(plan.scheduler_id, model.pipeline.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    _VIEW_MODELS[pipe] = model
    return pipe


def pipeline_call(model, plan: SamplingPlan, *, prompt: str, negative_prompt: str, width: int, height: int,
                  init: Image.Image | None = None, strength: float | None = None,
                  mask: Image.Image | None = None, units: tuple[ControlUnitSpec, ...] = (), controlnets=(),
                  control_maps: list[Image.Image] = ()) -> tuple[object, dict, float | None]:
    """The model family's pipeline for the mode -- txt2img, img2img with `init`, inpaint with `mask` too; with
    ControlNets when given -- and its call's arguments. Returns (pipeline, kwargs, the strength used or None for
    txt2img). SDXL's size conditioning (original/target size, crop) defaults to the output size, as it should."""
    mode = "inpaint" if mask is not None else "txt2img" if init is None else "img2img"
    plain_cls, control_cls = mode_pipelines(model.entry.family, mode)
    pipe = pipeline_view(control_cls if controlnets else plain_cls, model, plan, controlnets)
    kwargs = dict(prompt=prompt, negative_prompt=negative_prompt or None, **plan.pipeline_kwargs())
    if init is None:
        strength = None
        kwargs.update(width=width, height=height)
    else:
        strength = DEFAULT_STRENGTH if strength is None else strength
        kwargs.update(image=init, strength=strength)
        if mask is not None:
            kwargs.update(mask_image=mask, width=width, height=height)
    if controlnets:
        kwargs.update(_controlnet_kwargs(units, control_maps, "image" if init is None else "control_image"))
    return pipe, kwargs, strength


def _controlnet_kwargs(units: tuple[ControlUnitSpec, ...], maps: list[Image.Image], image_key: str) -> dict:
    """The ControlNet arguments of a diffusers call; image_key is "image" (txt2img) or "control_image"."""
    single = len(units) == 1
    return {
        "controlnet_conditioning_scale": units[0].conditioning_scale if single
        else [u.conditioning_scale for u in units],
        "control_guidance_start": [u.guidance_start for u in units],
        "control_guidance_end": [u.guidance_end for u in units],
        image_key: maps[0] if single else maps,
    }


@contextmanager
def out_of_memory_as_error():
    """A CUDA out-of-memory becomes the user-facing OutOfMemory (smaller size or batch), and the cache is freed."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        raise OutOfMemory(str(error).splitlines()[0]) from None


def expected_steps(steps: int, strength: float | None) -> int:
    """Denoising steps a pipeline runs: all of them from noise, a `strength` share of them from an image."""
    return steps if strength is None else max(1, int(steps * strength))


def denoise(pipe, ctx: OpContext, total_steps: int, on_step=None, **kwargs) -> np.ndarray:
    """Run the pipeline with progress, previews and cancel within one step; uint8 N x H x W x 3. on_step(n), when
    given, runs before step n > 0 (e.g. reference units' scale schedule)."""
    ctx.report("denoise", 0, total_steps)
    with out_of_memory_as_error(), torch.inference_mode():
        kwargs = with_cached_embeddings(pipe, _VIEW_MODELS.get(pipe), kwargs)  # a repeated prompt skips the encoders
        images = pipe(**kwargs, output_type="np", callback_on_step_end=step_callback(ctx, on_step)).images
    raise_if_cancelled(ctx)
    return (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def step_callback(ctx: OpContext, on_step=None):
    """diffusers' callback_on_step_end: progress, previews, and cancel within one step."""

    def on_step_end(pipe, step, timestep, callback_kwargs):
        if ctx.cancelled:
            # Raising (rather than setting pipe._interrupt) skips the remaining steps *and* the VAE decode.
            raise Cancelled()
        done = step + 1
        if on_step is not None:
            on_step(done)
        preview = None
        if ctx.preview_every and done % ctx.preview_every == 0:
            preview = step_preview(pipe, callback_kwargs["latents"], ctx.preview_max_size)
        ctx.report("denoise", done, pipe.num_timesteps, preview)
        return callback_kwargs

    return on_step_end


def step_preview(pipe, latents: torch.Tensor, max_side: int) -> np.ndarray:
    """The model's TAESD decodes the preview when its catalog entry has a preview_vae; else the linear map."""
    model = _VIEW_MODELS.get(pipe)
    decoder = model.preview_decoder if model is not None else None
    if decoder is not None:
        return decoder.decode(latents, max_side)
    return latents_to_preview(latents, latent_rgb(pipe))


def latent_rgb(pipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The latent -> RGB preview factors for the pipeline's latent space."""
    return SDXL_LATENT_RGB if isinstance(pipe, SDXL_PIPELINE_CLASSES) else SD15_LATENT_RGB


def latents_to_preview(latents: torch.Tensor, factors=SD15_LATENT_RGB) -> np.ndarray:
    """First image of the batch, RGB uint8 at latent resolution x 2 (cheap linear approximation)."""
    latent = latents[-1].float().cpu()  # with CFG the batch is [uncond, cond]; any image will do
    weights, bias = factors
    rgb = torch.einsum("chw,cr->hwr", latent[:4], weights) + bias
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    h, w = rgb.shape[:2]
    return imaging.resize(rgb, w * 2, h * 2)


# -- provenance -------------------------------------------------------------------------------------


def adapter_provenance(resolved: ResolvedAdapters, env: OpEnv) -> tuple[tuple[str, ...], dict]:
    """A job's adapters for its results: A1111 fields ('Lora hashes: "id: hash"', 'TI hashes', 'VAE', 'VAE hash')
    and provenance JSON fields ({"adapters": ...}); nothing without adapters."""
    if not resolved:
        return (), {}
    hashes = env.manager.adapters.hashes(resolved)
    fields = []
    if resolved.loras:
        fields.append('Lora hashes: "' + ", ".join(f"{file.id}: {hashes['loras'][file.id]}"
                                                   for file, _ in resolved.loras) + '"')
    if resolved.embeddings:
        fields.append('TI hashes: "' + ", ".join(f"{file.id}: {hashes['embeddings'][file.id]}"
                                                 for file in resolved.embeddings) + '"')
    if resolved.vae is not None:
        fields += [f"VAE hash: {hashes['vae'][resolved.vae.id]}", f"VAE: {resolved.vae.id}"]
    record = {
        "loras": [{"id": file.id, "weight": weight, "hash": hashes["loras"][file.id]}
                  for file, weight in resolved.loras],
        "embeddings": [{"id": file.id, "hash": hashes["embeddings"][file.id]} for file in resolved.embeddings],
        "vae": {"id": resolved.vae.id, "hash": hashes["vae"][resolved.vae.id]} if resolved.vae is not None else None,
    }
    return tuple(fields), {"adapters": record}


def provenance(model, plan: SamplingPlan, width: int, height: int, **fields) -> dict:
    """The metadata every diffusion result records (merged into the PNG's provenance JSON)."""
    return {
        "model_id": model.entry.id,
        "model_family": model.entry.family,
        "model_hash": model.weights_hash,
        "seed": plan.seed,
        "seeds": plan.seeds,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance,
        "scheduler": plan.scheduler_id,
        "width": width,
        "height": height,
        "profile": model.profile.as_dict(),
        **({"model_vae": model.vae_id} if getattr(model, "vae_id", "") else {}),
        **fields,
    }


def a1111_parameters(prompt: str, negative_prompt: str, model, plan: SamplingPlan, seed: int, width: int,
                     height: int, *, strength: float | None = None, units: tuple[ControlUnitSpec, ...] = (),
                     extra: tuple[str, ...] = ()) -> str:
    """The 'parameters' text A1111-compatible tools read from a PNG; `extra` adds "Key: value" fields."""
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    spec = SCHEDULERS.get(plan.scheduler_id)
    fields = [
        f"Steps: {plan.steps}",
        f"Sampler: {spec.label if spec else plan.scheduler_id}",
        f"CFG scale: {plan.guidance:g}",
        f"Seed: {seed}",
        f"Size: {width}x{height}",
        f"Model hash: {model.weights_hash}",
        f"Model: {model.entry.id}",
    ]
    if strength is not None:
        fields.append(f"Denoising strength: {strength:g}")
    for i, unit in enumerate(units):
        source = type(unit.source).__name__.replace("Input", "")
        normalization = getattr(unit.source, "normalization", None)
        fields.append(
            f'ControlNet {i}: "Module: {source}, Model: {unit.controlnet_id or unit.control_type.value}, '
            f"Weight: {unit.conditioning_scale:g}, Guidance Start: {unit.guidance_start:g}, "
            f'Guidance End: {unit.guidance_end:g}'
            + (f", Depth Normalization: {normalization.value}" if normalization is not None else "") + '"'
        )
    fields.extend(extra)
    lines.append(", ".join(fields))
    return "\n".join(lines)
