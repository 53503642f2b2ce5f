"""A real local Ray head for the cluster tests (dccbridge.cluster.local): 127.0.0.1, free ports, a temp dir of its
own; its replicas import this checkout's server/ and run one thread each."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dccbridge.cluster.local import LocalRayHead, replica_environment

REPO = Path(__file__).resolve().parents[1]


def ray_environment() -> dict:
    return replica_environment(REPO / "server", threads=1)


@contextlib.contextmanager
def ray_head(num_cpus: int):
    head = LocalRayHead(num_cpus, env=ray_environment()).start()
    try:
        yield head
    finally:
        head.stop()
