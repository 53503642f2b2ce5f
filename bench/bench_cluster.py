"""Cluster mode (docs/cluster.md) against a single server, side by side in one run, on a local Ray head:

1. throughput: JOBS jobs submitted at once to an ingress with 1 Worker replica, then with 2 (the same application
   scaled: the first replica stays); each replica pinned to one torch thread (goal: 2 replicas >= 1.5x of 1);
2. ingress overhead: jobs one at a time, end to end (submit -> result decoded at the client), through a single
   server (no Ray, one torch thread) and through the cluster ingress with one replica (one thread); the difference
   per job is what the cluster adds: Serve routing, the object transfer of the request, events and output
   (goal <= 30 ms). Interleaved in rounds, so drift on a shared machine hits both alike.

    PYTHONPATH=server .venv/bin/python bench/bench_cluster.py [--size 128] [--steps 8] [--jobs 16] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import OtherProcessesCpu, print_table, write_json
from dccbridge.client import Client
from dccbridge.cluster.config import ClusterConfig
from dccbridge.cluster.local import LocalRayHead, replica_environment
from dccbridge.imaging import decode_image
from dccbridge.models.profile import ProfileOptions
from dccbridge.serve import ServeConfig, Server
from dccbridge.v1 import tasks_pb2

SCALING_GOAL = 1.5
OVERHEAD_GOAL_MS = 30.0
REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=16, help="jobs per throughput measurement (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds, 1 then 2 replicas each")
    parser.add_argument("--sequential", type=int, default=12, help="jobs per overhead measurement (default 12)")
    parser.add_argument("--json", type=Path, metavar="OUT")
    return parser.parse_args()


def task(args, seed: int) -> tasks_pb2.Task:
    sampling = tasks_pb2.Sampling(num_inference_steps=args.steps, seed=seed)
    return tasks_pb2.Task(generate=tasks_pb2.GenerateTask(prompt="a red cube", width=args.size, height=args.size,
                                                          sampling=sampling))


def one_job(address: str, job_task) -> np.ndarray:
    with Client(address) as client:
        job = client.wait_result(client.submit(job_task).job_id)
        return decode_image(job.result.images[0].image.data, "result")


def throughput(address: str, args, seeds) -> float:
    """Jobs per second with all jobs in the queue at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(seeds)) as pool:
        list(pool.map(lambda seed: one_job(address, task(args, seed)), seeds))
    return len(seeds) / (time.perf_counter() - started)


def latencies(address: str, args, seeds) -> list[float]:
    out = []
    for seed in seeds:
        started = time.perf_counter()
        one_job(address, task(args, seed))
        out.append(time.perf_counter() - started)
    return out


PLAIN = """
import sys, time, torch
torch.set_num_threads(1)
from dccbridge.domain import GenerateRequest, Sampling
from dccbridge.models import Catalog, ModelManager
from dccbridge.models.profile import ProfileOptions
from dccbridge.ops import Limits, OpEnv, Ops
from dccbridge.ops.context import NullContext
size, steps, jobs = map(int, sys.argv[1:4])
manager = ModelManager(Catalog.preset("tiny"), device="cpu", profile=ProfileOptions(threads=1))
ops = Ops(OpEnv(manager, Limits()))
run = lambda seed: ops.run(GenerateRequest("a red cube", width=size, height=size,
                                           sampling=Sampling(num_inference_steps=steps, seed=seed)), NullContext())
run(0)
print("ready", flush=True)
sys.stdin.readline()
started = time.perf_counter()
for seed in range(jobs):
    run(seed)
print(time.perf_counter() - started, flush=True)
"""


