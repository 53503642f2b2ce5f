"""One file per task. Each exposes check_inputs(request, env) -- cheap, loads nothing -- and
run(request, env, ctx) -> OpOutput. A task that can run in a cross-request batch (docs/batching.md) also exposes
batch_key(request, env) and batch_capacity(request, env)."""

from __future__ import annotations

import importlib
import logging

from ..domain import OpOutput, TaskType
from ..errors import Unsupported
from .env import OpEnv
from .limits import Limits

log = logging.getLogger("dccbridge.ops")

# Task type -> the op module that runs it (imported on first use, so importing dccbridge.ops stays light).
OP_MODULES = {
    TaskType.GENERATE: "generate",
    TaskType.DEPTH2IMG: "depth2img",
    TaskType.TEXTURE: "texture",
    TaskType.PREPROCESS: "preprocess",
    TaskType.UPSCALE: "upscale",
    TaskType.OUTPAINT: "outpaint",
    TaskType.RESTORE_FACES: "restore_faces",
}


def _module_for(request):
    task_type = request.task_type
    if task_type not in OP_MODULES:
        raise Unsupported(f"'{task_type.value}' tasks are part of the v1 contract but not served by this "
                          "server version yet")
    return importlib.import_module(f".{OP_MODULES[task_type]}", __name__)


class Ops:
    """Dispatches a request to its op; the engine's OpRunner."""

    def __init__(self, env: OpEnv):
        self.env = env

    def check(self, request) -> None:
        _module_for(request).check_inputs(request, self.env)
        if getattr(request, "restore_faces", None) is not None:  # the finishing step (ops/restore_faces.py)
            importlib.import_module(".restore_faces", __name__).check_finishing(request, self.env)

    def run(self, request, ctx) -> OpOutput:
        output = _module_for(request).run(request, self.env, ctx)
        if getattr(request, "restore_faces", None) is not None:
            output = importlib.import_module(".restore_faces", __name__).finish(request, output, self.env, ctx)
        return output

    def batch_key(self, request):
        """Requests with equal, non-None keys may run as one batch; None: this one runs alone."""
        try:
            key = getattr(_module_for(request), "batch_key", None)
            return key(request, self.env) if key is not None else None
        except Exception as error:  # e.g. its model left the catalog: it will fail on its own, alone
            log.debug("no batch key for a %s request: %s", request.task_type.value, error)
            return None

    def batch_images(self, request) -> int:
        """The images a request adds to a batch."""
        sampling = getattr(request, "sampling", None)
        return getattr(sampling, "num_images_per_prompt", 1) or 1

    def batch_capacity(self, request) -> int:
        """The most images one batch led by this request may hold on the device (a memory estimate); >= 1."""
        try:
            return max(1, _module_for(request).batch_capacity(request, self.env))
        except Exception as error:
            log.warning("no batch capacity for a %s, running it alone: %s", type(request).__name__, error)
            return 1

    # -- live sessions (ops/live.py; scheduled by jobs/live.py) ------------------------------------------

    def live_settings(self, config):
        """A session's LiveConfig checked and resolved (loads nothing)."""
        from . import live
        return live.resolve_config(config, self.env)

    def check_live_frame(self, frame, settings) -> None:
        from . import live
        live.check_frame(frame, settings, self.env)

    def live_runner(self, settings, on_control_map):
        """The session's warm state (loads its model and ControlNets)."""
        from . import live
        return live.LiveRunner(settings, self.env, on_control_map)


__all__ = ["Ops", "OpEnv", "Limits"]
