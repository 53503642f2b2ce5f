"""Which queued jobs run together as one batch (cross-request batching, docs/batching.md), and running them.

The rule works on the *start order*: the order in which the queued jobs would start one by one (the engine's fair
order, first job taken again and again). A batch is the first job plus the following jobs with the same batch key,
in start order, while they fit the memory bound and the job cap, except that
- a client's jobs keep their order: once one of its jobs cannot join, none of its later jobs may;
- once any job could not join, only clients with no job in the batch yet may still add one.
So a job that cannot join is passed by at most one job of each other client, and a batch of one client's jobs
never passes anybody.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Hashable

from ..ops.rendezvous import BatchGroup
from .records import JobRecord


def select_batch(start_order: list, key_of: Callable[[object], Hashable | None],
                 images_of: Callable[[object], int], capacity_of: Callable[[object], int], max_jobs: int) -> list:
    """The jobs to run as one batch, from the queue in start order; always starts with start_order[0]."""
    first = start_order[0]
    key = key_of(first)
    batch = [first]
    if key is None or max_jobs <= 1:
        return batch
    images = images_of(first)
    capacity = None  # a memory estimate: asked only once a second job qualifies
    in_batch = {first.client}
    skipped: set[str] = set()  # clients with a job that could not join
    for job in start_order[1:]:
        if job.client in skipped or (skipped and job.client in in_batch):
            continue
        if key_of(job) != key:
            skipped.add(job.client)
            continue
        if capacity is None:
            capacity = capacity_of(first)
        if images + images_of(job) > capacity:
            break
        batch.append(job)
        in_batch.add(job.client)
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


class Batching:
    """The engine's half that picks a batch: the next job in fair order and the compatible jobs that may join it.
    A mixin of Engine (it shares its lock and queues). Needs from Engine: ops, limits, _cond, _queues, _stopping,
    _ordered_queue, _pop."""

    def _choose_batch(self, queued: list[JobRecord], keys: BatchKeys) -> list[JobRecord]:
        """The next job in fair order with the compatible jobs that may run with it (jobs/batching.py), after up to
        batch_window_ms of waiting for company. Keys and the memory estimate are computed outside the lock."""
        first = queued[0]
        window_s = self.limits.batch_window_ms / 1000.0
        if window_s <= 0 or self.limits.max_batch <= 1:
            return [first]
        keys.keep_only(queued)
        keys.compute(queued)
        if keys.known(first) is None:
            return [first]
        deadline = time.monotonic() + window_s
        with self._cond:
            while not self._stopping and sum(len(q) for q in self._queues.values()) < self.limits.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            request = first.request  # None once the job was cancelled during the wait (its inputs are dropped)
            if request is None:
                return []
            queued = self._ordered_queue()
        keys.compute(queued)
        capacity = self.ops.batch_capacity(request)
        with self._cond:
            start_order = self._start_order()
            if not start_order or start_order[0] is not first:
                return []
            return select_batch(start_order, keys.known, lambda job: self.ops.batch_images(job.request),
                                lambda _first: capacity, self.limits.max_batch)

    def _start_order(self) -> list[JobRecord]:
        """The queued jobs in the order they would start one by one: the fair order's first, again and again."""
        saved, order = self._queues, []
        self._queues = collections.OrderedDict((client, collections.deque(lane)) for client, lane in saved.items())
        try:
            while any(self._queues.values()):
                job = self._ordered_queue()[0]
                order.append(job)
                self._pop(job, served=True)
        finally:
            self._queues = saved
        return order
