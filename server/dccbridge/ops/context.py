"""What an op sees of the job running it: progress reporting and "cancelled?".

The engine's context implements this; NullContext lets benchmarks and scripts call an op directly.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import Cancelled


class OpContext(Protocol):
    preview_every: int      # send a preview every N steps (0 = never)
    preview_max_size: int   # longest side of a preview, pixels
    batch: object | None    # in a cross-request batch: this job's rendezvous.Member (ops/batching.py), else None

    @property
    def cancelled(self) -> bool: ...

    def report(self, stage: str, step: int, total: int, preview: np.ndarray | None = None) -> None: ...


class NullContext:
    preview_every = 0
    preview_max_size = 256
    batch = None
    cancelled = False

    def report(self, stage: str, step: int, total: int, preview: np.ndarray | None = None) -> None:
        pass


def raise_if_cancelled(ctx: OpContext) -> None:
    if ctx.cancelled:
        raise Cancelled()
