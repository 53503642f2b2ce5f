"""What both benchmarks share: a real in-process server, the device line, a table printer, JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from pathlib import Path

from dccbridge.serve import ServeConfig, Server

SERVER_LOAD_TIMEOUT_S = 300


def add_server_arguments(parser) -> None:
    parser.add_argument("--preset", default="tiny", help="built-in catalog preset (default: tiny)")
    parser.add_argument("--models", type=Path, help="a catalog TOML instead of the preset (its default model is used)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON to OUT")


@contextlib.contextmanager
def running_server(args):
    """The real server (engine, worker, gRPC face) on a free loopback port, with its default model loaded."""
    with tempfile.TemporaryDirectory(prefix="dccbridge-bench-") as data_dir:
        config = ServeConfig(port=0, data_dir=Path(data_dir), device=args.device, preset=args.preset,
                             models=args.models, grace_s=10)
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
    import torch

    device = server.manager.describe_device()
    return {
        "device": device["type"],
        "device_name": device["name"],
        "dtype": device["dtype"],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def print_machine(machine: dict) -> None:
    print(f"device: {machine['device']} ({machine['device_name']}, {machine['dtype']}); "
          f"{machine['cpu_count']} CPUs, torch {machine['torch']} with {machine['torch_threads']} threads")


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
