"""Cross-request batching: N compatible generate jobs submitted at once vs. one after another, through the real
gRPC server (docs/batching.md).

Three paths, each on a real in-process server with the same model, interleaved per repetition:
- "one after another": a client submits a job, waits for its result, submits the next (batching off, so no job
  waits for company);
- "at once, batching off": all N submitted together, run one by one (what the queue alone gives);
- "at once, batching on": all N submitted together; the worker runs them as batches (--batch-window-ms, default 30).
Timed from the first submit until the last result's PNG is decoded on the client. The jobs differ in prompt and
seed only. The batched pixels are compared with the one-after-another pixels (the tolerance of docs/batching.md:
>= 99 % of values within 1 level, none off by more than 4).

    .venv/bin/python bench/bench_batching.py [--jobs 8] [--sizes 64 128] [--steps 8] [--repeats 3] [--threads N]
                                             [--device cpu|cuda] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import numpy as np
import torch

from _common import (OtherProcessesCpu, add_server_arguments, describe_machine, print_machine, print_table,
                     running_server, write_json)
from dccbridge.client import Client
from dccbridge.imaging import decode_image
from dccbridge.v1 import jobs_pb2, tasks_pb2

GOAL_RATIO = 1.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--scheduler", default="unipc")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path, interleaved (default: 3)")
    parser.add_argument("--batch-window-ms", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice); 1 is steadier on a shared machine")
    add_server_arguments(parser)
    return parser.parse_args()


def tasks(args, size: int) -> list[tasks_pb2.Task]:
    return [tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
        prompt=f"a red cube number {i} on a wooden table", width=size, height=size,
        sampling=tasks_pb2.Sampling(num_inference_steps=args.steps, guidance_scale=args.guidance,
                                    scheduler=args.scheduler, seed=1000 + i)))
        for i in range(args.jobs)]


def result_pixels(client: Client, job_id: str) -> np.ndarray:
    job = client.wait_result(job_id)
    if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
        raise RuntimeError(f"job {job_id} ended {jobs_pb2.JobState.Name(job.state)}: {job.failure.message}")
    return decode_image(job.result.images[0].image.data, "result")


def one_after_another(client: Client, batch: list[tasks_pb2.Task]) -> tuple[float, list[np.ndarray], list[dict]]:
    start = time.perf_counter()
    images = [result_pixels(client, client.submit(task).job_id) for task in batch]
    return time.perf_counter() - start, images, []


def at_once(client: Client, batch: list[tasks_pb2.Task]) -> tuple[float, list[np.ndarray], list[dict]]:
    start = time.perf_counter()
    job_ids = [client.submit(task).job_id for task in batch]
    images = [result_pixels(client, job_id) for job_id in job_ids]
    elapsed = time.perf_counter() - start
    records = [json.loads(client.get_job(job_id, omit_image_data=True).result.metadata_json).get("batch") or {}
               for job_id in job_ids]
    return elapsed, images, records


def compare(reference: list[np.ndarray], images: list[np.ndarray]) -> tuple[float, int]:
    """(share of values within 1 level, largest difference) over all jobs."""
    diffs = np.concatenate([np.abs(a.astype(np.int16) - b.astype(np.int16)).ravel()
                            for a, b in zip(reference, images)])
    return float((diffs <= 1).mean()), int(diffs.max())


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # the servers run in this process
    figures = {"jobs": args.jobs, "steps": args.steps, "scheduler": args.scheduler, "guidance": args.guidance,
               "batch_window_ms": args.batch_window_ms, "sizes": {}}
    with contextlib.ExitStack() as stack:
        plain = stack.enter_context(running_server(args, batch_window_ms=0))
        batching = stack.enter_context(running_server(args, batch_window_ms=args.batch_window_ms,
                                                      max_batch_jobs=args.jobs))
        plain_client = stack.enter_context(Client(f"127.0.0.1:{plain.port}", client_name="bench"))
        batch_client = stack.enter_context(Client(f"127.0.0.1:{batching.port}", client_name="bench"))
        machine = describe_machine(batching)
        print_machine(machine)
        figures["machine"] = machine
        paths = {
            "one after another": lambda batch: one_after_another(plain_client, batch),
            "at once, batching off": lambda batch: at_once(plain_client, batch),
            "at once, batching on": lambda batch: at_once(batch_client, batch),
        }
        rows = []
        with OtherProcessesCpu() as others:
            for size in args.sizes:
                batch = tasks(args, size)
                for run in paths.values():
                    run(batch[:2])  # warm-up: model load, first-call costs
                times = {name: [] for name in paths}
                reference, batched, records = None, None, []
                for _ in range(args.repeats):
                    for name, run in paths.items():
                        elapsed, images, record = run(batch)
                        times[name].append(elapsed)
                        if name == "one after another":
                            reference = images
                        elif name == "at once, batching on":
                            batched, records = images, record
                within_1, worst = compare(reference, batched)
                medians = {name: statistics.median(values) for name, values in times.items()}
                base = medians["one after another"]
                largest = max((r.get("gathered", {}).get("unet", 1) for r in records), default=1)
                figures["sizes"][str(size)] = {"median_s": medians, "runs_s": times,
                                               "ratio_batched": base / medians["at once, batching on"],
                                               "within_1_level": within_1, "max_diff": worst,
                                               "largest_unet_batch_jobs": largest}
                for name in paths:
                    rows.append([f"{size}² {name}", f"{medians[name]:.3f}", f"{args.jobs / medians[name]:.2f}",
                                 f"{base / medians[name]:.2f}x",
                                 f"{within_1 * 100:.2f} % / {worst}" if name == "at once, batching on" else "",
                                 largest if name == "at once, batching on" else ""])
        print(f"\n{args.jobs} jobs, {args.steps} steps, {args.scheduler}, guidance {args.guidance:g}; "
              f"median of {args.repeats} interleaved runs; {others.describe()}")
        print_table(["path", "s", "jobs/s", "vs one after another", "pixels ≤1 / max diff", "UNet batch"], rows)
        figures["other_processes"] = others.as_dict()
        ratios = [entry["ratio_batched"] for entry in figures["sizes"].values()]
        print(f"\nbatching on vs one after another: {', '.join(f'{r:.2f}x' for r in ratios)} "
              f"(goal >= {GOAL_RATIO}x)")
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