def plain_processes(args, processes: int) -> float:
    """The machine's own scaling now: jobs/s of `processes` plain processes running the tiny pipeline directly
    (no server, no Ray), each with args.jobs/processes jobs, started together once all are loaded."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO / "server"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    per = args.jobs // processes
    procs = [subprocess.Popen([sys.executable, "-c", PLAIN, str(args.size), str(args.steps), str(per)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.stdout.readline()
        proc.wait(60)
    return per * processes / (time.perf_counter() - started)


def single_server_process(data_dir: Path):
    """The single server as its own process (like each replica), so neither path computes in the benchmark's own
    process; returns it and its gRPC address."""
    import os
    import re
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO / "server"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "dccbridge.cli", "serve", "--port", "0", "--no-http",
                                "--device", "cpu", "--threads", "1", "--batch-window-ms", "0", "--max-queue", "256",
                                "--data-dir", str(data_dir), "--log-level", "WARNING"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = re.search(r"listening on (127\.0\.0\.1:\d+)", process.stdout.readline())
    if not found:
        raise RuntimeError(f"the single server did not start ({process.wait()})")
    return process, found.group(1)


def server(data_dir: Path, **fields) -> Server:
    config = ServeConfig(port=0, http_port=None, data_dir=data_dir, device="cpu", grace_s=10, batch_window_ms=0,
                         profile=ProfileOptions(threads=1), max_queue=256, **fields)
    started = Server(config).start()
    if not started.settled.wait(300) or started.load_error is not None:
        raise RuntimeError(f"the server did not get ready: {started.load_error}")
    return started


def main() -> int:
    args = parse_args()
    head = LocalRayHead(num_cpus=4, env=replica_environment(REPO / "server", threads=1)).start()
    figures: dict = {"size": args.size, "steps": args.steps, "jobs": args.jobs}
    try:
        with tempfile.TemporaryDirectory(prefix="dccb-bench-") as tmp:
            single, single_address = single_server_process(Path(tmp) / "single")
            ingress = server(Path(tmp) / "cluster", cluster=ClusterConfig(address=head.address, replicas=1))
            cluster_address = f"127.0.0.1:{ingress.port}"
            one_job(cluster_address, task(args, 0))  # warm: routing, first transfer
            one_job(single_address, task(args, 0))
            with OtherProcessesCpu() as others:
                rates = {1: [], 2: []}
                plain = {1: [], 2: []}
                for _ in range(args.rounds):
                    for replicas in (1, 2):
                        ingress.cluster.scale(replicas)
                        while ingress.cluster.capacity() < replicas:  # the replica listing caught up
                            time.sleep(0.1)
                        rates[replicas].append(throughput(cluster_address, args, list(range(1, args.jobs + 1))))
                    for processes in (1, 2):
                        plain[processes].append(plain_processes(args, processes))
                ingress.cluster.scale(1)
                while ingress.cluster.capacity() > 1:
                    time.sleep(0.1)
                seeds = list(range(100, 100 + args.sequential))
                single_s, cluster_s = [], []
                for half in (seeds[: len(seeds) // 2], seeds[len(seeds) // 2:]):  # interleaved halves
                    single_s += latencies(single_address, args, half)
                    cluster_s += latencies(cluster_address, args, half)
            same = all(np.array_equal(one_job(single_address, task(args, s)), one_job(cluster_address, task(args, s)))
                       for s in seeds[:2])
            ingress.stop(5)
            single.terminate()
            single.wait(30)
    finally:
        import ray

        ray.shutdown()
        head.stop()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    plain_one, plain_two = statistics.median(plain[1]), statistics.median(plain[2])
    overhead_ms = (statistics.median(cluster_s) - statistics.median(single_s)) * 1000
    figures.update(jobs_per_s_1_replica=rates[1], jobs_per_s_2_replicas=rates[2], scaling=two / one,
                   plain_jobs_per_s_1_process=plain[1], plain_jobs_per_s_2_processes=plain[2],
                   plain_scaling=plain_two / plain_one,
                   single_server_s=single_s, cluster_s=cluster_s, ingress_overhead_ms=overhead_ms,
                   same_pixels=same, **others.as_dict())
    print(f"{args.size}x{args.size}, {args.steps} steps, tiny preset, CPU replicas with one torch thread each")
    print_table(["", "jobs/s (median)", "runs"],
                [["1 replica", f"{one:.2f}", " ".join(f"{r:.2f}" for r in rates[1])],
                 ["2 replicas", f"{two:.2f}", " ".join(f"{r:.2f}" for r in rates[2])],
                 ["1 plain process", f"{plain_one:.2f}", " ".join(f"{r:.2f}" for r in plain[1])],
                 ["2 plain processes", f"{plain_two:.2f}", " ".join(f"{r:.2f}" for r in plain[2])]])
    print(f"scaling 2 vs 1 replica: {two / one:.2f}x (goal >= {SCALING_GOAL}x); the machine now, 2 vs 1 plain "
          f"process: {plain_two / plain_one:.2f}x")
    print_table(["one job at a time", "median s", "p90 s"],
                [["single server", f"{statistics.median(single_s):.3f}", f"{np.percentile(single_s, 90):.3f}"],
                 ["cluster ingress", f"{statistics.median(cluster_s):.3f}", f"{np.percentile(cluster_s, 90):.3f}"]])
    print(f"ingress overhead per job: {overhead_ms:.1f} ms (goal <= {OVERHEAD_GOAL_MS:.0f} ms); "
          f"same pixels: {same}")
    print(others.describe().replace("other processes", "other processes (replicas and Ray included)"))
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
