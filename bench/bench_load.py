"""Load and restarts: N jobs from C clients that drop their streams, with a SIGTERM and a SIGKILL of the server
mid-queue, each followed by a restart on the same data directory. Then it counts, from the index and the result
files: accepted jobs lost, jobs that ran twice for one client request, jobs carried over a stop, `*.part` files,
and the server's RSS growth within each life.

    .venv/bin/python bench/bench_load.py [--jobs 1000] [--clients 16] [--size 64] [--steps 1] [--json OUT]

Clients (threads, one channel each) label every request `cN-K`. Each submit goes one of four ways: submit only;
submit, watch and cancel the stream after its first event; Run and cancel after the first event; watch on a new
channel and close the channel. A refused submit (RESOURCE_EXHAUSTED) waits for the retry hint; a failed one while
the server is down (UNAVAILABLE) is retried once the server is back, after looking the label up with ListJobs, so
a submit whose answer was lost in the kill is not sent twice. The SIGTERM comes once a third of the jobs have
succeeded, the SIGKILL at two thirds (the clients keep the queue full, so both land mid-queue).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from dccbridge.client import Client
from dccbridge.v1 import jobs_pb2, tasks_pb2

SERVER_START_TIMEOUT_S = 120
# What a call gets while the server stops or is down: retry once it is back.
SERVER_GONE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="image width and height (default 64)")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--max-queue", type=int, default=64, help="the server's --max-queue (default 64)")
    parser.add_argument("--batch-window-ms", type=int, default=30,
                        help="the server's --batch-window-ms (default 30, as `serve`; 0 = no batching)")
    parser.add_argument("--grace", type=float, default=2.0, help="the server's --grace at the SIGTERM (default 2)")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON to OUT")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`dccbridge serve` in a child process on a fixed port, so clients reconnect to the same address."""

    def __init__(self, data_dir: Path, port: int, args, life: int):
        self.log = data_dir / f"server-{life}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dccbridge.cli", "serve", "--port", str(port), "--no-http", "--device", "cpu",
             "--data-dir", str(data_dir), "--max-queue", str(args.max_queue), "--grace", str(args.grace),
             "--batch-window-ms", str(args.batch_window_ms),
             "--log-level", "WARNING"],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        self.rss_samples: list[int] = []
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    def _sample_rss(self) -> None:
        while self.process.poll() is None:
            try:
                for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss_samples.append(int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.25)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=120)


class Clients:
    """The client threads and what they learnt: label -> job id of every accepted submit."""

    def __init__(self, address: str, args):
        self.address = address
        self.args = args
        self.accepted: dict[str, str] = {}
        self.retried_refused = 0
        self.retried_unavailable = 0
        self.errors: list[str] = []  # a client that stopped on an unexpected error
        self._lock = threading.Lock()
        shares = [range(c, args.jobs, args.clients) for c in range(args.clients)]
        self.threads = [threading.Thread(target=self._client, args=(c, share), daemon=True)
                        for c, share in enumerate(shares)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _client(self, c: int, share) -> None:
        try:
            with Client(self.address, client_name=f"c{c}") as client:
                for n in share:
                    label = f"c{c}-{n}"
                    job_id = self._submit(client, label, n)
                    with self._lock:
                        self.accepted[label] = job_id
        except Exception as error:  # noqa: BLE001 - reported in the figures, and the run fails
            with self._lock:
                self.errors.append(f"client c{c}: {type(error).__name__}: {error}")

    def _submit(self, client: Client, label: str, n: int) -> str:
        task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
            prompt=f"load {label}", width=self.args.size, height=self.args.size,
            sampling=tasks_pb2.Sampling(num_inference_steps=self.args.steps)))
        options = jobs_pb2.JobOptions(label=label)
        while True:
            try:
                return self._submit_once(client, task, options, n % 4)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    with self._lock:
                        self.retried_refused += 1
                    retry_ms = int(dict(error.trailing_metadata() or ()).get("retry-after-ms", "200"))
                    time.sleep(min(retry_ms, 500) / 1000)
                    continue
                if error.code() not in SERVER_GONE:
                    raise
            with self._lock:
                self.retried_unavailable += 1
            found = self._find_label(client, label)  # the kill may have come after the server took the job
            if found:
                return found

    def _submit_once(self, client: Client, task, options, way: int) -> str:
        if way == 2:  # Run, then drop the stream after its first event
            stream = client.run(task, options)
            job_id = next(iter(stream)).job_id
            stream.cancel()
            return job_id
        job = client.submit(task, options)
        if way == 1:  # watch, then drop the stream
            stream = client.watch(job.job_id)
            next(iter(stream), None)
            stream.cancel()
        elif way == 3:  # watch on a channel of its own, then close the channel under it
            other = Client(self.address)
            stream = other.watch(job.job_id)
            next(iter(stream), None)
            other.close()
        return job.job_id

    def _find_label(self, client: Client, label: str) -> str:
        """The job with this label, waiting for the server to come back."""
        while True:
            try:
                token = ""
                while True:
                    page = client.list_jobs(page_size=500, page_token=token)
                    for job in page.jobs:
                        if job.label == label:
                            return job.job_id
                    token = page.next_page_token
                    if not token:
                        return ""
            except grpc.RpcError as error:
                if error.code() not in SERVER_GONE:
                    raise
                time.sleep(0.2)


