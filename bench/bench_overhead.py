"""Server overhead: end-to-end `generate` through the real gRPC server vs the same diffusers pipeline called directly.

Both paths use the very same loaded components (the server's own model manager), the same scheduler, seed and
settings, so they must produce bit-identical pixels; the difference in time is what the server adds (validation,
job engine, PNG encode + fsync + index, reading the file back, gRPC transfer, client-side decode).

    .venv/bin/python bench/bench_overhead.py [--with-controlnet] [--device cuda] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline
from PIL import Image

from _common import (OtherProcessesCpu, add_server_arguments, describe_machine, print_machine, print_table,
                     running_server, write_json)
from dccbridge import control
from dccbridge.api import convert
from dccbridge.client import Client, depth_pass_from_array
from dccbridge.domain import ControlType
from dccbridge.imaging import decode_image
from dccbridge.models.schedulers import make_scheduler
from dccbridge.v1 import control_pb2, tasks_pb2

OVERHEAD_GOAL_RATIO = 1.03
CONTROL_FIELD = "control_units[0]"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scheduler", default="unipc")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--prompt", default="a red cube on a wooden table, studio light")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path, interleaved (default: 3)")
    parser.add_argument("--with-controlnet", action="store_true",
                        help="add a depth ControlNet unit fed by a synthetic float depth pass")
    add_server_arguments(parser)
    return parser.parse_args()


def synthetic_depth(width: int, height: int) -> np.ndarray:
    """Linear distance like a host's Z pass: a sphere in front of a receding floor, sky at +inf."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = 4.0 + 8.0 * (1.0 - y / height)  # the floor: far at the top, near at the bottom
    depth[: height // 4] = np.inf
    radius = min(width, height) / 4
    r2 = ((x - width / 2) ** 2 + (y - height / 2) ** 2) / radius**2
    inside = r2 < 1.0
    depth[inside] = 3.0 - np.sqrt(1.0 - r2[inside])
    return depth


def make_task(args, control_unit: control_pb2.ControlUnit | None) -> tasks_pb2.Task:
    sampling = tasks_pb2.Sampling(num_inference_steps=args.steps, guidance_scale=args.guidance,
                                  scheduler=args.scheduler, seed=args.seed)
    generate = tasks_pb2.GenerateTask(prompt=args.prompt, width=args.width, height=args.height, sampling=sampling,
                                      control_units=[control_unit] if control_unit is not None else [])
    return tasks_pb2.Task(generate=generate)


class DirectPath:
    """Plain diffusers over the server's loaded components: what a script without the server would do.

    It runs on a long-lived worker thread of its own, as ops do on the server's worker. On CPU the thread matters:
    glibc gives threads their own malloc arenas, and the same call ran up to 9 % slower on the main thread or
    on a thread whose arena had a different history (docs/benchmarks.md, "CPU allocator").
    """

    def __init__(self, model, args, control_unit: control_pb2.ControlUnit | None, worker: ThreadPoolExecutor):
        self.model = model
        self.args = args
        self.control_spec = convert.control_unit(control_unit, CONTROL_FIELD) if control_unit is not None else None
        self.worker = worker

    def _pipeline(self):
        base = self.model.pipeline
        if self.control_spec is None:
            pipe = StableDiffusionPipeline.from_pipe(base, dtype=base.dtype)
        else:
            controlnet = self.model.controlnet(ControlType.DEPTH)
            pipe = StableDiffusionControlNetPipeline.from_pipe(base, controlnet=controlnet, dtype=base.dtype)
        pipe.scheduler = make_scheduler(self.args.scheduler, base.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def run(self) -> tuple[float, np.ndarray]:
        return self.worker.submit(self._timed_call).result()

    def _timed_call(self) -> tuple[float, np.ndarray]:
        # A direct caller builds its pipeline once; only the call itself (plus the control map it must make
        # and the uint8 conversion) is timed, so building the pipeline per job counts as server overhead.
        pipe = self._pipeline()
        args = self.args
        start = time.perf_counter()
        kwargs = dict(prompt=args.prompt, width=args.width, height=args.height, num_inference_steps=args.steps,
                      guidance_scale=args.guidance, generator=torch.Generator("cpu").manual_seed(args.seed),
                      output_type="np")
        if self.control_spec is not None:
            depth_map = control.prepare_control_map(self.control_spec, args.width, args.height, CONTROL_FIELD)
            kwargs["image"] = Image.fromarray(depth_map)
        # The op runs under inference_mode too; diffusers' own no_grad is measurably slower for small models on
        # CPU (about 5 % on the tiny preset), which would make the server look faster than the direct call.
        with torch.inference_mode():
            images = pipe(**kwargs).images
        pixels = (np.clip(images[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return time.perf_counter() - start, pixels


class GrpcPath:
    """Run (submit + event stream) through the real server; timed from the call to decoded pixels."""

    def __init__(self, client: Client, task: tasks_pb2.Task):
        self.client = client
        self.task = task

    def run(self) -> tuple[float, np.ndarray, dict]:
        submitted_wall = time.time()
        start = time.perf_counter()
        marks = {}  # server wall-clock ms of the events that bound each phase
        result = None
        for event in self.client.run(self.task):
            kind = event.WhichOneof("event")
            if kind == "started":
                marks["started"] = event.time_ms
            elif kind == "progress" and event.progress.stage == "denoise":
                marks.setdefault("denoise_start", event.time_ms)
                marks["last_step"] = event.time_ms
            elif kind == "result":
                marks["result"], result = event.time_ms, event.result
            elif kind in ("failed", "cancelled"):
                raise RuntimeError(f"the job ended {kind}: {getattr(event, kind)}")
        pixels = decode_image(result.images[0].image.data, "result")
        elapsed = time.perf_counter() - start
        received_wall = time.time()
        # Event times are the server's wall clock in ms: the same process, so the same clock as ours.
        seconds = {name: ms / 1000 for name, ms in marks.items()}
        phases = {
            "submit -> started (validate, queue)": seconds["started"] - submitted_wall,
            "started -> denoise (pipeline, scheduler, control map)": seconds["denoise_start"] - seconds["started"],
            "denoise (prompt encode + all steps)": seconds["last_step"] - seconds["denoise_start"],
            "last step -> result (VAE decode, PNG, fsync, index)": seconds["result"] - seconds["last_step"],
            "result -> pixels on client (read, gRPC, decode)": received_wall - seconds["result"],
        }
        return elapsed, pixels, phases


def main() -> None:
    args = parse_args()
    control_unit = None
    if args.with_controlnet:
        depth = depth_pass_from_array(synthetic_depth(args.width, args.height), "linear", near=0.1, far=100.0)
        control_unit = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH, depth_pass=depth)

    with (running_server(args) as server,
          Client(f"127.0.0.1:{server.port}", client_name="bench") as client,
          ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-direct") as direct_worker):
        machine = describe_machine(server)
        model = server.manager.load(server.manager.catalog.default_id)
        direct = DirectPath(model, args, control_unit, direct_worker)
        grpc_path = GrpcPath(client, make_task(args, control_unit))

        with OtherProcessesCpu() as others:
            # Warm-up: loads the ControlNet, computes the weights hash, fills allocator and kernel caches.
            _, reference = direct.run()
            grpc_path.run()

            direct_times, grpc_times, phase_runs, identical = [], [], [], []
            for _ in range(args.repeats):  # interleaved, so drift (thermal, other load) hits both paths alike
                seconds, pixels = direct.run()
                direct_times.append(seconds)
                identical.append(np.array_equal(pixels, reference))
                seconds, pixels, phases = grpc_path.run()
                grpc_times.append(seconds)
                phase_runs.append(phases)
                identical.append(np.array_equal(pixels, reference))

    direct_median = statistics.median(direct_times)
    grpc_median = statistics.median(grpc_times)
    ratio = grpc_median / direct_median
    overhead_ms = (grpc_median - direct_median) * 1000
    # Pairs ran back to back, so their difference is less exposed to slow drift than the difference of medians.
    paired_overhead_ms = statistics.median(g - d for g, d in zip(grpc_times, direct_times)) * 1000
    direct_spread_ms = (max(direct_times) - min(direct_times)) * 1000
    phase_medians = {name: statistics.median(run[name] for run in phase_runs) for name in phase_runs[0]}
    pixels_identical = all(identical)

    print_machine(machine)
    print(others.describe())
    if machine["device"] == "cpu" and "MALLOC_ARENA_MAX" not in os.environ:
        print("hint: on CPU, MALLOC_ARENA_MAX=1 makes both paths allocate alike (docs/benchmarks.md, CPU allocator)")
    mode = "txt2img + depth ControlNet" if args.with_controlnet else "txt2img"
    print(f"{mode} {args.width}x{args.height}, {args.steps} steps, {args.scheduler}, guidance {args.guidance:g}, "
          f"model '{model.entry.id}', {args.repeats} interleaved runs per path\n")
    print_table(
        ["path", "median s", "runs s"],
        [[name, f"{statistics.median(times):.3f}", " ".join(f"{t:.3f}" for t in times)]
         for name, times in (("direct diffusers", direct_times), ("gRPC server", grpc_times))],
    )
    print(f"\nratio gRPC / direct (medians): {ratio:.4f} (goal <= {OVERHEAD_GOAL_RATIO})")
    print(f"overhead: {overhead_ms:+.1f} ms per image (difference of medians); "
          f"{paired_overhead_ms:+.1f} ms (median of paired differences)")
    print(f"run-to-run spread of the direct path: {direct_spread_ms:.1f} ms (an overhead below it is within noise)")
    print(f"pixels identical: {'yes' if pixels_identical else 'no'}\n")
    print("where the gRPC time goes (median; server event times have 1 ms resolution):")
    print_table(["phase", "ms"], [[name, f"{seconds * 1000:.0f}"] for name, seconds in phase_medians.items()])

    write_json(args.json, {
        "benchmark": "overhead",
        "machine": machine,
        "noise": others.as_dict(),
        "settings": {"mode": mode, "width": args.width, "height": args.height, "steps": args.steps,
                     "scheduler": args.scheduler, "guidance_scale": args.guidance, "seed": args.seed,
                     "model_id": model.entry.id, "repeats": args.repeats},
        "direct_s": direct_times,
        "grpc_s": grpc_times,
        "direct_median_s": direct_median,
        "grpc_median_s": grpc_median,
        "ratio": ratio,
        "goal_ratio": OVERHEAD_GOAL_RATIO,
        "overhead_ms": overhead_ms,
        "paired_overhead_ms": paired_overhead_ms,
        "direct_spread_ms": direct_spread_ms,
        "grpc_phases_median_s": phase_medians,
        "pixels_identical": pixels_identical,
    })


if __name__ == "__main__":
    main()
