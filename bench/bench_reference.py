"""The extra cost of a reference unit (IP-Adapter image prompt) per denoising step, relative to none.

Two measurements, each side by side in one run (variants interleaved per repetition):
1. UNet step: one classifier-free-guidance UNet call (batch 2) with no IP-Adapter, with IP-Adapter and with
   IP-Adapter Plus, loaded through diffusers' own `_load_ip_adapter_weights` (what `load_ip_adapter` calls) and
   taken off again between variants the way the server does (models/ip_adapters.py). For the tiny UNet and, unless
   --no-sd15, an SD1.5-sized UNet (random weights; real ip-adapter_sd15 / ip-adapter-plus_sd15 shapes: ViT-H
   1024-d embeddings, 257 patch tokens, 16 Resampler queries) at --sd15-size.
2. Whole job through the real server on the tiny preset: a generate job's wall time with and without one
   reference unit (this includes encoding the reference image once per job).

    .venv/bin/python bench/bench_reference.py [--steps 4] [--repeats 3] [--sd15-size 256] [--no-sd15] [--threads N]
                                              [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from diffusers import UNet2DConditionModel

from _common import OtherProcessesCpu, add_server_arguments, print_table, running_server, write_json
from dccbridge.client import Client
from dccbridge.imaging import encode_png
from dccbridge.models import tiny
from dccbridge.models.tiny_ip_adapter import IMAGE_ENCODER_CONFIG, ip_adapter_state_dict
from dccbridge.v1 import control_pb2, media_pb2, tasks_pb2

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
                 layers_per_block=2, cross_attention_dim=768, attention_head_dim=8,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
# (image_embed_dim, encoder width, encoder tokens, Plus Resampler width, Plus queries)
SD15_ENCODER = (1024, 1280, 257, 768, 16)
TINY_PATCHES = (IMAGE_ENCODER_CONFIG["image_size"] // IMAGE_ENCODER_CONFIG["patch_size"]) ** 2 + 1
TINY_ENCODER = (IMAGE_ENCODER_CONFIG["projection_dim"], IMAGE_ENCODER_CONFIG["hidden_size"], TINY_PATCHES, 64, 4)
VARIANTS = ("none", "ip-adapter", "ip-adapter-plus")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="UNet calls timed per variant and repetition")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny-size", type=int, default=128, help="image size for the tiny UNet and the jobs")
    parser.add_argument("--sd15-size", type=int, default=256, help="image size for the SD1.5-sized UNet")
    parser.add_argument("--no-sd15", action="store_true", help="skip the SD1.5-sized UNet (slow on a CPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    add_server_arguments(parser)
    return parser.parse_args()


def _split(flat: dict) -> dict:
    state = {"image_proj": {}, "ip_adapter": {}}
    for key, value in flat.items():
        group, _, name = key.partition(".")
        state[group][name] = value
    return state


def unet_step_ms(label: str, config: dict, encoder: tuple, size: int, steps: int, repeats: int,
                 device: torch.device) -> list[dict]:
    """Median ms per CFG UNet call per variant, interleaved per repetition."""
    embed_dim, hidden, tokens, plus_hidden, plus_queries = encoder
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**config).eval().to(device)
    own = (dict(unet.attn_processors), unet.encoder_hid_proj, unet.config.encoder_hid_dim_type)
    variants = {"none": None}
    for kind in VARIANTS[1:]:
        state = ip_adapter_state_dict(config, kind, 1, embed_dim, hidden, plus_hidden, plus_queries)
        unet._load_ip_adapter_weights([_split(state)], low_cpu_mem_usage=False)
        variants[kind] = (dict(unet.attn_processors), unet.encoder_hid_proj)
        restore(unet, own)
    latent = size // 8
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(2, 4, latent, latent, generator=generator).to(device)
    text = torch.randn(2, 77, config["cross_attention_dim"], generator=generator).to(device)
    embeds = {"ip-adapter": [torch.randn(2, 1, embed_dim, generator=generator).to(device)],
              "ip-adapter-plus": [torch.randn(2, 1, tokens, hidden, generator=generator).to(device)]}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.inference_mode():
        for repeat in range(repeats + 1):  # the first round warms up and is not counted
            for name, loaded in variants.items():
                if loaded is not None:
                    unet.encoder_hid_proj = loaded[1]
                    unet.config.encoder_hid_dim_type = "ip_image_proj"
                    unet.set_attn_processor(dict(loaded[0]))
                extra = {"added_cond_kwargs": {"image_embeds": embeds[name]}} if loaded is not None else {}
                _sync(device)
                start = time.perf_counter()
                for _ in range(steps):
                    unet(sample, 500, encoder_hidden_states=text, **extra)
                _sync(device)
                if repeat:
                    times[name].append((time.perf_counter() - start) * 1000 / steps)
                restore(unet, own)
    base = statistics.median(times["none"])
    return [{"unet": label, "size": size, "variant": name, "ms_per_step": round(statistics.median(values), 2),
             "ratio": round(statistics.median(values) / base, 3)} for name, values in times.items()]


def restore(unet, own) -> None:
    unet.encoder_hid_proj = own[1]
    unet.config.encoder_hid_dim_type = own[2]
    unet.set_attn_processor(dict(own[0]))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def job_times(args) -> list[dict]:
    """Whole generate jobs through the real server: none vs one reference unit per IP-Adapter kind."""
    reference = np.kron(np.random.default_rng(3).integers(0, 256, (4, 4, 3), dtype=np.uint8),
                        np.ones((16, 16, 1), np.uint8))
    image = media_pb2.Image(data=encode_png(reference), mime_type="image/png")
    units = {"none": [], "ip-adapter": [control_pb2.ControlUnit(
        control_type=control_pb2.CONTROL_TYPE_REFERENCE, adapter_id="tiny-ip-adapter",
        reference=control_pb2.ReferenceImages(images=[image]))], "ip-adapter-plus": [control_pb2.ControlUnit(
            control_type=control_pb2.CONTROL_TYPE_REFERENCE, adapter_id="tiny-ip-adapter-plus",
            reference=control_pb2.ReferenceImages(images=[image]))]}
    times: dict[str, list[float]] = {name: [] for name in units}
    with running_server(args) as server, Client(f"127.0.0.1:{server.port}", client_name="bench") as client:
        for repeat in range(args.repeats + 1):
            for name, unit_list in units.items():
                task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
                    prompt="a harbour", width=args.tiny_size, height=args.tiny_size, control_units=unit_list,
                    sampling=tasks_pb2.Sampling(num_inference_steps=args.steps * 2, seed=repeat)))
                start = time.perf_counter()
                events = list(client.run(task))
                elapsed = time.perf_counter() - start
                assert events[-1].WhichOneof("event") == "result", events[-1]
                if repeat:
                    times[name].append(elapsed * 1000)
    base = statistics.median(times["none"])
    return [{"job": f"tiny {args.tiny_size}², {args.steps * 2} steps", "variant": name,
             "ms_per_job": round(statistics.median(values), 1), "ratio": round(statistics.median(values) / base, 3)}
            for name, values in times.items()]


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    others = OtherProcessesCpu()
    with others:
        rows = unet_step_ms("tiny", tiny.UNET_CONFIG, TINY_ENCODER, args.tiny_size, args.steps, args.repeats, device)
        if not args.no_sd15:
            rows += unet_step_ms("SD1.5-sized", SD15_UNET, SD15_ENCODER, args.sd15_size, args.steps, args.repeats,
                                 device)
        jobs = job_times(args)
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("\nUNet step (one CFG call, batch 2), median ms:")
    print_table(["UNet", "size", "variant", "ms/step", "vs none"],
                [[r["unet"], r["size"], r["variant"], r["ms_per_step"], f"{r['ratio']:.2f}x"] for r in rows])
    print("\nWhole job through the server (tiny preset), median ms:")
    print_table(["job", "variant", "ms/job", "vs none"],
                [[r["job"], r["variant"], r["ms_per_job"], f"{r['ratio']:.2f}x"] for r in jobs])
    if others.share is not None:
        print(f"\nother processes used {others.share:.0%} of the machine's CPU time during the run")
    write_json(args.json, {"unet_steps": rows, "jobs": jobs, "other_processes_cpu_share": others.share})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
