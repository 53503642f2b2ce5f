"""A Ray head on this machine for tests, benchmarks and `dccbridge cluster start`: `ray start --head --block` on
127.0.0.1 with free ports in a temp dir of its own, its processes in one session of their own, stopped by that
process id (never `ray stop`, which stops every Ray on the machine).

Replicas are Ray worker processes that this head's raylet starts, so they inherit the environment given here
(PYTHONPATH, HF_HUB_OFFLINE, thread counts).
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

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayHead:
    def __init__(self, num_cpus: int, num_gpus: int = 0, env: dict | None = None, port: int = 0):
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.env = env if env is not None else dict(os.environ)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's unix sockets live under it (paths are limited to ~107 characters).
        self.temp_dir = Path(tempfile.mkdtemp(prefix="dccb-ray-", dir="/tmp"))
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [str(RAY), "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
                f"--num-cpus={self.num_cpus}", f"--num-gpus={self.num_gpus}", "--include-dashboard=false",
                f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
                f"--temp-dir={self.temp_dir}", "--disable-usage-stats"]

    def start(self, timeout_s: float = 90) -> "LocalRayHead":
        env = {**self.env, "RAY_USAGE_STATS_ENABLED": "0"}
        self._log = open(self.temp_dir / "head.log", "wb")
        self.process = subprocess.Popen(self.command(), env=env, stdout=self._log, stderr=subprocess.STDOUT,
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
        if self.process is not None:
            self._log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def replica_environment(server_path: Path | None = None, threads: int = 1) -> dict:
    """The environment replicas inherit: this checkout's server/ first on PYTHONPATH, no hub, `threads` threads."""
    env = dict(os.environ)
    if server_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(server_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), RAY_DEDUP_LOGS="0")
    return env
