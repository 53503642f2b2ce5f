"""Live mode figures for the Unity client core, under Mono against a real server on the tiny preset (not a test:
figures go into docs/unity.md). Compiles tests/unity/LiveBench.cs with Runtime/Core and TestPng.cs, starts a
server with its HTTP face on a free port, and runs the benchmark:

    PYTHONPATH=$PWD/server .venv/bin/python tests/unity/live_bench.py [SIZE] [STEPS] [ROUNDS]   # 256 2 20
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import running_server  # noqa: E402


def main(size: str = "256", steps: str = "2", rounds: str = "20") -> None:
    unity = ROOT / "clients" / "unity"
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "LiveBench.exe"
        sources = sorted(str(p) for p in (unity / "Runtime" / "Core").glob("*.cs"))
        sources += [str(unity / "Tests" / "Runtime" / "TestPng.cs"), str(Path(__file__).with_name("LiveBench.cs"))]
        subprocess.run(["mcs", "-langversion:7.2", "-nologo", "-optimize+", "-target:exe", "-r:System.Net.Http.dll",
                        "-r:System.Core.dll", f"-out:{exe}", *sources], check=True)
        with running_server(Path(tmp) / "data", http_port=0, token="bench") as server:
            subprocess.run(["mono", str(exe), f"http://127.0.0.1:{server.http_port}", "bench", size, steps, rounds],
                           check=True, timeout=900)


if __name__ == "__main__":
    main(*sys.argv[1:])
