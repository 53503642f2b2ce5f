"""RayOpRunner: the engine's OpRunner in cluster mode. It validates at the ingress (nothing loads there) and
forwards each job's plain request to a replica of the Worker deployment, turning the replica's events into the
job context's reports and its last event into the OpOutput (or the same domain error).

Model-aware routing: every call names its model (Serve's multiplexed_model_id), so Serve sends it to a replica
that already holds the model and loads it elsewhere only when none does.
Faults: a replica that dies under a job (or cannot be reached) costs one try; the job runs again on another
replica with the same request (its seed was fixed at submit: same pixels), up to max_tries, then fails with
ReplicaLost naming the reason.
"""

from __future__ import annotations

import logging
import threading

from ray import exceptions as ray_exceptions
from ray.serve.exceptions import RequestCancelledError

from ..domain import OpOutput
from ..errors import Cancelled, InternalError, ReplicaLost
from .worker import rebuild_error

log = logging.getLogger("dccbridge.cluster")

# What a replica's death (or its node's) looks like from the ingress: ActorDiedError and ActorUnavailableError are
# RayActorErrors; a node that went away takes its objects with it.
REPLICA_GONE = (ray_exceptions.RayActorError, ray_exceptions.ObjectLostError, ray_exceptions.NodeDiedError,
                ray_exceptions.WorkerCrashedError)
CANCEL_POLL_S = 0.1


class RayOpRunner:
    def __init__(self, local_ops, link, max_tries: int, parallel_jobs: int, default_model_id: str):
        """local_ops: Ops over the ingress's catalog and limits, for check() (it loads nothing); link: the
        ClusterLink (the Worker handle, blocking until the application is deployed, and the live replicas)."""
        self.local_ops = local_ops
        self._link = link
        self._handle_source = link.handle
        self.max_tries = max_tries
        self.parallel_jobs = parallel_jobs  # the engine runs this many jobs at once
        self.default_model_id = default_model_id
        self.retries = 0  # replica deaths survived by re-running a job (for tests and metrics)

    # -- the OpRunner protocol -----------------------------------------------------------------

    def capacity(self) -> int:
        """Jobs the engine may run now: one per live replica (the engine asks under its lock: a cached count)."""
        return self._link.capacity()

    def check(self, request) -> None:
        self.local_ops.check(request)

    def batch_key(self, request):
        return None  # batching is in-process; across a cluster each replica runs one job at a time

    def batch_images(self, request) -> int:
        return self.local_ops.batch_images(request)

    def batch_capacity(self, request) -> int:
        return 1

    def run(self, request, ctx) -> OpOutput:
        model_id = self.model_of(request)
        tries = 0
        while True:
            tries += 1
            try:
                output = self._run_once(request, ctx, model_id)
            except REPLICA_GONE as error:
                if ctx.cancelled:
                    raise Cancelled() from error
                reason = _first_line(error)
                if tries >= self.max_tries:
                    raise ReplicaLost(tries, reason) from error
                self.retries += 1
                log.warning("a replica died under a job (try %d of %d: %s); running it on another replica",
                            tries, self.max_tries, reason)
                continue
            output.metadata["cluster"] = {**output.metadata.get("cluster", {}), "tries": tries}
            return output

    def model_of(self, request) -> str:
        """The model the job runs on ('' for tasks that need none): the routing key."""
        model_id = getattr(request, "model_id", "") or ""
        if not model_id and request.task_type.value != "preprocess" and _uses_default_model(request):
            model_id = self.default_model_id
        return model_id

    # -- one try --------------------------------------------------------------------------------

    def _run_once(self, request, ctx, model_id: str) -> OpOutput:
        handle = self._handle_source().options(stream=True, multiplexed_model_id=model_id)
        response = handle.run.remote(request, ctx.preview_every, ctx.preview_max_size)
        finished = threading.Event()
        watcher = threading.Thread(target=self._cancel_when_asked, args=(ctx, response, finished), daemon=True,
                                   name="dccbridge-cancel-watch")
        watcher.start()
        replica: dict = {}
        try:
            for kind, payload in response:
                if kind == "progress":
                    ctx.report(*payload)
                elif kind == "replica":
                    replica = payload
                elif kind == "output":
                    payload.metadata["cluster"] = {"replica": replica.get("replica_id", ""),
                                                   "node": replica.get("node", "")}
                    return payload
                elif kind == "error":
                    raise rebuild_error(*payload)
        except (ray_exceptions.TaskCancelledError, RequestCancelledError) as error:
            raise Cancelled() from error
        finally:
            finished.set()
        if ctx.cancelled:
            raise Cancelled()
        raise InternalError("the replica ended the job without a result")

    @staticmethod
    def _cancel_when_asked(ctx, response, finished: threading.Event) -> None:
        while not finished.wait(CANCEL_POLL_S):
            if ctx.cancelled:
                response.cancel()
                return


def _uses_default_model(request) -> bool:
    """Upscales by ESRGAN / Lanczos need no diffusion model; everything else runs on one."""
    method = getattr(request, "method", None)
    return method is None or method.value in ("sd_x4", "tiled_diffusion")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
