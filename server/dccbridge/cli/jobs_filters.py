"""`dccbridge jobs list` filters: the ListJobsRequest fields (docs/api.md "ListJobs") as command-line flags."""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime, timezone

_RELATIVE = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# TaskType / JobState names without their prefix (no protobuf import while building the parser).
TASKS = ("txt2img", "img2img", "inpaint", "depth2img", "texture", "upscale", "preprocess", "outpaint")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def time_ms(text: str) -> int:
    """'2026-12-01', '2026-12-01T10:30' (UTC unless it names an offset), or an age: '30m', '2h', '7d', '1w'."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if match:
        return int((time.time() - int(match.group(1)) * _RELATIVE[match.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date (2026-12-01), a time (2026-12-01T10:30) or an age "
                                         f"(30m, 2h, 7d, 1w), got '{text}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def add_filter_flags(p) -> None:
    g = p.add_argument_group("list filters")
    g.add_argument("--client", default="", help="jobs of this client name (other clients: the admin token)")
    g.add_argument("--task", action="append", choices=TASKS, help="task type (repeat)")
    g.add_argument("--state", action="append", choices=STATES, help="job state (repeat)")
    g.add_argument("--since", type=time_ms, help="created at or after: a date, a time or an age (2h, 7d)")
    g.add_argument("--until", type=time_ms, help="created before: a date, a time or an age")
    g.add_argument("--text", default="", help="case-insensitive text in the prompt, negative prompt or label")
    g.add_argument("--model", default="", help="model id")
    g.add_argument("--limit", type=int, default=50, help="how many jobs, newest first (default 50, max 500)")


def list_request(args) -> dict:
    """Keyword arguments for Client.list_jobs."""
    from ..v1 import jobs_pb2, service_pb2

    return {"page_size": args.limit, "client": args.client, "text": args.text, "model_id": args.model,
            "task_types": [service_pb2.TaskType.Value(f"TASK_TYPE_{kind.upper()}") for kind in args.task or ()],
            "states": [jobs_pb2.JobState.Value(f"JOB_STATE_{state.upper()}") for state in args.state or ()],
            "created_after_ms": args.since or 0, "created_before_ms": args.until or 0}
