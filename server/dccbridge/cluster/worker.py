"""The Serve deployment that runs ops: each replica owns a ModelManager + Ops on its device.

`Worker.run(request, ...)` is an async generator of events (a streaming response):
  ("replica", info)                      first: which replica took the job
  ("progress", (stage, step, total, preview or None))
  ("output", OpOutput)                   last, on success
  ("error", (error class name, message, field))  last, when the op raised a domain error or a bug
One job at a time per replica (a diffusers pipeline is not thread-safe): an asyncio lock, with the op itself on a
one-thread executor so the replica's event loop stays free (Serve's router probes it; FIELD-NOTES' traps).
Cancel: Serve cancels the generator when the ingress cancels the response; the op then sees ctx.cancelled and
stops at its next step, and the lock is held until it has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from .. import errors, imaging
from ..errors import DccError
from .config import ReplicaSettings
from .directory import DirectoryReporter

log = logging.getLogger("dccbridge.cluster")


class _ReplicaContext:
    """The OpContext on a replica: progress goes to the event queue the generator drains."""

    batch = None

    def __init__(self, loop: asyncio.AbstractEventLoop, events: asyncio.Queue, preview_every: int,
                 preview_max_size: int):
        self._loop = loop
        self._events = events
        self.preview_every = preview_every
        self.preview_max_size = preview_max_size or 256
        self.cancelled = False

    def report(self, stage: str, step: int, total: int, preview: np.ndarray | None = None) -> None:
        if preview is not None:  # made small here: only the small one travels to the ingress
            h, w = preview.shape[:2]
            scale = min(1.0, self.preview_max_size / max(h, w))
            if scale < 1.0:
                preview = imaging.resize(preview, max(1, round(w * scale)), max(1, round(h * scale)))
        self._loop.call_soon_threadsafe(self._events.put_nowait, ("progress", (stage, step, total, preview)))


def error_event(error: BaseException, replica_id: str) -> tuple:
    """An op's exception as plain data (domain errors do not all pickle: their __init__ takes other args)."""
    if isinstance(error, DccError):
        return ("error", (type(error).__name__, error.message, error.field))
    return ("error", ("InternalError", f"internal error ({type(error).__name__}) on replica {replica_id}; "
                                      "its log has the details", ""))


def rebuild_error(name: str, message: str, field: str) -> DccError:
    """The domain error an error event names, of the same class (so the status table maps it the same way)."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, DccError)):
        cls = errors.InternalError
    error = cls.__new__(cls)
    DccError.__init__(error, message, field)
    return error


@serve.deployment(name="Worker")
class Worker:
    async def __init__(self, settings: ReplicaSettings):
        import ray

        from ..models import Catalog, ModelManager
        from ..ops import OpEnv, Ops

        self.settings = settings
        catalog = Catalog.from_toml(settings.models) if settings.models else Catalog.preset(settings.preset)
        self.manager = ModelManager(catalog, device=settings.device, dtype=settings.dtype,
                                    allow_pickle=settings.allow_pickle, allow_download=settings.allow_download,
                                    profile=settings.profile, prompt_cache_size=settings.prompt_cache_size)
        self.ops = Ops(OpEnv(self.manager, settings.limits))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dccbridge-replica")
        self._one_job = asyncio.Lock()
        context = ray.get_runtime_context()
        self.replica_id = serve.get_replica_context().replica_id.unique_id
        self.actor_name = context.get_actor_name() or ""
        self.node = f"{socket.gethostname()} ({context.get_node_id()[:12]})"
        self.jobs_done = 0
        self.state = "loading"
        self._reporter = DirectoryReporter()
        self._report()
        if settings.preload_default:  # also tells Serve's router that this replica holds it
            await self._model(catalog.default_id)
        self.state = "idle"
        self._report()

    def info(self) -> dict:
        return {
            "replica_id": self.replica_id,
            "actor_name": self.actor_name,
            "node": self.node,
            "pid": os.getpid(),
            "device": self.manager.describe_device(),
            "loaded_models": [m for m in self.manager.catalog.ids() if self.manager.is_loaded(m)],
            "state": self.state,
            "jobs_done": self.jobs_done,
        }

    def _report(self) -> None:
        self._reporter(self.info())

    @serve.multiplexed(max_num_models_per_replica=8)
    async def _model(self, model_id: str) -> str:
        """Serve's model multiplexing: the router sends a job to a replica that holds its model. The load runs on
        the op thread (one load or job at a time); the manager's memory budget decides what stays on the device."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self.manager.load, model_id)
        return model_id

    async def run(self, request, preview_every: int = 0, preview_max_size: int = 256):
        async with self._one_job:
            self.state = "busy"
            self._report()
            try:
                yield ("replica", self.info())
                model_id = serve.get_multiplexed_model_id()
                if model_id:
                    try:
                        await self._model(model_id)
                    except Exception as error:  # noqa: BLE001 - e.g. ModelUnavailable: the job's failure
                        yield error_event(error, self.replica_id)
                        return
                async for event in self._run_op(request, preview_every, preview_max_size):
                    yield event
            finally:
                self.jobs_done += 1
                self.state = "idle"
                self._report()

    async def _run_op(self, request, preview_every: int, preview_max_size: int):
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        ctx = _ReplicaContext(loop, events, preview_every, preview_max_size)
        done = loop.run_in_executor(self._pool, self._call_op, request, ctx)
        try:
            while True:
                next_event = asyncio.ensure_future(events.get())
                await asyncio.wait({next_event, done}, return_when=asyncio.FIRST_COMPLETED)
                if next_event.done():
                    yield next_event.result()
                    continue
                next_event.cancel()
                while not events.empty():
                    yield events.get_nowait()
                yield done.result()
                return
        finally:
            if not done.done():  # the ingress cancelled (or went away): stop at the next step, then free the lock
                ctx.cancelled = True
                try:
                    await asyncio.shield(done)
                except BaseException:  # noqa: BLE001 - the op's end is all we wait for
                    pass

    def _call_op(self, request, ctx) -> tuple:
        try:
            return ("output", self.ops.run(request, ctx))
        except BaseException as error:  # noqa: BLE001 - every end of an op is reported to the ingress
            if not isinstance(error, DccError):
                log.exception("job failed on replica %s", self.replica_id)
            return error_event(error, self.replica_id)
