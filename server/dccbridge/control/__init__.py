"""Control maps for ControlNet units: from a ready map, an image to preprocess, a host depth
pass or a pose rig. Everything here is numpy + OpenCV; estimators that need model weights
(depth estimate, pose detection, lineart, softedge) are passed in by the caller.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..domain import (
    ControlType,
    ControlUnitSpec,
    DepthPassInput,
    ImageInput,
    PoseRigInput,
    PreprocessInput,
    Preprocessor,
    ReferenceImagesInput,
)
from ..errors import InvalidInput, Unsupported
from ..imaging import DEFAULT_MAX_INPUT_PIXELS, decode_image, image_size, resize
from .canny import canny_map
from .depth import (
    decode_depth_pass,
    depth_to_control_map,
    depth_to_level,
    level_to_rgb8,
    resolve_normalization,
)
from .openpose import draw_pose_rig

__all__ = [
    "DEFAULT_PREPROCESSOR",
    "Estimators",
    "canny_map",
    "check_source",
    "decode_depth_pass",
    "depth_pass_level",
    "depth_to_control_map",
    "draw_pose_rig",
    "estimator_preprocessor",
    "level_to_rgb8",
    "prepare_control_map",
    "resolve_normalization",
    "source_size",
]

DEFAULT_PREPROCESSOR = {
    ControlType.CANNY: Preprocessor.CANNY,
    ControlType.DEPTH: Preprocessor.DEPTH_ESTIMATE,
    ControlType.OPENPOSE: Preprocessor.OPENPOSE_DETECT,
    ControlType.LINEART: Preprocessor.LINEART,
    ControlType.SOFTEDGE: Preprocessor.SOFTEDGE,
}


class Estimators(Protocol):
    """Weight-backed preprocessors: rgb (uint8 HxWx3) -> control map (uint8 HxW or HxWx3)."""

    available: tuple[Preprocessor, ...]  # the preprocessors it can run

    def run(self, preprocessor: Preprocessor, rgb: np.ndarray) -> np.ndarray: ...


def prepare_control_map(
    unit: ControlUnitSpec, width: int, height: int, field: str, estimators: Estimators | None = None,
    max_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
) -> np.ndarray:
    """The unit's control map as uint8 height x width x 3 RGB. Source images above max_pixels are refused from
    their header."""
    source = unit.source
    if isinstance(source, ReferenceImagesInput):  # an IP-Adapter image prompt (ops/reference.py), not a map
        raise InvalidInput(f"{field}.reference", "reference images feed only CONTROL_TYPE_REFERENCE units")
    if isinstance(source, ImageInput):
        return resize(decode_image(source.data, f"{field}.image", max_pixels=max_pixels), width, height)
    if isinstance(source, DepthPassInput):
        if unit.control_type is not ControlType.DEPTH:
            raise InvalidInput(f"{field}.depth_pass", "a depth pass feeds only CONTROL_TYPE_DEPTH units")
        depth_field = f"{field}.depth_pass"
        depth = decode_depth_pass(source, depth_field, max_pixels)
        return depth_to_control_map(depth, source.encoding, source.near, source.far, width, height, depth_field,
                                    resolve_normalization(source))
    if isinstance(source, PoseRigInput):
        if unit.control_type is not ControlType.OPENPOSE:
            raise InvalidInput(f"{field}.pose_rig", "a pose rig feeds only CONTROL_TYPE_OPENPOSE units")
        return draw_pose_rig(source, width, height, f"{field}.pose_rig")
    return _preprocess(unit.control_type, source, width, height, f"{field}.preprocess", estimators, max_pixels)


def _preprocess(
    control_type: ControlType,
    source: PreprocessInput,
    width: int,
    height: int,
    field: str,
    estimators: Estimators | None,
    max_pixels: int,
) -> np.ndarray:
    preprocessor = source.preprocessor or DEFAULT_PREPROCESSOR.get(control_type)
    if preprocessor is None:
        names = ", ".join(p.value for p in Preprocessor)
        raise InvalidInput(
            f"{field}.preprocessor",
            f"CONTROL_TYPE_{control_type.name} has no natural preprocessor; name one ({names}) or send a ready map",
        )
    rgb = decode_image(source.image.data, f"{field}.image", max_pixels=max_pixels)
    if preprocessor is Preprocessor.CANNY:
        # Edges found at the output size stay crisp 1-px lines; resizing an edge map blurs them.
        return canny_map(resize(rgb, width, height), source.canny_low, source.canny_high, f"{field}.canny")
    if estimators is None:
        raise Unsupported(
            f"preprocessor '{preprocessor.value}' needs estimator weights that this server does not have; "
            "send a ready map, a depth pass or a pose rig instead"
        )
    control = estimators.run(preprocessor, rgb)
    if control.ndim == 2:
        control = np.repeat(control[:, :, None], 3, axis=2)
    return resize(control, width, height)


def depth_pass_level(source: DepthPassInput, width: int, height: int, field: str,
                     max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """A host depth pass as float32 levels in [0, 1] (near = 1) at width x height: the depth2img models' input,
    normalised exactly as the depth control map is (see control/depth.py)."""
    depth = decode_depth_pass(source, field, max_pixels)
    return depth_to_level(depth, source.encoding, source.near, source.far, width, height, field,
                          resolve_normalization(source))


def estimator_preprocessor(unit: ControlUnitSpec) -> Preprocessor | None:
    """The weight-backed preprocessor the unit's map comes from, or None (ready map, depth pass, pose rig, canny)."""
    source = unit.source
    if not isinstance(source, PreprocessInput):
        return None
    preprocessor = source.preprocessor or DEFAULT_PREPROCESSOR.get(unit.control_type)
    return None if preprocessor in (None, Preprocessor.CANNY) else preprocessor


def check_source(
    unit: ControlUnitSpec, width: int, height: int, field: str, estimators: Estimators | None,
    max_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
) -> None:
    """Validate a unit's source before a job is queued. Cheap maps are computed (bad bytes, NaN depth, keypoints
    off the canvas); for one that needs an estimator (too costly to run just to validate) the image is decoded
    and the estimator's availability checked. Images above max_pixels are refused from their header."""
    preprocessor = estimator_preprocessor(unit)
    if preprocessor is None:
        prepare_control_map(unit, width, height, field, max_pixels=max_pixels)
        return
    decode_image(unit.source.image.data, f"{field}.preprocess.image", max_pixels=max_pixels)
    if preprocessor not in getattr(estimators, "available", ()):
        raise Unsupported(
            f"{field}.preprocess: this server has no '{preprocessor.value}' estimator; send a ready map, a depth "
            "pass or a pose rig instead (GetCapabilities lists the preprocessors it has)"
        )


def source_size(unit: ControlUnitSpec) -> tuple[int, int] | None:
    """The natural (width, height) of a unit's source, or None when it cannot be read (read from the header:
    nothing is decoded)."""
    source = unit.source
    if isinstance(source, PoseRigInput):
        return source.canvas_width, source.canvas_height
    if isinstance(source, DepthPassInput):
        if source.width and source.height:
            return source.width, source.height
        return _encoded_size(source.png16 or b"")
    if isinstance(source, ReferenceImagesInput):
        return None
    image = source if isinstance(source, ImageInput) else source.image
    return _encoded_size(image.data)


def _encoded_size(data: bytes) -> tuple[int, int] | None:
    try:
        return image_size(data, "")
    except InvalidInput:
        return None
