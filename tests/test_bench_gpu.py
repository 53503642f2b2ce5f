"""bench/bench_gpu.py runs end to end at the tiny configs on a CPU (a GPU machine runs it at full size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_gpu_runs_at_tiny_size_and_reports_every_variant(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "server"), str(ROOT / "bench"),
                                                        os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--tiny", "--no-compile",
                          "--steps", "3", "--batches", "1", "2", "--sdxl-batches", "1", "2", "--device", "cpu",
                          "--json", str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {(r["case"], r["engine"], r["batch"]): r for r in report["rows"]}
    for case in ("SD1.5 + ControlNet 64²", "SDXL 64²"):
        for engine in ("plain diffusers", "ours (profile)"):
            for batch in (1, 2):
                row = rows[(case, engine, batch)]
                assert row["its"] > 0 and row["ratio"] > 0
        assert rows[(case, "plain diffusers", 1)]["ratio"] == 1.0
    for case, engines in (("live SD-Turbo 64², 1 step", ("plain diffusers", "ours (live session)")),
                          ("live SD-Turbo 64², 2 steps", ("plain diffusers", "ours (live session)",
                                                          "ours (stream batch)"))):
        for engine in engines:
            row = rows[(case, engine, 1)]
            assert row["its"] > 0 and row["unit"] == "frames/s"
    assert report["best_sd15_batch1_ratio"] == rows[("SD1.5 + ControlNet 64²", "ours (profile)", 1)]["ratio"]
    assert "goal >= 2.2x" in run.stdout
