"""preprocess: the control map a ControlNet unit would use, so a client can show it first.

Contract: PreprocessRequest(unit, width, height) -> one image with role "control".
"""

from __future__ import annotations

from .. import control
from ..domain import DepthPassInput, OpOutput, OutputImage, PreprocessRequest
from ..errors import InvalidInput
from .context import OpContext
from .env import OpEnv

FIELD = "unit"


def output_size(req: PreprocessRequest) -> tuple[int, int]:
    if req.width and req.height:
        return req.width, req.height
    if req.width or req.height:
        raise InvalidInput("width" if not req.width else "height", "set both width and height, or neither")
    size = control.source_size(req.unit)
    if size is None:
        raise InvalidInput("width", "the unit's source has no size of its own; set width and height")
    return size


def check_inputs(req: PreprocessRequest, env: OpEnv) -> None:
    width, height = output_size(req)
    for name, value, maximum in (("width", width, env.limits.max_width), ("height", height, env.limits.max_height)):
        if not 1 <= value <= maximum:
            raise InvalidInput(name, f"must be between 1 and {maximum}, got {value}")
    control.check_source(req.unit, width, height, FIELD, env.estimators, env.limits.max_input_pixels)


def run(req: PreprocessRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    width, height = output_size(req)
    ctx.report("preprocess", 0, 1)
    control_map = control.prepare_control_map(req.unit, width, height, FIELD, env.estimators,
                                              env.limits.max_input_pixels)
    ctx.report("preprocess", 1, 1)
    metadata = {"control_type": req.unit.control_type.value}
    if isinstance(req.unit.source, DepthPassInput):  # no model here: unset is the default of every family
        metadata["depth_normalization"] = {f"{FIELD}.depth_pass": control.resolve_normalization(req.unit.source).value}
    return OpOutput(images=[OutputImage(control_map, role="control")], metadata=metadata)
