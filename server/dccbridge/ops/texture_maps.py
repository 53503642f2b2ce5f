"""texture with a GIVEN albedo: the PBR maps derived from it, no diffusion and no model loaded.

For an albedo made elsewhere -- e.g. baked from several camera views onto a mesh's UVs in a client -- which
needs the same height, normal, roughness and ao maps a generated texture gets (pbr.pbr_maps, the same
function, so both agree). Contract: TextureRequest with albedo set -> OpOutput with the albedo (role
"albedo", as decoded RGB) and, with pbr_maps, its "height", "normal", "roughness" and "ao" maps, all index 0.
Every diffusion field must be left unset: a set one would be silently ignored otherwise.
"""

from __future__ import annotations

from dataclasses import replace

from ..domain import OpOutput, OutputImage, Sampling, TextureRequest
from ..errors import InvalidInput
from ..imaging import decode_image
from .context import OpContext
from .env import OpEnv
from .pbr import PBR_ROLES, pbr_maps

FIELD = "albedo"
DIFFUSION_FIELDS = ("prompt", "negative_prompt", "model_id", "width", "height", "projection", "control_units",
                    "init_image", "strength")


def check_inputs(req: TextureRequest, env: OpEnv) -> None:
    for name in DIFFUSION_FIELDS:
        if getattr(req, name):
            raise InvalidInput(name, "must be unset with an albedo: a given albedo runs no diffusion (the maps "
                                     "come from the albedo itself)")
    if replace(req.sampling, seed=None) != Sampling():  # the seed is drawn at submit for every task
        raise InvalidInput("sampling", "must be unset with an albedo: a given albedo runs no diffusion")
    if req.adapters:
        raise InvalidInput("adapters", "must be unset with an albedo: a given albedo runs no diffusion")
    decode_image(req.albedo.data, FIELD, max_pixels=env.limits.max_input_pixels)


def run(req: TextureRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    albedo = decode_image(req.albedo.data, FIELD, max_pixels=env.limits.max_input_pixels)
    height, width = albedo.shape[:2]
    outputs = [OutputImage(albedo, role="albedo", index=0)]
    texture = {"tiling": req.tiling.value, "roles": ["albedo"], "given_albedo": True}
    if req.pbr_maps:
        ctx.report("pbr", 0, 1)
        maps = pbr_maps(albedo, req.tiling, req.normal_convention)
        ctx.report("pbr", 1, 1)
        outputs.extend(OutputImage(maps[role], role=role, index=0) for role in PBR_ROLES)
        texture.update(roles=["albedo", *PBR_ROLES], normal_convention=req.normal_convention.value)
    metadata = {"mode": "given_albedo", "width": width, "height": height, "tiling": req.tiling.value,
                "pbr_maps": req.pbr_maps, "albedo_sha256": req.albedo.sha256()}
    return OpOutput(outputs, metadata, {"texture": texture})
