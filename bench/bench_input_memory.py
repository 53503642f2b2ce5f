"""What a memory bomb costs the server: N clients at once submit a *valid* 16000x16000 PNG (a few hundred KiB on the
wire); the server's peak resident memory (VmHWM) is read before and after.

    .venv/bin/python bench/bench_input_memory.py [--clients 3] [--side 16000] [--server-path DIR]

The server runs as its own process (`dccbridge serve`, tiny preset, CPU), so the figure is its memory alone.
`--server-path` puts another checkout's `server/` first on its PYTHONPATH, to measure a version side by side.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent


def valid_png(side: int) -> bytes:
    """A real side x side RGB PNG, deflated row by row (making it costs no memory)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side * 3 + 1)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--side", type=int, default=16000)
    parser.add_argument("--server-path", type=Path, default=ROOT / "server")
    args = parser.parse_args()

    sys.path.insert(0, str(args.server_path))
    from dccbridge.v1 import media_pb2, service_pb2, service_pb2_grpc, tasks_pb2

    png = valid_png(args.side)
    env = dict(os.environ, PYTHONPATH=str(args.server_path), HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "dccbridge.cli", "serve", "--port", "0", "--no-http", "--device", "cpu",
             "--data-dir", data_dir, "--log-level", "WARNING", "--grace", "1"], env=env, stdout=subprocess.PIPE,
            text=True)
        try:
            line = process.stdout.readline()
            port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
            channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
                ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
            stub = service_pb2_grpc.DccBridgeServiceStub(channel)
            stub.GetCapabilities(service_pb2.GetCapabilitiesRequest(), timeout=120)
            time.sleep(1.0)
            before = peak_rss_mib(process.pid)
            task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
                prompt="x", width=64, height=64, init_image=media_pb2.Image(data=png)))

            def submit(_):
                started = time.perf_counter()
                try:
                    stub.Submit(service_pb2.SubmitRequest(task=task), timeout=300)
                    answer = "OK"
                except grpc.RpcError as error:
                    answer = f"{error.code().name}: {error.details()[:90]}"
                return answer, time.perf_counter() - started

            with ThreadPoolExecutor(args.clients) as pool:
                answers = list(pool.map(submit, range(args.clients)))
            after = peak_rss_mib(process.pid)
            print(f"server: {args.server_path}")
            print(f"{args.clients} clients x a valid {args.side}x{args.side} PNG of {len(png) / 1024:.0f} KiB")
            for answer, seconds in answers:
                print(f"  {seconds * 1000:7.0f} ms  {answer}")
            print(f"peak RSS: {before:.0f} MiB before, {after:.0f} MiB after (+{after - before:.0f} MiB)", flush=True)
        finally:
            process.terminate()  # a version that accepted the jobs gets --grace 1 to drop them
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
