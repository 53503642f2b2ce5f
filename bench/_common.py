"""What both benchmarks share: a real in-process server, the device line, a table printer, JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from pathlib import Path

import torch
from diffusers.utils import logging as diffusers_logging

from dccbridge.serve import ServeConfig, Server

# from_pipe's "should be kept in float32: []" notice (the server filters it only once an op module is imported)
# says nothing about speed and would clutter the tables.
diffusers_logging.set_verbosity_error()

SERVER_LOAD_TIMEOUT_S = 300


def add_server_arguments(parser) -> None:
    parser.add_argument("--preset", default="tiny", help="built-in catalog preset (default: tiny)")
    parser.add_argument("--models", type=Path, help="a catalog TOML instead of the preset (its default model is used)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON to OUT")


@contextlib.contextmanager
def running_server(args, **config_fields):
    """The real server (engine, worker, gRPC face) on a free loopback port, with its default model loaded;
    config_fields override ServeConfig fields (e.g. batch_window_ms)."""
    with tempfile.TemporaryDirectory(prefix="dccbridge-bench-") as data_dir:
        # gRPC only: the benchmarks measure that face, and a fixed HTTP port could clash with a running server.
        config = ServeConfig(port=0, http_port=None, data_dir=Path(data_dir), device=args.device,
                             preset=args.preset, models=args.models, grace_s=10, **config_fields)
        server = Server(config).start()
        try:
            if not server.settled.wait(SERVER_LOAD_TIMEOUT_S):
                raise RuntimeError(f"the default model did not load within {SERVER_LOAD_TIMEOUT_S} s")
            if server.load_error is not None:
                raise RuntimeError(f"the default model did not load: {server.load_error}")
            yield server
        finally:
            server.stop(grace_s=5)


def describe_machine(server) -> dict:
    device = server.manager.describe_device()
    return {
        "device": device["type"],
        "device_name": device["name"],
        "dtype": device["dtype"],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),  # changes CPU figures (docs/benchmarks.md)
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def print_machine(machine: dict) -> None:
    print(f"device: {machine['device']} ({machine['device_name']}, {machine['dtype']}); "
          f"{machine['cpu_count']} CPUs, torch {machine['torch']} with {machine['torch_threads']} threads")


class OtherProcessesCpu:
    """CPU time other processes used while the benchmark ran: on a shared machine it is the noise in every figure.

    Linux only (/proc/stat); elsewhere `seconds` stays None.
    """

    def __init__(self):
        self.seconds: float | None = None
        self.share: float | None = None  # of all the machine's CPU time during the run

    @staticmethod
    def _machine_busy_and_total() -> tuple[float, float] | None:
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
        busy = user + nice + system + irq + softirq + steal  # steal: the hypervisor gave our CPUs to others
        return busy / ticks, (busy + idle + iowait) / ticks

    @staticmethod
    def _own() -> float:
        times = os.times()
        return times.user + times.system

    def __enter__(self) -> "OtherProcessesCpu":
        self._start = self._machine_busy_and_total(), self._own()
        return self

    def __exit__(self, *exc) -> None:
        end = self._machine_busy_and_total()
        (start_machine, start_own) = self._start
        if end is None or start_machine is None:
            return
        busy = end[0] - start_machine[0]
        total = end[1] - start_machine[1]
        self.seconds = max(0.0, busy - (self._own() - start_own))
        self.share = self.seconds / total if total > 0 else 0.0

    def describe(self) -> str:
        if self.seconds is None:
            return "CPU used by other processes during the run: unknown (not Linux)"
        return (f"CPU used by other processes during the run: {self.seconds:.1f} CPU-s "
                f"({self.share:.0%} of the machine; near 0 means the figures are not disturbed)")

    def as_dict(self) -> dict:
        return {"other_processes_cpu_s": self.seconds, "other_processes_cpu_share": self.share}


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        # Left-align the first column (labels), right-align numbers.
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path}")
