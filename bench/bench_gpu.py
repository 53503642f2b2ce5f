"""GPU speed: plain diffusers vs this server's engine on full-size SD1.5 + ControlNet and SDXL, in one run.

Builds the models from their real configs (in this file) with random weights -- speed does not depend on weight
values -- so it needs no download. For each model it measures denoising it/s (steps between the first and the
last step callback: no text encoding, no VAE decode) and peak VRAM (VAE decode included, on both paths) of:

- plain diffusers: the pipeline as diffusers builds it, in the profile's dtype (float16 on CUDA), default
  attention, default memory format, no compile; one call per image batch;
- ours: the same weights after the server's execution profile (models/profile.py: channels_last, SDPA), through
  the server's pipeline path (ops/common.py: from_pipe view, fresh scheduler, prompt-embedding cache, step
  callback) -- eager, then with torch.compile (--compile-mode), at batch 1 and 4 (4 images in one call).

    .venv/bin/python bench/bench_gpu.py                     # H100/H200: SD1.5+ControlNet 512², SDXL 1024²
    .venv/bin/python bench/bench_gpu.py --tiny --no-compile # CPU: the tiny preset's configs, to prove it runs

The "live" rows (bench_gpu_live.py) give frames/s of an SD-Turbo-sized live session in the it/s column.

Goal (issue 15): SD1.5 + ControlNet 512² batch 1, ours compiled >= 2.2x plain diffusers it/s on an H100/H200.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, StableDiffusionControlNetPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel, UniPCMultistepScheduler)
from PIL import Image
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from _common import print_table, write_json
from dccbridge.domain import ControlType, ControlUnitSpec, ImageInput
from dccbridge.models import tiny
from dccbridge.models.catalog import ModelEntry
from dccbridge.models.loading import Placement
from dccbridge.models.manager import LoadedModel
from dccbridge.models.profile import ProfileOptions, apply_to_module, apply_to_pipeline, choose_profile, compile_module
from dccbridge.models.weights_hash import WeightsHasher
from dccbridge.ops import common

SPEEDUP_GOAL = 2.2
PROMPT = "a knight in a ruined temple, volumetric light"

# -- the real configs ---------------------------------------------------------------------------------

# stable-diffusion-v1-5/stable-diffusion-v1-5 unet/config.json, vae/config.json; CLIP ViT-L/14 text model.
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
                 layers_per_block=2, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                 attention_head_dim=8, norm_num_groups=32)
SD_VAE = dict(in_channels=3, out_channels=3, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
              latent_channels=4, norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              hidden_act="quick_gelu", projection_dim=768, vocab_size=49408)
# lllyasviel/control_v11f1p_sd15_depth: the SD1.5 UNet's encoder half plus this conditioning embedding.
SD15_CONTROLNET_EMBEDDING = (16, 32, 96, 256)
# stabilityai/stable-diffusion-xl-base-1.0 unet/config.json; OpenCLIP ViT-bigG/14 as the second text encoder.
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280),
                 layers_per_block=2, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
                 use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, norm_num_groups=32)
CLIP_BIG_G = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                  hidden_act="gelu", projection_dim=1280, vocab_size=49408)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 steps_offset=1)


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    size: int
    with_controlnet: bool


def build(case: Case, full_size: bool, device: torch.device, dtype: torch.dtype):
    """(pipeline, ControlNet or None) with random weights, built straight on the device (fast init)."""
    tokenizer = tiny.build_tiny_tokenizer()  # the tokenizer's vocabulary does not change the speed
    with torch.device(device):
        if case.family == "sd15":
            unet = UNet2DConditionModel(**(SD15_UNET if full_size else tiny.UNET_CONFIG))
            text = CLIPTextModel(tiny._text_encoder_config(tokenizer, **(CLIP_L if full_size else {})))
            vae = AutoencoderKL(**(SD_VAE if full_size else tiny.VAE_CONFIG))
            controlnet = ControlNetModel.from_unet(
                unet, conditioning_embedding_out_channels=SD15_CONTROLNET_EMBEDDING if full_size else (16, 32, 64, 128),
                load_weights_from_unet=False) if case.with_controlnet else None
            pipe = StableDiffusionControlNetPipeline(
                vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
                scheduler=UniPCMultistepScheduler(**SCHEDULER), safety_checker=None, feature_extractor=None,
                requires_safety_checker=False)
        else:
            unet = UNet2DConditionModel(**(SDXL_UNET if full_size else tiny.SDXL_UNET_CONFIG))
            text = CLIPTextModel(tiny._text_encoder_config(
                tokenizer, **(CLIP_L if full_size else dict(hidden_size=tiny.SDXL_TEXT_HIDDEN))))
            big_g = CLIP_BIG_G if full_size else dict(hidden_size=tiny.SDXL_TEXT_HIDDEN_2,
                                                       projection_dim=tiny.SDXL_TEXT_HIDDEN_2)
            text_2 = CLIPTextModelWithProjection(tiny._text_encoder_config(tokenizer, **big_g))
            vae = AutoencoderKL(**dict(SD_VAE if full_size else tiny.VAE_CONFIG, scaling_factor=0.13025))
            controlnet = None
            pipe = StableDiffusionXLPipeline(
                vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer, tokenizer_2=tokenizer,
                unet=unet, scheduler=EulerDiscreteScheduler(**SCHEDULER, timestep_spacing="leading"),
                add_watermarker=False)
    pipe.to(device, dtype)
    if controlnet is not None:
        controlnet.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe, controlnet


class StepClock:
    """Times denoising steps: it/s between the first and the last step's end."""

    def __init__(self, device: torch.device):
        self.device = device
        self.times: list[float] = []

    def tick(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())

    def its(self) -> float:
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    # as diffusers' callback_on_step_end (plain) and as an OpContext (ours)
    def on_step_end(self, pipe, step, timestep, callback_kwargs):
        self.tick()
        return callback_kwargs

    preview_every = 0
    preview_max_size = 256
    cancelled = False

    def report(self, stage, step, total, preview=None):
        if stage == "denoise" and step > 0:
            self.tick()


