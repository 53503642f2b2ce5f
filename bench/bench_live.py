"""Live mode (docs/live.md): what a live session through the real gRPC server costs and saves, side by side in one run.

1. Server overhead per frame: a client sends a frame and waits for its answer, frame after frame; the overhead is
   the client's round trip minus the pipeline time the server reports (LiveTimings.pipeline_ms): transport,
   decoding the input, the similarity signature, encoding the result, scheduling. Goal <= 10 ms.
2. Frames per second, live session vs calling the pipeline directly frame by frame (decode the input PNG, the
   diffusers img2img pipeline with the prompt, encode the PNG): with the similarity filter off (goal >= 1.0x), and
   on a sequence where 2 of 3 frames repeat their predecessor (goal >= 3x).
3. Stream batch (LIVE_PRIORITY_THROUGHPUT) vs latency mode: a sender offers frames faster than the model answers
   for a fixed time; computed frames per second of each.

    .venv/bin/python bench/bench_live.py [--size 64] [--steps 2] [--strength 0.5] [--frames 30] [--repeats 3]
                                         [--threads N] [--device cpu|cuda] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import torch
from PIL import Image

from _common import (OtherProcessesCpu, add_server_arguments, describe_machine, print_machine, print_table,
                     running_server, write_json)
from dccbridge import imaging
from dccbridge.client import Client
from dccbridge.client_live import live_session
from dccbridge.models.schedulers import make_scheduler

OVERHEAD_GOAL_MS = 10.0
PROMPT = "a castle on a hill, evening light"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--stream-steps", type=int, default=4, help="steps of the stream-batch comparison")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each stream-batch run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    add_server_arguments(parser)
    return parser.parse_args()


def frames(args, repeat_every: int = 1) -> list[bytes]:
    """PNG frames; repeat_every=3: each new image is followed by two exact repeats (2 of 3 frames repeat)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(args.frames):
        if i % repeat_every == 0:
            image = imaging.encode_png(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))
        out.append(image)
    return out


def session_fields(args, **extra) -> dict:
    return dict(prompt=PROMPT, width=args.size, height=args.size, steps=args.steps, strength=args.strength, seed=1,
                **extra)


def run_session(client, args, images: list[bytes], threshold: float) -> tuple[float, list[float]]:
    """Send each frame and wait for its answer: (seconds, per-frame overhead ms for computed frames)."""
    with live_session(client, **session_fields(args, similarity_threshold=threshold)) as live:
        live.send(1, image_bytes=images[0])  # warm: the view, the prompt embeddings
        live.answers(1)
        overheads = []
        started = time.perf_counter()
        for number, data in enumerate(images, start=2):
            sent = time.perf_counter()
            live.send(number, image_bytes=data)
            (event,) = live.answers(1)
            round_trip_ms = (time.perf_counter() - sent) * 1000
            if not event.result.reused:
                overheads.append(round_trip_ms - event.result.timings.pipeline_ms)
        return time.perf_counter() - started, overheads


