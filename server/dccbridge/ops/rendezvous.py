"""Where the jobs of one batch meet (cross-request batching, see docs/batching.md).

Each job of a batch runs its own, unchanged op in its own thread. Whenever it calls a gathered module (UNet,
ControlNet, VAE, text encoder; see ops/batching.py) its thread blocks here. A *round* runs once every member that
has not left is blocked: of the waiting calls, those of the earliest pipeline stage (the lowest `rank`) are
grouped (same module, same call signature), each group runs as one batched call, and every member gets its own
share of the output back; calls of later stages wait for the next round. A member that finishes, fails or is
cancelled leaves, so nobody ever waits on it.

Waiting for *all* members (rather than per module) is what makes mixed progress safe: a job with a lower img2img
strength reaches its VAE decode while others still call the UNet, and the round runs what can run. Running the
earliest stage first lets jobs that are a call behind (an img2img job encodes its init image while a txt2img job
is at its first ControlNet call) catch up, so the next round has them all at the same module.

Torch-free on purpose: the engine creates the group, and what a call does is given by the caller (`run`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class _Call:
    label: str                      # module name for the record ("unet", "vae.decode", ...)
    rank: int                       # pipeline stage: a round runs the lowest rank waiting
    signature: Hashable             # calls with equal signatures may run as one batched call
    payload: Any                    # what `run` needs from this member
    run: Callable[[list[Any]], list[Any]]  # payloads of one group -> one result per payload
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class BatchGroup:
    """The meeting point of one batch of `size` jobs."""

    def __init__(self, size: int):
        self.size = size
        self._cond = threading.Condition()
        self._active = size
        self._pending: list[_Call] = []
        self._largest: dict[str, int] = {}  # label -> most members that ever ran in one call

    def member(self) -> "Member":
        return Member(self)

    def record(self) -> dict:
        """For provenance: how many jobs the batch had, and per module the most of them that ran in one call."""
        with self._cond:
            return {"jobs": self.size, "gathered": dict(sorted(self._largest.items()))}

    # -- called by members -----------------------------------------------------------------------------

    def _call(self, call: _Call):
        with self._cond:
            self._pending.append(call)
            round_calls = self._take_round()
        if round_calls:
            self._execute(round_calls)
        with self._cond:
            while not call.done:
                self._cond.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            round_calls = self._take_round()
        if round_calls:
            self._execute(round_calls)  # the leaving thread runs the round the others were waiting for

    def _take_round(self) -> list[_Call]:
        """With the lock held: if every active member is waiting, the waiting calls of the earliest stage."""
        if not self._pending or len(self._pending) < self._active:
            return []
        first = min(call.rank for call in self._pending)
        calls = [call for call in self._pending if call.rank == first]
        self._pending = [call for call in self._pending if call.rank != first]
        return calls

    def _execute(self, calls: list[_Call]) -> None:
        """Run one round outside the lock: the others are all blocked in _call, so nothing else changes."""
        groups: dict[Hashable, list[_Call]] = {}
        for call in calls:
            groups.setdefault(call.signature, []).append(call)
        for group in groups.values():
            try:
                results = group[0].run([call.payload for call in group])
                for call, result in zip(group, results, strict=True):
                    call.result = result
            except BaseException as error:  # every member of the group gets the error, in its own thread
                for call in group:
                    call.error = error
        with self._cond:
            for group in groups.values():
                label = group[0].label
                self._largest[label] = max(self._largest.get(label, 0), len(group))
            for call in calls:
                call.done = True
            self._cond.notify_all()


class Member:
    """One job's handle on its batch (the op context's `batch`)."""

    def __init__(self, group: BatchGroup):
        self.group = group
        self._left = False

    def call(self, label: str, rank: int, signature: Hashable, payload: Any,
             run: Callable[[list[Any]], list[Any]]):
        """Block until this call has run, batched with the other members' calls of the same stage (`rank`) and
        signature; returns this member's result."""
        if self._left:  # nobody to meet any more
            return run([payload])[0]
        return self.group._call(_Call(label, rank, signature, payload, run))

    def leave(self) -> None:
        """Done with gathered modules (finished, failed or cancelled); idempotent."""
        if not self._left:
            self._left = True
            self.group._leave()
