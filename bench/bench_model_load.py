"""Model load time from the Hugging Face cache (cold vs warm) and the time to switch between two catalog models.

Two tiny-shaped SD1.5 models (random weights, `save_pretrained` safetensors) are laid out in a temporary HF cache
as hub repos `bench/model-a` and `bench/model-b`; a catalog names them by repo id, so loading takes the real path
(cache lookup, `from_pretrained(local_files_only=True)`, placement). Measured side by side in one run:

- cold: a fresh Python process: `import dccbridge.models` + `ModelManager(...).load("a")` from the cache;
- warm: the same load again in one process (imports done, files in the OS page cache), a new ModelManager each time;
- switch: through the real server, the first request on model B right after requests on A (it loads B), vs a
  request on an already-loaded model.

    .venv/bin/python bench/bench_model_load.py [--repeats 5] [--device cpu] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diffusers import StableDiffusionPipeline
from huggingface_hub import constants

from _common import print_table, write_json
from dccbridge.client import Client
from dccbridge.models import Catalog, ModelManager
from dccbridge.models.tiny import build_tiny_sd15
from dccbridge.serve import ServeConfig, Server
from dccbridge.v1 import tasks_pb2

COLD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from dccbridge.models import Catalog, ModelManager
imported = time.perf_counter()
ModelManager(Catalog.from_toml(sys.argv[1]), device=sys.argv[2]).load("a")
print(json.dumps({"import_s": imported - start, "load_s": time.perf_counter() - imported}))
"""


def lay_out_cache(cache: Path) -> None:
    pipeline = StableDiffusionPipeline(**build_tiny_sd15(), requires_safety_checker=False)
    for name in ("model-a", "model-b"):
        repo = cache / f"models--bench--{name}"
        commit = (name[-1] * 40).replace("a", "1").replace("b", "2")
        pipeline.save_pretrained(repo / "snapshots" / commit, safe_serialization=True)
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)


def request(client: Client, model_id: str) -> float:
    task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
        model_id=model_id, prompt="x", width=64, height=64,
        sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=1)))
    start = time.perf_counter()
    events = list(client.run(task))
    assert events[-1].WhichOneof("event") == "result", events[-1]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dccbridge-bench-load-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "hub"
        lay_out_cache(cache)
        catalog = tmp / "catalog.toml"
        catalog.write_text('[models.a]\nsource = "bench/model-a"\n[models.b]\nsource = "bench/model-b"\n')
        constants.HF_HUB_CACHE = str(cache)
        env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

        cold = [json.loads(subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(catalog), args.device], env=env,
                                          check=True, capture_output=True, text=True).stdout.splitlines()[-1])
                for _ in range(args.repeats)]
        ModelManager(Catalog.from_toml(catalog), device=args.device).load("a")  # imports and page cache warm
        warm = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            ModelManager(Catalog.from_toml(catalog), device=args.device).load("a")
            warm.append(time.perf_counter() - start)

        switch, loaded = [], []
        for _ in range(args.repeats):  # a fresh server each time: B is not loaded yet
            config = ServeConfig(port=0, http_port=None, data_dir=tmp / "data", device=args.device, models=catalog)
            server = Server(config).start()
            try:
                assert server.settled.wait(300) and server.load_error is None, server.load_error
                with Client(f"127.0.0.1:{server.port}") as client:
                    request(client, "a")
                    loaded.append(request(client, "a"))
                    switch.append(request(client, "b"))
            finally:
                server.stop(grace_s=5)

    median = statistics.median
    rows = [
        ["cold: fresh process, import", f"{median(c['import_s'] for c in cold):.2f} s"],
        ["cold: fresh process, load A from the cache", f"{median(c['load_s'] for c in cold):.2f} s"],
        ["warm: load A again in the same process", f"{median(warm):.2f} s"],
        ["request on the loaded model A (64², 2 steps)", f"{median(loaded):.2f} s"],
        ["first request on B after A (loads B)", f"{median(switch):.2f} s"],
    ]
    print(f"model load, {args.repeats} repeats, medians; device {args.device}, {os.cpu_count()} CPU cores")
    print_table(["what", "time"], rows)
    write_json(args.json, {"cold": cold, "warm_s": warm, "loaded_request_s": loaded, "switch_request_s": switch})


if __name__ == "__main__":
    main()