def direct_pipeline(server, args):
    """The diffusers img2img pipeline over the server's loaded model, with its own scheduler, called per frame."""
    from diffusers import StableDiffusionImg2ImgPipeline

    model = server.manager.load("")
    pipe = StableDiffusionImg2ImgPipeline.from_pipe(model.pipeline)
    pipe.scheduler = make_scheduler(model.entry.default_scheduler, model.pipeline.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    guidance = model.entry.default_guidance_scale

    def run(images: list[bytes]) -> float:
        started = time.perf_counter()
        for data in images:
            pixels = imaging.decode_image(data, "frame")
            with torch.inference_mode():
                out = pipe(prompt=PROMPT, image=Image.fromarray(pixels), strength=args.strength,
                           num_inference_steps=args.steps, guidance_scale=guidance, output_type="np",
                           generator=torch.Generator("cpu").manual_seed(1)).images[0]
            imaging.encode_png((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
        return time.perf_counter() - started

    run(frames(args)[:1])  # warm
    return run


def offered_load(client, args, throughput: bool) -> tuple[float, float]:
    """Frames offered faster than answered for args.seconds: (computed frames/s, mean stream batch)."""
    images = frames(args)
    fields = session_fields(args, similarity_threshold=0, throughput=throughput)
    fields["steps"] = args.stream_steps
    stop = threading.Event()
    with live_session(client, **fields) as live:
        live.send(1, image_bytes=images[0])
        live.answers(1)

        def offer():
            number = 1
            while not stop.is_set():
                number += 1
                live.send(number, image_bytes=images[number % len(images)])
                time.sleep(0.002)

        sender = threading.Thread(target=offer)
        sender.start()
        time.sleep(args.seconds)
        stop.set()
        sender.join()
    results = [e.result for e in live.drain() if e.WhichOneof("event") == "result"]
    if len(results) < 2:
        return 0.0, 1.0
    batches = statistics.mean(r.timings.stream_batch for r in results)
    return len(results) / args.seconds, batches


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with running_server(args) as server, OtherProcessesCpu() as others:
        machine = describe_machine(server)
        print_machine(machine)
        print(f"tiny preset, {args.size}², {args.steps} steps at strength {args.strength} (img2img), "
              f"{args.frames} frames, {args.repeats} repeats", flush=True)
        client = Client(f"127.0.0.1:{server.port}", client_name="bench-live")
        direct = direct_pipeline(server, args)
        distinct, repeating = frames(args), frames(args, repeat_every=3)
        timing = {key: [] for key in ("direct", "live", "direct_rep", "live_rep")}
        overheads: list[float] = []
        for _ in range(args.repeats):  # interleaved: the machine's load drifts alike for every path
            timing["direct"].append(direct(distinct))
            seconds, frame_overheads = run_session(client, args, distinct, threshold=0.0)
            timing["live"].append(seconds)
            overheads += frame_overheads
            timing["direct_rep"].append(direct(repeating))
            timing["live_rep"].append(run_session(client, args, repeating, threshold=0.98)[0])
        fps = {key: args.frames / statistics.median(values) for key, values in timing.items()}
        stream = {"latency": [], "throughput": []}
        for _ in range(args.repeats):
            for mode in stream:
                stream[mode].append(offered_load(client, args, throughput=mode == "throughput"))
        client.close()
    overhead_ms = statistics.median(overheads)
    ratio = fps["live"] / fps["direct"]
    ratio_rep = fps["live_rep"] / fps["direct_rep"]
    latency_fps = statistics.median(f for f, _ in stream["latency"])
    stream_fps = statistics.median(f for f, _ in stream["throughput"])
    stream_batch = statistics.median(b for _, b in stream["throughput"])
    print_table(["measure", "figure", "goal"], [
        ["server overhead per computed frame (median)", f"{overhead_ms:.1f} ms", f"<= {OVERHEAD_GOAL_MS:g} ms"],
        ["direct pipeline, distinct frames", f"{fps['direct']:.1f} fps", ""],
        ["live session, similarity filter off", f"{fps['live']:.1f} fps ({ratio:.2f}x)", ">= 1.0x"],
        ["direct pipeline, 2 of 3 frames repeat", f"{fps['direct_rep']:.1f} fps", ""],
        ["live session, 2 of 3 frames repeat (filter 0.98)", f"{fps['live_rep']:.1f} fps ({ratio_rep:.2f}x)",
         ">= 3x"],
        [f"latency mode, frames offered faster ({args.stream_steps} steps)", f"{latency_fps:.1f} fps", ""],
        [f"stream batch, same offer (mean batch {stream_batch:.1f})",
         f"{stream_fps:.1f} fps ({stream_fps / latency_fps if latency_fps else 0:.2f}x)", ""],
    ])
    print(others.describe())
    write_json(args.json, dict(machine=machine, args={k: str(v) for k, v in vars(args).items()},
                               overhead_ms=overhead_ms, fps=fps, ratio_distinct=ratio, ratio_repeating=ratio_rep,
                               latency_fps=latency_fps, stream_fps=stream_fps, stream_batch=stream_batch,
                               **others.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
