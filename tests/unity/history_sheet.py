"""A history contact sheet and ListJobs figures for the Unity client core, under Mono against a real server on the
tiny preset (not a test: figures go into docs/unity.md). Compiles tests/unity/HistorySheet.cs with Runtime/Core,
starts a server with its HTTP face on a free port, makes a few jobs, lists them as the History workspace does and
draws the page (thumbnails from ListJobs, the panel's text) into clients/unity/Documentation~/history-sheet.png:

    PYTHONPATH=$PWD/server .venv/bin/python tests/unity/history_sheet.py [SIZE] [STEPS] [ROUNDS]   # 64 2 20
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import running_server  # noqa: E402

FIGURE = ROOT / "clients" / "unity" / "Documentation~" / "history-sheet.png"


def draw_sheet(folder: Path, out: Path) -> None:
    """One row per entry: the thumbnail the server sent, then what the History panel shows for it."""
    from PIL import Image, ImageDraw

    rows = [line.split("\t") for line in (folder / "entries.csv").read_text().splitlines()[1:]]
    row_h, width = 72, 560
    sheet = Image.new("RGB", (width, row_h * len(rows) + 8), (56, 56, 56))
    draw = ImageDraw.Draw(sheet)
    for i, (file, task, prompt, seed, model, controls, recapture) in enumerate(rows):
        y = 4 + i * row_h
        if file:
            sheet.paste(Image.open(folder / file).convert("RGB"), (4, y))
        draw.text((76, y + 2), f"{task}  ·  seed {seed or '-'}  ·  model {model or 'default'}", fill=(235, 235, 235))
        draw.text((76, y + 18), prompt or "(no prompt)", fill=(200, 200, 200))
        extra = "  ".join(x for x in (f"controls {controls}" if controls else "",
                                      f"re-run recaptures {recapture}" if recapture else "") if x)
        draw.text((76, y + 34), extra, fill=(160, 190, 230))
        draw.text((76, y + 50), "[Re-apply]  [Re-run]  [New seed]", fill=(150, 150, 150))
    sheet.quantize(colors=96).save(out, optimize=True)  # a palette keeps the figure small


def main(size: str = "64", steps: str = "2", rounds: str = "20") -> None:
    unity = ROOT / "clients" / "unity"
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "HistorySheet.exe"
        sources = sorted(str(p) for p in (unity / "Runtime" / "Core").glob("*.cs"))
        sources += [str(unity / "Tests" / "Runtime" / "TestPng.cs"), str(Path(__file__).with_name("HistorySheet.cs"))]
        subprocess.run(["mcs", "-langversion:7.2", "-nologo", "-optimize+", "-target:exe", "-r:System.Net.Http.dll",
                        "-r:System.Core.dll", f"-out:{exe}", *sources], check=True)
        with running_server(Path(tmp) / "data", http_port=0, token="sheet") as server:
            subprocess.run(["mono", str(exe), f"http://127.0.0.1:{server.http_port}", "sheet", str(Path(tmp) / "sheet"),
                            size, steps, rounds], check=True, timeout=900)
        draw_sheet(Path(tmp) / "sheet", FIGURE)
        print(f"figure: {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
