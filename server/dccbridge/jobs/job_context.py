"""The context an op runs with (ops/context.py's OpContext): progress and previews become job events, "cancelled?"
reads the job's flag, step times feed the metrics, and each step boundary gives a waiting live frame its turn."""

from __future__ import annotations

import time

import numpy as np

from .. import imaging
from .records import JobRecord


class JobContext:
    """The OpContext the engine hands to an op."""

    def __init__(self, engine, job: JobRecord, batch=None):
        self._engine = engine
        self._job = job
        self.batch = batch  # ops.rendezvous.Member when the job runs in a batch
        self.preview_every = job.options.preview_every_n_steps
        self.preview_max_size = job.options.preview_max_size or 256
        self._last_step: tuple[str, int, float] | None = None

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_requested

    def report(self, stage: str, step: int, total: int, preview: np.ndarray | None = None) -> None:
        jpeg = None
        if preview is not None:
            h, w = preview.shape[:2]
            scale = min(1.0, self.preview_max_size / max(h, w))
            if scale < 1.0:
                preview = imaging.resize(preview, max(1, round(w * scale)), max(1, round(h * scale)))
            jpeg = imaging.encode_jpeg(preview)
        self._time_step(stage, step)
        self._engine._emit(self._job, "progress", stage=stage, step=step, total=total, preview_jpeg=jpeg)
        if stage != "load":
            self._engine._live_between_steps(self._job, self.batch)  # a live frame's turn (jobs/live.py)

    def _time_step(self, stage: str, step: int) -> None:
        """Step time = time between consecutive reports of one stage's steps (per step done)."""
        now = time.monotonic()
        if self._last_step is not None and self._last_step[0] == stage and step > self._last_step[1]:
            per_step = (now - self._last_step[2]) / (step - self._last_step[1])
            self._engine.observer.step_time(self._job.model_id, per_step)
        self._last_step = (stage, step, now)
