"""One file per task. Each exposes check_inputs(request, env) -- cheap, loads nothing -- and
run(request, env, ctx) -> OpOutput."""

from __future__ import annotations

from ..domain import GenerateRequest, OpOutput, PreprocessRequest
from ..errors import Unsupported
from .env import OpEnv
from .limits import Limits


def _module_for(request):
    # Imported here so that importing dccbridge.ops stays light for the API layer.
    if isinstance(request, GenerateRequest):
        from . import generate

        return generate
    if isinstance(request, PreprocessRequest):
        from . import preprocess

        return preprocess
    raise Unsupported(f"this server does not run '{getattr(request, 'task_type', type(request).__name__)}' tasks yet")


class Ops:
    """Dispatches a request to its op; the engine's OpRunner."""

    def __init__(self, env: OpEnv):
        self.env = env

    def check(self, request) -> None:
        _module_for(request).check_inputs(request, self.env)

    def run(self, request, ctx) -> OpOutput:
        return _module_for(request).run(request, self.env, ctx)


__all__ = ["Ops", "OpEnv", "Limits"]
