"""The speed engine's CPU-provable gains, each measured side by side in one run, through the server's op path
(ops/common.py: pipeline view, prompt-embedding cache, step callback with previews, denoise):

- previews: a preview every step decoded by TAESD (the real taesd architecture, random weights) vs no previews,
  and the linear latent map for comparison; the preview is scaled and JPEG-encoded as the job engine does.
- cache: a repeated prompt with the prompt-embedding cache vs without (the text encoders run every job).
- compile: torch.compile (inductor) of the UNet vs eager: compile time, it/s, and what a new size costs.

    .venv/bin/python bench/bench_speed.py                       # all sections, tiny configs
    .venv/bin/python bench/bench_speed.py --full-size --size 256 --section previews cache
    .venv/bin/python bench/bench_speed.py --section compile

--full-size builds SD1.5's real UNet / VAE / CLIP ViT-L configs (bench_gpu.py) with random weights: the ratios
then carry over to a GPU, where the same work is only faster.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import AutoencoderTiny
from diffusers.utils import logging as diffusers_logging

from _common import OtherProcessesCpu, print_table, write_json
from bench_gpu import Case, build
from dccbridge import imaging
from dccbridge.models.catalog import ModelEntry
from dccbridge.models.loading import Placement
from dccbridge.models.manager import LoadedModel
from dccbridge.models.preview_decoder import PreviewDecoder
from dccbridge.models.profile import ProfileOptions, apply_to_pipeline, choose_profile, compile_module
from dccbridge.models.tiny import build_tiny_taesd
from dccbridge.models.weights_hash import WeightsHasher
from dccbridge.ops import common

diffusers_logging.set_verbosity_error()
PREVIEW_GOAL = 1.05
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


class JobClock:
    """An OpContext that scales and JPEG-encodes previews like the job engine, and times that."""

    def __init__(self, preview_every: int = 0, preview_max_size: int = 256):
        self.preview_every = preview_every
        self.preview_max_size = preview_max_size
        self.cancelled = False
        self.previews = 0
        self.encode_s = 0.0

    def report(self, stage, step, total, preview=None):
        if preview is not None:
            started = time.perf_counter()
            h, w = preview.shape[:2]
            scale = min(1.0, self.preview_max_size / max(h, w))
            if scale < 1.0:
                preview = imaging.resize(preview, max(1, round(w * scale)), max(1, round(h * scale)))
            imaging.encode_jpeg(preview)
            self.previews += 1
            self.encode_s += time.perf_counter() - started


class TimedDecoder(PreviewDecoder):
    """The TAESD preview decoder, timing its decodes (the in-run share is robust to a busy machine)."""

    decode_s = 0.0

    def decode(self, latents, max_side):
        started = time.perf_counter()
        try:
            return super().decode(latents, max_side)
        finally:
            self.decode_s += time.perf_counter() - started


def loaded_model(args, name: str = "bench") -> LoadedModel:
    device, dtype = torch.device("cpu"), torch.float32
    pipe, _ = build(Case(name, "sd15", args.size, False), args.full_size, device, dtype)
    profile = choose_profile(device, dtype, ProfileOptions())
    apply_to_pipeline(pipe, profile)
    entry = ModelEntry(id=name, family="sd15", source="builtin:bench")
    return LoadedModel(entry, pipe, Placement(device, dtype), WeightsHasher(None), profile)


def job(model: LoadedModel, args, ctx: JobClock, steps: int | None = None, size: int | None = None) -> float:
    """Seconds for one txt2img job through the op path (view, cache, denoise with the step callback, decode)."""
    steps = steps or args.steps
    size = size or args.size
    plan = common.SamplingPlan(steps, args.guidance, args.scheduler, 7, 1)
    started = time.perf_counter()
    pipe, kwargs, _ = common.pipeline_call(model, plan, prompt=PROMPT, negative_prompt="blurry", width=size,
                                           height=size)
    common.denoise(pipe, ctx, steps, **kwargs)
    return time.perf_counter() - started


def interleaved(variants: dict, repeats: int) -> dict[str, float]:
    """Median seconds per variant; one warm-up each, then `repeats` rounds in turn so drift hits all alike."""
    for run in variants.values():
        run()
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


# -- sections ---------------------------------------------------------------------------------------


def bench_previews(args) -> dict:
    model = loaded_model(args)
    # The real taesd architecture (AutoencoderTiny's default config: what madebyollin/taesd is), random weights.
    taesd = TimedDecoder(AutoencoderTiny().eval(), "random taesd") if not args.tiny_taesd else \
        TimedDecoder(build_tiny_taesd(), "builtin:tiny-taesd")
    shares = []  # per TAESD job: the job's seconds with previews / without the previews' own seconds

    def run(decoder, every):
        def once():
            model.preview_decoder = decoder
            clock = JobClock(preview_every=every, preview_max_size=args.preview_size)
            decoded_before = taesd.decode_s
            seconds = job(model, args, clock)
            if decoder is not None:
                preview_s = taesd.decode_s - decoded_before + clock.encode_s
                shares.append(seconds / (seconds - preview_s))
            return seconds
        return once

    medians = interleaved({"off": run(None, 0), "taesd": run(taesd, 1), "linear": run(None, 1)}, args.repeats)
    in_run = statistics.median(shares[1:] or shares)  # not the warm-up
    rows = [[name, f"{seconds:.3f}", f"{seconds / medians['off']:.3f}"] for name, seconds in medians.items()]
    print_table(["previews every step", "job s", "x off"], rows)
    ratio = medians["taesd"] / medians["off"]
    per_preview_ms = (medians["taesd"] - medians["off"]) / args.steps * 1e3
    per_step_ms = medians["off"] / args.steps * 1e3
    print(f"TAESD previews every step cost {ratio:.3f}x a job without previews (goal <= {PREVIEW_GOAL}x): "
          f"{per_preview_ms:.0f} ms per preview (decode + JPEG) against {per_step_ms:.0f} ms per step of the job")
    print(f"measured inside the TAESD jobs (decode + JPEG time vs the rest of the same job): {in_run:.3f}x")
    return dict(medians_s=medians, taesd_ratio=ratio, linear_ratio=medians["linear"] / medians["off"],
                taesd=taesd.source, per_preview_ms=per_preview_ms, per_step_ms=per_step_ms, in_run_ratio=in_run)


def bench_cache(args) -> dict:
    from diffusers import StableDiffusionPipeline

    model = loaded_model(args)
    encode_prompt = StableDiffusionPipeline.encode_prompt
    encoding = []  # seconds in the text encoders during the current job (the pipeline's or the cache's encode)

    def timed_encode_prompt(self, *a, **kw):
        started = time.perf_counter()
        try:
            return encode_prompt(self, *a, **kw)
        finally:
            encoding.append(time.perf_counter() - started)

    spent = {"cache off": [], "cache on (hit)": []}  # (job seconds, seconds in the text encoders) per job

    def run(entries, name):
        def once():
            model.prompt_cache.max_entries = entries
            encoding.clear()
            seconds = job(model, args, JobClock())
            spent[name].append((seconds, sum(encoding)))
            return seconds
        return once

    StableDiffusionPipeline.encode_prompt = timed_encode_prompt
    try:
        medians = interleaved({"cache off": run(0, "cache off"), "cache on (hit)": run(64, "cache on (hit)")},
                              args.repeats)
    finally:
        StableDiffusionPipeline.encode_prompt = encode_prompt
    encode_ms = statistics.median(s for _, s in spent["cache off"][1:]) * 1e3
    hit_encode_ms = statistics.median(s for _, s in spent["cache on (hit)"][1:]) * 1e3
    in_run = statistics.median((total - s) / total for total, s in spent["cache off"][1:])
    print(f"text encoders: {encode_ms:.1f} ms per uncached job, {hit_encode_ms:.1f} ms per cache hit; measured "
          f"inside the uncached jobs, a hit makes a job {in_run:.3f}x as long")
    hits = model.prompt_cache.hits
    saved_ms = (medians["cache off"] - medians["cache on (hit)"]) * 1e3
    print_table(["repeated prompt", "job s", "x off"],
                [[name, f"{seconds:.3f}", f"{seconds / medians['cache off']:.3f}"]
                 for name, seconds in medians.items()])
    print(f"a cache hit saves {saved_ms:.0f} ms per job ({hits} hits); the text encoders' share of a "
          f"{args.steps}-step job")
    return dict(medians_s=medians, saved_ms=saved_ms, hits=hits, encode_ms=encode_ms, hit_encode_ms=hit_encode_ms,
                in_run_ratio=in_run, ratio=medians["cache on (hit)"] / medians["cache off"])


def bench_compile(args) -> dict:
    eager = loaded_model(args, "eager")
    compiled = loaded_model(args, "compiled")
    compiled.profile = choose_profile(torch.device("cpu"), torch.float32, ProfileOptions(compile=True))
    compile_module(compiled.pipeline.unet, compiled.profile)
    started = time.perf_counter()
    job(compiled, args, JobClock(), steps=2)
    compile_s = time.perf_counter() - started
    medians = interleaved({"eager": lambda: job(eager, args, JobClock()),
                           "compiled": lambda: job(compiled, args, JobClock())}, args.repeats)
    sizes, graphs = {}, {}
    for size in (args.size + 64, args.size + 128):  # the first new size recompiles (dynamic), the next does not
        before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        started = time.perf_counter()
        job(compiled, args, JobClock(), steps=2, size=size)
        sizes[size] = time.perf_counter() - started
        graphs[size] = torch._dynamo.utils.counters["stats"]["unique_graphs"] - before
    print_table(["UNet", "job s", "x eager"],
                [[name, f"{seconds:.3f}", f"{medians['eager'] / seconds:.2f}"] for name, seconds in medians.items()])
    print(f"compile + first 2-step job: {compile_s:.1f} s; then a 2-step job at a new size: "
          + ", ".join(f"{size}²: {seconds:.1f} s ({graphs[size]} graphs compiled)" for size, seconds in sizes.items()))
    return dict(medians_s=medians, speedup=medians["eager"] / medians["compiled"], compile_s=compile_s,
                new_size_s=sizes, new_size_graphs=graphs)


SECTIONS = {"previews": bench_previews, "cache": bench_cache, "compile": bench_compile}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", nargs="+", choices=[*SECTIONS, "all"], default=["all"])
    parser.add_argument("--full-size", action="store_true", help="SD1.5's real configs (random weights)")
    parser.add_argument("--tiny-taesd", action="store_true", help="previews by the tiny preset's TAESD")
    parser.add_argument("--preview-size", type=int, default=256,
                        help="longest preview side (the job option preview_max_size; default 256)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--scheduler", default="unipc")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str, metavar="OUT")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sections = list(SECTIONS) if "all" in args.section else args.section
    print(f"CPU, torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"{'full-size SD1.5 configs' if args.full_size else 'tiny configs'}, {args.size}², {args.steps} steps, "
          f"guidance {args.guidance:g}, {args.scheduler}, {args.repeats} interleaved runs (medians)", flush=True)
    results = {}
    with OtherProcessesCpu() as others:
        for name in sections:
            print(f"\n== {name}", flush=True)
            results[name] = SECTIONS[name](args)
    print(f"\n{others.describe()}")
    if args.json:
        from pathlib import Path

        write_json(Path(args.json), dict(vars(args), results=results, **others.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
