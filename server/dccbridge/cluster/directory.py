"""The replicas' own reports (device, loaded models, state, pid), kept by one small detached Ray actor so every
ingress, also one started later, lists the same replicas in GetCapabilities. A dead replica's report is dropped
when its Serve actor no longer exists."""

from __future__ import annotations

import logging

import ray

from .config import DIRECTORY_NAME, NAMESPACE

log = logging.getLogger("dccbridge.cluster")
SERVE_NAMESPACE = "serve"  # where Ray Serve names its replica actors


@ray.remote(num_cpus=0, max_restarts=-1)
class ReplicaDirectory:
    def __init__(self):
        self._reports: dict[str, dict] = {}

    def report(self, info: dict) -> None:
        known = self._reports.get(info["replica_id"])
        if known is None or known.get("report", 0) < info.get("report", 0):  # the newest report wins
            self._reports[info["replica_id"]] = info

    def reports(self) -> list[dict]:
        return list(self._reports.values())

    def forget(self, replica_ids: list[str]) -> None:
        for replica_id in replica_ids:
            self._reports.pop(replica_id, None)


def directory():
    """The cluster's directory actor, created by whoever asks first (it outlives any one ingress)."""
    return ReplicaDirectory.options(name=DIRECTORY_NAME, namespace=NAMESPACE, lifetime="detached",
                                    get_if_exists=True).remote()


class DirectoryReporter:
    """A replica's reports, fire and forget (a directory that is down must not stop a job), numbered so that the
    directory keeps the newest."""

    def __init__(self):
        self._count = 0
        self._directory = None

    def __call__(self, info: dict) -> None:
        self._count += 1
        try:
            if self._directory is None:
                self._directory = directory()
            self._directory.report.remote({**info, "report": self._count})
        except Exception as error:  # noqa: BLE001
            log.warning("could not report to the replica directory: %s", error)
            self._directory = None


def _alive(actor_name: str) -> bool:
    if not actor_name:
        return True
    try:
        ray.get_actor(actor_name, namespace=SERVE_NAMESPACE)
        return True
    except ValueError:
        return False


def live_replicas(timeout_s: float = 5.0) -> list[dict]:
    """The reports of replicas whose actor exists, ordered by replica id; dead ones are forgotten."""
    store = directory()
    reports = ray.get(store.reports.remote(), timeout=timeout_s)
    alive = [info for info in reports if _alive(info.get("actor_name", ""))]
    gone = [info["replica_id"] for info in reports if info not in alive]
    if gone:
        store.forget.remote(gone)
    return sorted(alive, key=lambda info: info["replica_id"])
