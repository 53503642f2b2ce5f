"""One file per task. Each exposes check_inputs(request, env) -- cheap, loads nothing -- and
run(request, env, ctx) -> OpOutput."""

from __future__ import annotations

import importlib

from ..domain import OpOutput, TaskType
from ..errors import Unsupported
from .env import OpEnv
from .limits import Limits

# Task type -> the op module that runs it (imported on first use, so importing dccbridge.ops stays light).
OP_MODULES = {
    TaskType.GENERATE: "generate",
    TaskType.DEPTH2IMG: "depth2img",
    TaskType.TEXTURE: "texture",
    TaskType.PREPROCESS: "preprocess",
    TaskType.UPSCALE: "upscale",
    TaskType.OUTPAINT: "outpaint",
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

    def run(self, request, ctx) -> OpOutput:
        return _module_for(request).run(request, self.env, ctx)


__all__ = ["Ops", "OpEnv", "Limits"]
