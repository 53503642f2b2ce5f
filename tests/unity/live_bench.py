"""Live mode figures for the Unity client core, under Mono against a real server on the tiny preset (not a test:
figures go into docs/unity.md). Compiles tests/unity/LiveBench.cs with Runtime/Core and TestPng.cs, starts a
server with its HTTP face on a free port, and runs the benchmark:

    PYTHONPATH=$PWD/server .venv/bin/python tests/unity/live_bench.py [SIZE] [STEPS] [ROUNDS] [--figure]   # 256 2 20

--figure also draws the latest-wins run as a timeline into clients/unity/Documentation~/live-timeline.png.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import running_server  # noqa: E402


FIGURE = ROOT / "clients" / "unity" / "Documentation~" / "live-timeline.png"


def draw_timeline(csv_path: Path, out: Path, title: str) -> None:
    """Each frame a row: when it was sent (dot) and how it was answered (result bar / superseded cross)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [line.split(",") for line in csv_path.read_text().splitlines()[1:]]
    sent = {int(f): float(ms) for f, kind, ms in rows if kind == "Sent"}
    answers = {int(f): (kind, float(ms)) for f, kind, ms in rows if kind != "Sent"}
    fig, ax = plt.subplots(figsize=(8, 0.18 * len(sent) + 1.2), dpi=110)
    for frame, at in sent.items():
        kind, done = answers.get(frame, ("none", at))
        if kind == "Result":
            ax.plot([at, done], [frame, frame], color="#2a7", linewidth=3, solid_capstyle="butt")
            ax.plot([done], [frame], marker="s", color="#2a7", markersize=5)
        else:
            ax.plot([at, done], [frame, frame], color="#bbb", linewidth=1)
            ax.plot([done], [frame], marker="x", color="#c44", markersize=5)
        ax.plot([at], [frame], marker="o", color="#333", markersize=3)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the first frame was sent")
    ax.set_ylabel("frame")
    ax.set_title(title, fontsize=9)
    ax.plot([], [], color="#2a7", linewidth=3, label="computed: sent → result")
    ax.plot([], [], marker="x", color="#c44", linestyle="none", label="superseded by a newer frame")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def main(size: str = "256", steps: str = "2", rounds: str = "20", *flags: str) -> None:
    unity = ROOT / "clients" / "unity"
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "LiveBench.exe"
        sources = sorted(str(p) for p in (unity / "Runtime" / "Core").glob("*.cs"))
        sources += [str(unity / "Tests" / "Runtime" / "TestPng.cs"), str(Path(__file__).with_name("LiveBench.cs"))]
        subprocess.run(["mcs", "-langversion:7.2", "-nologo", "-optimize+", "-target:exe", "-r:System.Net.Http.dll",
                        "-r:System.Core.dll", f"-out:{exe}", *sources], check=True)
        with running_server(Path(tmp) / "data", http_port=0, token="bench") as server:
            timeline = Path(tmp) / "timeline.csv"
            subprocess.run(["mono", str(exe), f"http://127.0.0.1:{server.http_port}", "bench", size, steps, rounds,
                            str(timeline)], check=True, timeout=900)
        if "--figure" in flags:
            draw_timeline(timeline, FIGURE, f"Unity core (Mono) live session, tiny preset on CPU, {size}², {steps} steps: "
                                            "frames sent back to back, latest frame wins")
            print(f"figure: {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
