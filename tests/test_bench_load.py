"""bench/bench_load.py at a reduced size: jobs from several clients that drop their streams, a SIGTERM and a
SIGKILL of the server mid-queue with restarts on the same data directory; nothing accepted is lost or run twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_load.py"


def test_reduced_load_run_loses_nothing_across_sigterm_and_sigkill(tmp_path):
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(BENCH), "--jobs", "30", "--clients", "4", "--steps", "4", "--max-queue", "16",
                           "--data-dir", str(tmp_path / "data"), "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures["jobs"] == 30
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["failed"] == 0 and figures["part_files"] == 0, figures
    assert [stop["signal"] for stop in figures["stops"]] == ["SIGTERM", "SIGKILL"]
    assert figures["stops"][0]["exit_code"] == 0  # SIGTERM: a clean exit
    # the stops came mid-queue: 4 steps a job keep the server busy while clients resubmit, even on a quiet machine
    assert figures["carried_over"] >= 1, figures
    assert figures["carried_over_succeeded"] == figures["carried_over"]
