"""A real local Ray head for the cluster tests and benchmarks: `ray start --head --block` on 127.0.0.1 with free
ports in a temp dir of its own, its processes in one session of their own; stopped by that process id.

Replicas are Ray worker processes started by this head's raylet, so they inherit the environment given here:
PYTHONPATH (this checkout's server/ first), HF_HUB_OFFLINE, one OpenMP thread each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_environment() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "server"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0",
               RAY_DEDUP_LOGS="0")
    return env


class RayHead:
    def __init__(self, num_cpus: int):
        self.num_cpus = num_cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's unix sockets live under it (paths are limited to ~107 characters).
        self.temp_dir = Path(tempfile.mkdtemp(prefix="dccb-ray-", dir="/tmp"))
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90) -> "RayHead":
        command = [str(RAY), "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
                   f"--num-cpus={self.num_cpus}", "--num-gpus=0", "--include-dashboard=false",
                   f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
                   f"--temp-dir={self.temp_dir}", "--disable-usage-stats"]
        self.log = open(self.temp_dir / "head.log", "wb")
        self.process = subprocess.Popen(command, env=ray_environment(), stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.process.returncode}:\n{self.head_log()}")
            if b"Ray runtime started" in (self.temp_dir / "head.log").read_bytes():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the Ray head did not start in {timeout_s:.0f} s:\n{self.head_log()}")

    def head_log(self) -> str:
        return (self.temp_dir / "head.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM to `ray start --block`, then SIGKILL to its process group (GCS, raylet, ...); the head's worker
        processes (replicas) end with their raylet."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@contextlib.contextmanager
def ray_head(num_cpus: int):
    head = RayHead(num_cpus).start()
    try:
        yield head
    finally:
        head.stop()
