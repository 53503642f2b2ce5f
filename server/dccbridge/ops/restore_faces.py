"""restore_faces: restore the faces of one image (GFPGAN / CodeFormer / RestoreFormer through spandrel, faces
found by a YuNet detector); also the finishing step of generate, upscale and outpaint (`restore_faces` option).

Contract: RestoreFacesRequest -> one image (role "image") of the input's size (alpha kept) and extra
{faces, boxes, restorer_id, detector_id} plus notice "no face found" when there is none (image unchanged).
Stages: 1 check inputs (header, pixel budget, ids and ranges; nothing loaded) · 2 decode · 3 load the restorer and
detector · 4 detect, align, restore, paste back (ops/faces.py) · 5 package with provenance.
"""

from __future__ import annotations

import dataclasses

from .. import imaging
from ..domain import OpOutput, OutputImage, RestoreFacesRequest
from ..errors import InvalidInput
from . import faces
from .context import OpContext
from .env import OpEnv

FINISHING_PREFIX = "restore_faces."


# 1. check inputs ------------------------------------------------------------------------------


def check_inputs(req: RestoreFacesRequest, env: OpEnv) -> None:
    width, height = imaging.image_size(req.image.data, "image")
    if width == 0 or height == 0:
        raise InvalidInput("image", f"is {width}x{height} pixels; an image to restore needs at least 1x1")
    imaging.check_pixel_budget(width, height, "image", env.limits.max_input_pixels)
    faces.check_restoration(req.restoration, env)


# 2-5. run -------------------------------------------------------------------------------------


def run(req: RestoreFacesRequest, env: OpEnv, ctx: OpContext) -> OpOutput:
    # 2. decode (alpha kept)
    pixels = imaging.decode_image(req.image.data, "image", mode="RGBA", max_pixels=env.limits.max_input_pixels)
    if (pixels[:, :, 3] == 255).all():
        pixels = pixels[:, :, :3]
    # 3-4. load on first use; detect, align, restore, paste back
    _load(req.restoration, env, ctx, "")
    restored = faces.restore_faces(pixels, req.restoration, env, ctx)
    # 5. package
    extra = {**restored.summary(), **_ids(req.restoration, env)}
    metadata = {"restore_faces": _record(req.restoration, env, restored)}
    image = OutputImage(restored.pixels, role="image", parameters=_parameters(req.restoration, env))
    return OpOutput([image], metadata, extra)


# the finishing step on other tasks' results --------------------------------------------------------


def check_finishing(request, env: OpEnv) -> None:
    spec = getattr(request, "restore_faces", None)
    if spec is not None:
        faces.check_restoration(spec, env, FINISHING_PREFIX)


def finish(request, output: OpOutput, env: OpEnv, ctx: OpContext) -> OpOutput:
    """Restore the faces of each result image of a task that asked for it (`restore_faces`); other images (maps,
    previews) pass through. extra["restore_faces"] lists one summary per restored image."""
    spec = getattr(request, "restore_faces", None)
    if spec is None:
        return output
    _load(spec, env, ctx, FINISHING_PREFIX)
    images, summaries, records = [], [], []
    for image in output.images:
        if image.role != "image" or image.pixels.ndim != 3:
            images.append(image)
            continue
        restored = faces.restore_faces(image.pixels, spec, env, ctx, FINISHING_PREFIX)
        summaries.append(restored.summary())
        records.append(_record(spec, env, restored))
        text = f"{image.parameters}, {_parameters(spec, env)}" if image.parameters else _parameters(spec, env)
        images.append(dataclasses.replace(image, pixels=restored.pixels, parameters=text))
    found = sum(s["faces"] for s in summaries)
    extra = dict(output.extra, restore_faces={"images": summaries, "faces": found, **_ids(spec, env)})
    if not found:
        extra["restore_faces"]["notice"] = faces.NO_FACE_NOTICE
    return OpOutput(images, dict(output.metadata, restore_faces=records), extra)


# helpers ------------------------------------------------------------------------------------------


def _load(spec, env: OpEnv, ctx: OpContext, prefix: str) -> None:
    models = env.manager.faces
    entry = env.catalog.faces.restorer(spec.restorer_id, f"{prefix}restorer_id")
    detector = env.catalog.faces.detector(spec.detection.detector_id, f"{prefix}detection.detector_id")
    if not models.is_loaded(entry.id, detector.id):
        ctx.report("load", 0, 1)


def _ids(spec, env: OpEnv) -> dict:
    return {"restorer_id": env.catalog.faces.restorer(spec.restorer_id).id,
            "detector_id": env.catalog.faces.detector(spec.detection.detector_id).id}


def _record(spec, env: OpEnv, restored: faces.Restored) -> dict:
    restorer = env.manager.faces.restorer(spec.restorer_id)
    detector = env.manager.faces.detector(spec.detection.detector_id)
    return {
        "restorer_id": restorer.entry.id, "restorer_architecture": restorer.architecture,
        "restorer_hash": restorer.weights_hash, "restorer_license": restorer.entry.license,
        "detector_id": detector.entry.id, "detector_hash": detector.weights_hash,
        "strength": faces._or(spec.strength, faces.DEFAULT_STRENGTH),
        "fidelity": faces._or(spec.fidelity, faces.DEFAULT_FIDELITY) if restorer.has_fidelity else None,
        "threshold": faces._or(spec.detection.threshold, faces.DEFAULT_THRESHOLD),
        **restored.summary(),
    }


def _parameters(spec, env: OpEnv) -> str:
    """A1111's fields for the step ("Face restoration: GFPGAN")."""
    restorer = env.manager.faces.restorer(spec.restorer_id)
    return (f"Face restoration: {restorer.architecture} ({restorer.entry.id}), "
            f"Face restoration strength: {faces._or(spec.strength, faces.DEFAULT_STRENGTH):g}")