def measure(run_once, device: torch.device, repeats: int) -> tuple[float, float]:
    """(median it/s over repeats after one warm-up, peak memory GiB)."""
    run_once(StepClock(device))  # warm-up (and, compiled, the last shape checks)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(repeats):
        clock = StepClock(device)
        run_once(clock)
        rates.append(clock.its())
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return statistics.median(rates), peak


def control_image(size: int) -> Image.Image:
    gradient = torch.linspace(0, 255, size).to(torch.uint8)
    return Image.fromarray(gradient[None, :, None].expand(size, size, 3).numpy())


def run_case(case: Case, args, device: torch.device, dtype: torch.dtype) -> list[dict]:
    pipe, controlnet = build(case, not args.tiny, device, dtype)
    image = control_image(case.size)
    rows = []

    def plain(batch: int):
        def run_once(clock: StepClock):
            extra = dict(image=image) if controlnet is not None else {}
            with torch.inference_mode():
                pipe(prompt=PROMPT, negative_prompt="blurry", num_inference_steps=args.steps, guidance_scale=7.5,
                     width=case.size, height=case.size, num_images_per_prompt=batch, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(1), callback_on_step_end=clock.on_step_end, **extra)
        return run_once

    batches = args.batches if case.family == "sd15" else args.sdxl_batches
    for batch in batches:
        its, peak = measure(plain(batch), device, args.repeats)
        rows.append(dict(case=case.name, engine="plain diffusers", batch=batch, its=its, peak_gib=peak))
        print(f"  {case.name}: plain diffusers, batch {batch}: {its:.2f} it/s", flush=True)

    # Ours: the server's profile on the same weights, then its pipeline path.
    options = ProfileOptions(compile=False, compile_mode=args.compile_mode)
    profile = choose_profile(device, dtype, options)
    apply_to_pipeline(pipe, profile)
    if controlnet is not None:
        apply_to_module(controlnet, profile)
    entry = ModelEntry(id=case.name, family=case.family, source="builtin:bench",
                       controlnets={ControlType.DEPTH: "builtin:bench"} if controlnet is not None else {})
    model = LoadedModel(entry, pipe, Placement(device, dtype), WeightsHasher(None), profile)
    if controlnet is not None:
        model._controlnets[ControlType.DEPTH] = controlnet  # built here, not loaded from the catalog
    units = (ControlUnitSpec(ControlType.DEPTH, ImageInput(b"")),) if controlnet is not None else ()

    def ours(batch: int):
        plan = common.SamplingPlan(args.steps, 7.5, "unipc" if case.family == "sd15" else "euler", 1, batch)

        def run_once(clock: StepClock):
            view, kwargs, _ = common.pipeline_call(
                model, plan, prompt=PROMPT, negative_prompt="blurry", width=case.size, height=case.size,
                units=units, controlnets=[controlnet] if controlnet is not None else (),
                control_maps=[image] if controlnet is not None else ())
            common.denoise(view, clock, args.steps, **kwargs)
        return run_once

    variants = [("ours (profile)", False)] + ([(f"ours (profile + compile {args.compile_mode})", True)]
                                              if args.compile else [])
    for label, compiled in variants:
        if compiled:
            profile = choose_profile(device, dtype, ProfileOptions(compile=True, compile_mode=args.compile_mode))
            model.profile = profile
            compile_module(pipe.unet, profile)
            if controlnet is not None:
                compile_module(controlnet, profile)
        for batch in batches:
            started = time.perf_counter()
            its, peak = measure(ours(batch), device, args.repeats)
            rows.append(dict(case=case.name, engine=label, batch=batch, its=its, peak_gib=peak,
                             first_run_s=round(time.perf_counter() - started, 1)))
            print(f"  {case.name}: {label}, batch {batch}: {its:.2f} it/s", flush=True)
    del pipe, controlnet, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny preset's configs at 64² (a CPU can run it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=0, help="steps per run (default: 20; --tiny: 4)")
    parser.add_argument("--repeats", type=int, default=0, help="timed runs per variant (default: 3; --tiny: 1)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="SD1.5 batches (default: 1 4)")
    parser.add_argument("--sdxl-batches", type=int, nargs="+", default=[1],
                        help="SDXL batches (default: 1; 4 adds a dynamic-shape recompile, minutes)")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--compile-mode", default="reduce-overhead",
                        choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"))
    parser.add_argument("--skip-sdxl", action="store_true")
    parser.add_argument("--skip-live", action="store_true", help="no live-session rows (bench_gpu_live.py)")
    parser.add_argument("--json", type=str, metavar="OUT")
    args = parser.parse_args()
    args.steps = args.steps or (4 if args.tiny else 20)
    args.repeats = args.repeats or (1 if args.tiny else 3)
    return args


def main() -> int:
    args = parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    size_sd15, size_sdxl = (64, 64) if args.tiny else (512, 1024)
    cases = [Case(f"SD1.5 + ControlNet {size_sd15}²", "sd15", size_sd15, True)]
    if not args.skip_sdxl:
        cases.append(Case(f"SDXL {size_sdxl}²", "sdxl", size_sdxl, False))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), {str(dtype).removeprefix('torch.')}, torch {torch.__version__}; "
          f"{'tiny configs' if args.tiny else 'full-size configs'}, {args.steps} steps, CFG 7.5", flush=True)
    started = time.perf_counter()
    rows = []
    for case in cases:
        rows += run_case(case, args, device, dtype)
    if not args.skip_live:  # frames/s of live sessions on an SD-Turbo-sized model (bench_gpu_live.py)
        from bench_gpu_live import run_live

        rows += run_live(args, device, dtype)
    baseline = {(r["case"], r["batch"]): r["its"] for r in rows if r["engine"] == "plain diffusers"}
    for row in rows:
        row["ratio"] = row["its"] / baseline[(row["case"], row["batch"])]
    print_table(["case", "engine", "batch", "it/s", "images·it/s", "x plain", "peak GiB"],
                [[r["case"], r["engine"], r["batch"], f"{r['its']:.2f}", f"{r['its'] * r['batch']:.2f}",
                  f"{r['ratio']:.2f}", f"{r['peak_gib']:.1f}"] for r in rows])
    goal_rows = [r for r in rows
                 if r["case"].startswith("SD1.5") and r["batch"] == 1 and r["engine"] != "plain diffusers"]
    best = max((r["ratio"] for r in goal_rows), default=0.0)
    print(f"SD1.5 + ControlNet batch 1: best ours / plain = {best:.2f}x (goal >= {SPEEDUP_GOAL}x on an H100/H200); "
          f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        from pathlib import Path

        write_json(Path(args.json), dict(device=str(device), device_name=name, dtype=str(dtype), tiny=args.tiny,
                                         steps=args.steps, rows=rows, best_sd15_batch1_ratio=best))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