def index_rows(data_dir: Path) -> list[dict]:
    with sqlite3.connect(data_dir / "jobs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT job_id, state, label, result_json, attempts FROM jobs")]


def succeeded(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "jobs.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def run(args) -> dict:
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dccbridge-load-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lives = itertools.count(1)
    started = time.monotonic()
    server = ServerProcess(data_dir, port, args, next(lives))
    clients = Clients(f"127.0.0.1:{port}", args)
    clients.start()
    stops, rss = [], []
    for fraction, signum in ((1 / 3, signal.SIGTERM), (2 / 3, signal.SIGKILL)):
        wait_until(lambda: succeeded(data_dir) >= args.jobs * fraction, 3600, "the server stalled")
        code = server.stop(signum)
        rss.append(server.rss_samples)
        unfinished = [row["job_id"] for row in index_rows(data_dir) if row["state"] in ("queued", "running")]
        stops.append({"signal": signal.Signals(signum).name, "exit_code": code,
                      "accepted_before": len(clients.accepted), "unfinished": unfinished})
        server = ServerProcess(data_dir, port, args, next(lives))
    clients.join()

    def all_done() -> bool:
        states = {row["job_id"]: row["state"] for row in index_rows(data_dir)}
        return all(states.get(job_id) in ("succeeded", "failed", "cancelled") for job_id in clients.accepted.values())

    wait_until(all_done, 3600, "jobs did not finish")
    server.stop(signal.SIGTERM)
    rss.append(server.rss_samples)
    return count(data_dir, clients, stops, rss, time.monotonic() - started)


def count(data_dir: Path, clients: Clients, stops: list[dict], rss: list[list[int]], seconds: float) -> dict:
    rows = {row["job_id"]: row for row in index_rows(data_dir)}
    lost = []
    for label, job_id in clients.accepted.items():
        row = rows.get(job_id)
        files = [Path(image["path"]) for image in json.loads(row["result_json"])["images"]] \
            if row and row["result_json"] else []
        if row is None or row["state"] != "succeeded" or not files or not all(f.is_file() for f in files):
            lost.append(label)
    by_label = collections.Counter(row["label"] for row in rows.values())
    duplicated = sum(n - 1 for n in by_label.values() if n > 1)
    carried = {job_id for stop in stops for job_id in stop["unfinished"]}
    carried_ok = sum(1 for job_id in carried if rows[job_id]["state"] == "succeeded")
    lives = []
    for samples in rss:
        warm = samples[len(samples) // 10:] or samples or [0]  # after the model load and the first jobs
        lives.append({"rss_first_mb": round(warm[0] / 2**20, 1), "rss_last_mb": round(warm[-1] / 2**20, 1),
                      "rss_max_mb": round(max(warm) / 2**20, 1)})
    return {
        "jobs": len(clients.accepted), "clients": clients.args.clients, "size": clients.args.size,
        "steps": clients.args.steps, "seconds": round(seconds, 1),
        "lost": len(lost), "lost_labels": lost[:20], "duplicated": duplicated,
        "carried_over": len(carried), "carried_over_succeeded": carried_ok,
        "failed": sum(1 for row in rows.values() if row["state"] == "failed"),
        "part_files": len(list(data_dir.rglob("*.part"))),
        "client_errors": clients.errors,
        "retried_after_queue_full": clients.retried_refused, "retried_while_down": clients.retried_unavailable,
        "stops": [{k: (len(v) if k == "unfinished" else v) for k, v in stop.items()} for stop in stops],
        "server_lives": lives, "data_dir": str(data_dir),
    }


def main() -> int:
    args = parse_args()
    figures = run(args)
    print(f"{figures['jobs']} jobs from {figures['clients']} clients ({figures['size']}², {figures['steps']} step), "
          f"{figures['seconds']} s, SIGTERM and SIGKILL mid-queue with restarts")
    for stop in figures["stops"]:
        print(f"  {stop['signal']:8s} after {stop['accepted_before']} accepted: exit {stop['exit_code']}, "
              f"{stop['unfinished']} unfinished in the index")
    print(f"lost {figures['lost']}   duplicated {figures['duplicated']}   carried over {figures['carried_over']} "
          f"({figures['carried_over_succeeded']} succeeded)   failed {figures['failed']}   "
          f".part files {figures['part_files']}")
    print(f"retries: {figures['retried_after_queue_full']} after RESOURCE_EXHAUSTED, "
          f"{figures['retried_while_down']} while the server was down")
    for i, life in enumerate(figures["server_lives"], 1):
        print(f"  server life {i}: RSS {life['rss_first_mb']} -> {life['rss_last_mb']} MiB (max {life['rss_max_mb']})")
    for error in figures["client_errors"]:
        print(f"  {error}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    complete = figures["jobs"] == args.jobs and not figures["client_errors"]
    return 0 if complete and figures["lost"] == 0 and figures["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
