"""bench_gpu.py's "live" rows: an SD-Turbo-sized model (the SD 2.1 UNet and OpenCLIP ViT-H text encoder configs,
random weights) at 512², frames per second of img2img frames:

- plain diffusers: StableDiffusionImg2ImgPipeline called per frame (prompt text, PIL image, guidance 0);
- ours (live session): ops/live.LiveRunner per frame (the frame as PNG bytes, as a client sends it; the session's
  warm view, cached prompt embeddings; similarity filter off);
- ours (stream batch): the same with LIVE_PRIORITY_THROUGHPUT, where frames at different steps share UNet calls.

"1 step" is SD-Turbo's img2img (2 steps at strength 0.5); "2 steps" is 4 at strength 0.5, where the stream batch has
two frames in flight. The figure in the it/s column is frames per second. --tiny runs the tiny configs at 64².
"""

from __future__ import annotations

import time

import numpy as np
import torch
from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline,
                       UNet2DConditionModel)
from PIL import Image
from transformers import CLIPTextModel

from dccbridge import imaging
from dccbridge.domain import ImageInput, Sampling
from dccbridge.domain_live import LiveConfig, LiveInputs, LivePriority
from dccbridge.models import tiny
from dccbridge.models.catalog import Catalog, ModelEntry
from dccbridge.models.loading import Placement
from dccbridge.models.manager import LoadedModel, ModelManager
from dccbridge.models.profile import apply_to_pipeline, choose_profile
from dccbridge.models.weights_hash import WeightsHasher
from dccbridge.ops import Limits, OpEnv
from dccbridge.ops.live import LiveRunner, resolve_config

PROMPT = "a knight in a ruined temple, volumetric light"
# stabilityai/sd-turbo (SD 2.1-shaped): unet/config.json, text_encoder/config.json (OpenCLIP ViT-H/14),
# scheduler_config.json (Euler, trailing timesteps).
SD21_UNET = dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
                 layers_per_block=2, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=1024,
                 attention_head_dim=(5, 10, 20, 20), use_linear_projection=True, norm_num_groups=32)
CLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
              hidden_act="gelu", projection_dim=512, vocab_size=49408)
TURBO_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                       timestep_spacing="trailing", prediction_type="epsilon")


def build(full_size: bool, device: torch.device, dtype: torch.dtype) -> StableDiffusionImg2ImgPipeline:
    from bench_gpu import SD_VAE

    tokenizer = tiny.build_tiny_tokenizer()
    with torch.device(device):
        unet = UNet2DConditionModel(**(SD21_UNET if full_size else tiny.UNET_CONFIG))
        text = CLIPTextModel(tiny._text_encoder_config(tokenizer, **(CLIP_H if full_size else {})))
        vae = AutoencoderKL(**(SD_VAE if full_size else tiny.VAE_CONFIG))
    pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                          scheduler=EulerDiscreteScheduler(**TURBO_SCHEDULER), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def session_env(pipe, device: torch.device, dtype: torch.dtype) -> OpEnv:
    """A real model manager whose one catalog model is this pipeline (built here rather than loaded)."""
    entry = ModelEntry(id="bench-turbo", family="sd15", source="builtin:tiny-turbo", default_steps=1,
                       default_guidance_scale=0.0, default_scheduler="euler")
    manager = ModelManager(Catalog([entry]), device=str(device), dtype=dtype)
    profile = choose_profile(device, dtype)
    apply_to_pipeline(pipe, profile)
    manager._loaded[entry.id] = LoadedModel(entry, pipe, Placement(device, dtype), WeightsHasher(None), profile)
    return OpEnv(manager, Limits())


def run_live(args, device: torch.device, dtype: torch.dtype) -> list[dict]:
    size = 64 if args.tiny else 512
    frames, warm = (2, 1) if args.tiny else (30, 2)
    pipe = build(not args.tiny, device, dtype)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(frames + warm)]
    pngs = [imaging.encode_png(image) for image in images]
    rows = []

    def plain(steps: int) -> float:
        def frame(image):
            with torch.inference_mode():
                pipe(prompt=PROMPT, image=Image.fromarray(image), strength=0.5, num_inference_steps=steps,
                     guidance_scale=0.0, output_type="np", generator=torch.Generator("cpu").manual_seed(1))
        for image in images[:warm]:
            frame(image)
        started = time.perf_counter()
        for image in images[warm:]:
            frame(image)
        return frames / (time.perf_counter() - started)

    env = session_env(pipe, device, dtype)

    def ours(steps: int, priority: LivePriority) -> float:
        config = LiveConfig(model_id="bench-turbo", prompt=PROMPT, width=size, height=size, strength=0.5,
                            sampling=Sampling(num_inference_steps=steps, seed=1), similarity_threshold=0.0,
                            priority=priority)
        runner = LiveRunner(resolve_config(config, env), env)
        answered = 0

        def frame(number: int) -> int:
            inputs = LiveInputs(number, ImageInput(pngs[number - 1]), (), PROMPT, 1, time.monotonic(), number)
            outcomes = runner.run(inputs)
            assert all(o.error is None for o in outcomes), outcomes
            return len(outcomes)

        for number in range(1, warm + 1):
            frame(number)
        started = time.perf_counter()
        for number in range(warm + 1, frames + warm + 1):
            answered += frame(number)
        return answered / (time.perf_counter() - started)

    for label, steps in (("1 step", 2), ("2 steps", 4)):
        case = f"live SD-Turbo {size}², {label}"
        variants = [("plain diffusers", lambda: plain(steps)),
                    ("ours (live session)", lambda: ours(steps, LivePriority.LATENCY))]
        if label == "2 steps":
            variants.append(("ours (stream batch)", lambda: ours(steps, LivePriority.THROUGHPUT)))
        for engine, measure in variants:
            fps = measure()
            rows.append(dict(case=case, engine=engine, batch=1, its=fps, peak_gib=0.0, unit="frames/s"))
            print(f"  {case}: {engine}: {fps:.2f} frames/s", flush=True)
    del pipe, env
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows
