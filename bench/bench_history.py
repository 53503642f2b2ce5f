"""What a history page costs, side by side in one run (docs/api.md "ListJobs (history)"): one ListJobs page of
JOBS finished jobs without thumbnails, with thumbnails the first time (made and cached) and the second time (read
from the cache), against fetching each job's full image with GetJob (what a host would do without thumbnails).

    .venv/bin/python bench/bench_history.py [--jobs 8] [--size 256] [--thumbnail 128] [--repeat 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import add_server_arguments, running_server  # noqa: E402

from dccbridge.client import Client  # noqa: E402
from dccbridge.v1 import tasks_pb2  # noqa: E402


def timed(call, repeat: int = 1):
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = call()
        best = min(best, time.perf_counter() - started)
    return value, best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--thumbnail", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with running_server(args) as server, Client(f"127.0.0.1:{server.port}", client_name="bench") as client:
        for i in range(args.jobs):
            task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
                prompt=f"history {i}", width=args.size, height=args.size,
                sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=i)))
            assert list(client.run(task))[-1].WhichOneof("event") == "result"
        page = args.jobs
        plain, plain_s = timed(lambda: client.list_jobs(page_size=page), args.repeat)
        first, first_s = timed(lambda: client.list_jobs(page_size=page, thumbnail_size=args.thumbnail))
        cached, cached_s = timed(lambda: client.list_jobs(page_size=page, thumbnail_size=args.thumbnail), args.repeat)
        full, full_s = timed(lambda: [client.get_job(job.job_id) for job in plain.jobs], args.repeat)
        full_bytes = sum(job.ByteSize() for job in full)
        figures = {
            "jobs": page, "image_px": args.size, "thumbnail_px": args.thumbnail,
            "list_plain": {"bytes": plain.ByteSize(), "s": plain_s},
            "list_thumbnails_first": {"bytes": first.ByteSize(), "s": first_s},
            "list_thumbnails_cached": {"bytes": cached.ByteSize(), "s": cached_s},
            "get_job_full_images": {"bytes": full_bytes, "s": full_s},
        }
    print(f"{page} jobs of {args.size}² (tiny), thumbnails {args.thumbnail}px, best of {args.repeat}")
    for name in ("list_plain", "list_thumbnails_first", "list_thumbnails_cached", "get_job_full_images"):
        f = figures[name]
        print(f"  {name:24s} {f['bytes']:>10,d} bytes  {f['s'] * 1000:8.1f} ms")
    print(f"  cached vs first thumbnail page: {first_s / cached_s:.1f}x faster; "
          f"page with thumbnails vs full images: {full_bytes / cached.ByteSize():.1f}x fewer bytes, "
          f"{full_s / cached_s:.1f}x faster")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
