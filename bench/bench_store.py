"""What the job store costs per job, SQLite and PostgreSQL side by side in one run (docs/job-store.md).

For each store the same sequence of index calls a job makes through the engine — insert (with 64 KiB of inputs),
its queued event, mark running, 8 progress events with a 4 KiB preview (what 2 s of throttled progress store),
the result event, finish — run JOBS times from one thread; then a claim of JOBS released jobs by one node (what a
takeover costs), and the reads a watcher on another ingress makes (events after a sequence, the job's newest
events) per poll. No model runs: the figures are the store's share of a job.

    .venv/bin/python bench/bench_store.py [--jobs 300] [--postgres URL] [--json OUT]

Without --postgres it starts a throwaway PostgreSQL (Debian's binaries) like the tests do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from dccbridge.jobs.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PAYLOAD = bytes(64 * 1024)
PREVIEW = bytes(4 * 1024)


def event(job_id: str, sequence: int, kind: str, preview: bytes | None = None) -> dict:
    return {"job_id": job_id, "sequence": sequence, "time_ms": sequence, "kind": kind, "body_json": "{}",
            "preview": preview}


def one_job(store, job_id: str, created_ms: int) -> None:
    store.insert({"job_id": job_id, "state": "queued", "task_type": "generate", "model_id": "tiny", "label": "",
                  "client": "bench", "created_ms": created_ms, "task_json": "{}", "payload": PAYLOAD,
                  "options_json": ""})
    store.add_event(event(job_id, 1, "queued"))
    store.update(job_id, state="running", started_ms=created_ms, attempts=1, sequence=2)
    store.add_event(event(job_id, 2, "started"))
    for step in range(8):
        store.add_event(event(job_id, 3 + step, "progress", PREVIEW))
    store.add_event(event(job_id, 11, "result"))
    store.finish(job_id, state="succeeded", finished_ms=created_ms + 1, result_json='{"images": []}', sequence=11)


def measure(url: str, root: Path, jobs: int) -> dict:
    store = open_store(root / "data", url, root / "results", node_id="bench")
    other = open_store(root / "data", url, root / "results", node_id="other")
    try:
        ids = [uuid.uuid4().hex for _ in range(jobs)]
        started = time.perf_counter()
        for i, job_id in enumerate(ids):
            one_job(store, job_id, 1000 + i)
        per_job = (time.perf_counter() - started) / jobs

        started = time.perf_counter()
        for job_id in ids:
            other.events_after(job_id, 0)
            other.latest_events(job_id)
            other.get(job_id)
        per_poll = (time.perf_counter() - started) / jobs

        queued = [uuid.uuid4().hex for _ in range(jobs)]
        for i, job_id in enumerate(queued):
            store.insert({"job_id": job_id, "state": "queued", "task_type": "generate", "model_id": "tiny",
                          "label": "", "client": "bench", "created_ms": 10_000 + i, "task_json": "{}",
                          "payload": PAYLOAD, "options_json": ""})
        store.release()
        started = time.perf_counter()
        claimed = other.claim(include_own=False)
        claim_s = time.perf_counter() - started
        assert len(claimed) == jobs, len(claimed)
        return {"store": url.split(":", 1)[0], "job_ms": per_job * 1000, "watch_poll_ms": per_poll * 1000,
                "claim_ms_per_job": claim_s * 1000 / jobs}
    finally:
        store.close()
        other.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database (default: start one)")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()

    server = None
    url = args.postgres
    if url is None:
        from postgres_support import PostgresServer, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            print("no PostgreSQL binaries: apt-get install postgresql, or pass --postgres URL", file=sys.stderr)
            return 2
        server = PostgresServer(bin_dir).start()
        url = server.new_database()
    try:
        with tempfile.TemporaryDirectory(prefix="dccb-bench-store-") as tmp:
            rows = [measure(f"sqlite://{Path(tmp) / 'jobs.sqlite3'}", Path(tmp) / "s", args.jobs),
                    measure(url, Path(tmp) / "p", args.jobs)]
    finally:
        if server is not None:
            server.stop()
    print(f"{args.jobs} jobs, one thread; index calls of one job: insert + 11 events + 2 updates")
    print(f"{'store':<12}{'per job':>12}{'watch poll':>14}{'claim/job':>12}")
    for row in rows:
        print(f"{row['store']:<12}{row['job_ms']:>10.2f}ms{row['watch_poll_ms']:>12.3f}ms"
              f"{row['claim_ms_per_job']:>10.3f}ms")
    print(f"postgresql / sqlite per job: {rows[1]['job_ms'] / rows[0]['job_ms']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
