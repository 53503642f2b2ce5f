"""Retention: `dccbridge serve --keep-days D --keep-bytes SIZE` removes the result files of the oldest finished
jobs until both hold (docs/operations.md "Retention").

A sweep runs once at start and then every `interval_s`. Only succeeded jobs hold result files worth counting;
queued and running jobs are never candidates. The oldest finished goes first. Each job's index row stays, marked
`results_removed_ms` with a note: GetJob and ListJobs show its metadata without images (the result's extra_json
says why), Watch of it fails DATA_LOSS naming retention. The mark is written before the files go, and only one
node of a cluster wins it, so two sweeping nodes never count the same job twice.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Callable

from .records import now_ms
from .store import JobStore

log = logging.getLogger("dccbridge.jobs")

DAY_MS = 24 * 3600 * 1000
DEFAULT_INTERVAL_S = 600.0
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """'20G', '500M', '1.5T', '123' (bytes) -> bytes; binary units (K = 1024). ValueError names the form."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not match:
        raise ValueError(f"expected a size such as 20G, 500M or 1048576 (bytes), got '{text}'")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class RetentionPolicy:
    keep_days: float = 0.0  # 0 = no age limit
    keep_bytes: int = 0  # 0 = no size limit

    def __post_init__(self):
        if self.keep_days < 0:
            raise ValueError(f"--keep-days must be 0 (keep) or more, got {self.keep_days}")
        if self.keep_bytes < 0:
            raise ValueError(f"--keep-bytes must be 0 (no limit) or more, got {self.keep_bytes}")

    @property
    def active(self) -> bool:
        return bool(self.keep_days or self.keep_bytes)

    def describe(self) -> str:
        parts = ([f"older than {self.keep_days:g} days"] if self.keep_days else []) + \
                ([f"beyond {self.keep_bytes} bytes in all"] if self.keep_bytes else [])
        return " or ".join(parts) or "kept forever"


@dataclass
class SweepReport:
    removed_jobs: int = 0
    removed_bytes: int = 0
    kept_jobs: int = 0
    kept_bytes: int = 0


def _job_files(store: JobStore, job_id: str) -> list[tuple[str, int]]:
    files = []
    for key in store.storage.keys(f"{job_id}/"):
        try:
            files.append((key, store.storage.size(key)))
        except OSError:
            pass  # gone meanwhile
    return files


def sweep(store: JobStore, policy: RetentionPolicy, now: int | None = None,
          on_removed: Callable[[str, int, str], None] | None = None) -> SweepReport:
    """Remove result files (and thumbnails) of the oldest succeeded jobs until both limits hold."""
    report = SweepReport()
    if not policy.active:
        return report
    now = now_ms() if now is None else now
    cutoff = now - int(policy.keep_days * DAY_MS) if policy.keep_days else None
    jobs = [(row, _job_files(store, row["job_id"])) for row in store.index.retention_candidates()]
    total = sum(size for _, files in jobs for _, size in files)
    for row, files in jobs:  # oldest finished first
        size = sum(s for _, s in files)
        too_old = cutoff is not None and row["finished_ms"] < cutoff
        too_big = bool(policy.keep_bytes) and total > policy.keep_bytes
        if not (too_old or too_big):
            break  # the rest are newer and the total only fell
        note = (f"finished more than {policy.keep_days:g} days ago (--keep-days)" if too_old else
                f"the oldest results beyond --keep-bytes {policy.keep_bytes}")
        if not store.index.mark_results_removed(row["job_id"], now, note):
            continue  # another node removed it meanwhile
        for key, _ in files:
            try:
                store.storage.delete(key)
            except OSError as error:
                log.warning("retention: could not remove %s: %s", key, error)
        total -= size
        report.removed_jobs += 1
        report.removed_bytes += size
        if on_removed is not None:
            on_removed(row["job_id"], now, note)
    report.kept_bytes = total
    report.kept_jobs = len(jobs) - report.removed_jobs
    if report.removed_jobs:
        log.info("retention removed the results of %d job(s), %d bytes; %d bytes kept (%s)", report.removed_jobs,
                 report.removed_bytes, total, policy.describe())
    return report


class RetentionSweeper:
    """Runs `sweep` once at start and then every interval_s on a daemon thread, until stop()."""

    def __init__(self, store: JobStore, policy: RetentionPolicy, interval_s: float = DEFAULT_INTERVAL_S,
                 on_removed: Callable[[str, int, str], None] | None = None):
        self.store, self.policy, self.interval_s, self.on_removed = store, policy, interval_s, on_removed
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dccbridge-retention", daemon=True)

    def start(self) -> "RetentionSweeper":
        if self.policy.active:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sweep(self.store, self.policy, on_removed=self.on_removed)
            except Exception:  # noqa: BLE001 - a failed sweep (store unreachable) is retried next time
                log.exception("retention sweep failed; retrying in %.0f s", self.interval_s)
            self.sweeps += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
