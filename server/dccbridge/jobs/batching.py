"""Which queued jobs run together as one batch (cross-request batching, docs/speed.md), and running them.

The rule, in the queue's fair order (round-robin over clients, FIFO within a client; "round" r = every client's
r-th waiting job): a batch is the first job plus the following jobs with the same batch key, in fair order,
while they fit the memory bound and the job cap. A batch may take a job from round r+1 only if it took every job
of round r. So a job that cannot join is passed only by jobs of its own round -- at most one job per other
client -- and no client ever gets two jobs ahead of another's.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable

from ..ops.rendezvous import BatchGroup


def select_batch(ordered: list, key_of: Callable[[object], Hashable | None], images_of: Callable[[object], int],
                 capacity_of: Callable[[object], int], max_jobs: int) -> list:
    """The jobs of `ordered` (fair order, first job first) to run as one batch; always starts with ordered[0]."""
    first = ordered[0]
    key = key_of(first)
    batch = [first]
    if key is None or max_jobs <= 1:
        return batch
    images = images_of(first)
    capacity = None  # a memory estimate: asked only once a second job qualifies
    seen = collections.Counter({first.client: 1})  # a job's round = its client's jobs before it in fair order
    blocked_round = None  # the first round with a job that could not join
    for job in ordered[1:]:
        job_round = seen[job.client]
        seen[job.client] += 1
        if blocked_round is not None and job_round > blocked_round:
            break  # fair order is round after round: everything from here on is in a later round
        if key_of(job) != key:
            if blocked_round is None:
                blocked_round = job_round
            continue
        if capacity is None:
            capacity = capacity_of(first)
        if images + images_of(job) > capacity:
            break
        batch.append(job)
        images += images_of(job)
        if len(batch) >= max_jobs:
            break
    return batch


class BatchKeys:
    """Batch keys of queued jobs, computed once per job and outside the engine's lock (a key may need to read
    an init image's size)."""

    def __init__(self, key_of: Callable[[object], Hashable | None]):
        self._key_of = key_of
        self._keys: dict[str, Hashable | None] = {}

    def compute(self, jobs: list) -> None:
        for job in jobs:
            if job.job_id not in self._keys:
                self._keys[job.job_id] = self._key_of(job.request) if job.request is not None else None

    def known(self, job) -> Hashable | None:
        """The job's key; None (runs alone) for a job queued since the last compute()."""
        return self._keys.get(job.job_id)

    def keep_only(self, jobs: list) -> None:
        wanted = {job.job_id for job in jobs}
        self._keys = {job_id: key for job_id, key in self._keys.items() if job_id in wanted}


def run_together(jobs: list, run: Callable[[object, object], None]) -> None:
    """Run `run(job, member)` for every job, each in its own thread, all meeting in one BatchGroup; returns when
    all are done. A job leaves the group when its run ends, however it ends, so the others never wait on it."""
    group = BatchGroup(len(jobs))

    def run_member(job, member) -> None:
        try:
            run(job, member)
        finally:
            member.leave()

    threads = [threading.Thread(target=run_member, args=(job, group.member()), daemon=True,
                                name=f"dccbridge-batch-{i}") for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
