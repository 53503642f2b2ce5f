"""A host depth pass -> the 8-bit map ControlNet depth models expect.

ControlNet depth models were trained on MiDaS-style relative inverse depth: near = bright,
far = dark, scaled per image. A host pass is usually linear distance with a background at
+inf or a sentinel. The rules, per encoding (row 0 of every plane is the top row; NaN is
an error in every encoding):

LINEAR (distance from the camera, in scene units)
  * Background: +inf, d <= 0, or d >= far when far > 0 (Cycles' 1e10 and Eevee's 65504
    fall here once far is sent; a png16 raw 0 is "no data"). -inf is an error.
  * Foreground inverse depth: inv = 1 / max(d, near), near only when near > 0.
INVERSE (disparity: larger = nearer)
  * Background: non-finite or <= 0. Foreground: inv = the value itself. near/far are ignored.
LINEAR and INVERSE: the foreground's inverse depth is scaled to [0, 1] by the pass's normalisation
(DepthNormalization; unset = the model family's default, families.py):
  * MIN_MAX: v = (inv - min) / (max - min) over the foreground -- what the ControlNet annotators
    (controlnet_aux MiDaS, DPT, Depth-Anything) do to their relative inverse depth, and what the
    sd2-depth pipeline does to its depth input. One stray near pixel sets the white point.
  * PERCENTILE: lo, hi = 2nd and 98th percentile of inv; v = clip((inv - lo) / (hi - lo), 0, 1),
    so a few outlier pixels cannot flatten the rest. When those percentiles coincide (e.g. a
    small object, under 2 % of the frame, in front of a flat wall) min..max is used instead, so
    the object does not vanish.
  * NEAR_FAR: a fixed range, the same for every frame of a shot: v = clip((inv - 1/far) /
    (1/near - 1/far), 0, 1) (for INVERSE, the values are read as 1/d). Needs near > 0 and
    far > near. The foreground is always lifted into [BACKGROUND_GAP, 1] (below), so a level
    does not depend on whether this frame happens to show background.
  * A flat foreground maps to 1.0 (MIN_MAX, PERCENTILE).
  * With background present, the foreground is lifted into [BACKGROUND_GAP, 1] so that the
    farthest object stays distinguishable from the black (0) background.
  * No foreground at all (an empty scene) gives an all-black map.
  * MIN_MAX and PERCENTILE depend only on depth ratios: scaling every depth and near/far by the
    same factor gives the same map (up to 1 LSB of rounding). INVERSE values equal to 1/d of a
    LINEAR pass give the LINEAR map (when near clamps nothing).
NORMALIZED (already a map, near = 1)
  * Clipped to [0, 1] as-is; near/far and the normalisation are ignored.

The float map is resized to the output size (area filter when shrinking, bilinear when
enlarging) before it is quantised, then written to R, G and B alike.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .. import families
from ..domain import DepthEncoding, DepthNormalization, DepthPassInput
from ..errors import InvalidInput
from ..imaging import DEFAULT_MAX_INPUT_PIXELS, check_pixel_budget, image_size, imdecode

BACKGROUND_GAP = 0.1        # the farthest foreground level when a background is present
LOW_PERCENTILE = 2.0
HIGH_PERCENTILE = 98.0
FLAT_RELATIVE_RANGE = 1e-6  # hi - lo below this fraction of hi counts as "no depth range"
MAX_DEPTH_SIDE = 8192
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode_depth_pass(dp: DepthPassInput, field: str, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> np.ndarray:
    """The pass's values as float32 HxW (scene units for LINEAR), validated. A png16 above max_pixels is refused
    from its header, before it is decoded. Value errors (NaN, -inf) name the data field, `{field}.float32_le`."""
    has_float = bool(dp.float32_le)
    has_png = bool(dp.png16)
    if has_float == has_png:
        which = "both are" if has_float else "neither is"
        raise InvalidInput(field, f"set exactly one of float32_le or png16 ({which} set)")
    if not has_float:
        return _decode_png16(dp, field, max_pixels)
    depth = _decode_float32(dp, field, max_pixels)
    for name, count, wanted in (("NaN", int(np.isnan(depth).sum()), True),
                                ("-inf", int(np.isneginf(depth).sum()), dp.encoding is DepthEncoding.LINEAR)):
        if count and wanted:
            raise InvalidInput(
                f"{field}.float32_le",
                f"contains {name} values ({count} pixels); mark background with +inf or a depth >= far",
            )
    return depth


def _check_side(value: int, field: str) -> None:
    if not 1 <= value <= MAX_DEPTH_SIDE:
        raise InvalidInput(field, f"must be 1..{MAX_DEPTH_SIDE}, got {value}")


def _decode_float32(dp: DepthPassInput, field: str, max_pixels: int) -> np.ndarray:
    _check_side(dp.width, f"{field}.width")
    _check_side(dp.height, f"{field}.height")
    check_pixel_budget(dp.width, dp.height, f"{field}.float32_le", max_pixels)
    expected = dp.width * dp.height * 4
    if len(dp.float32_le) != expected:
        raise InvalidInput(
            f"{field}.float32_le",
            f"expected W*H*4 = {expected} bytes for {dp.width}x{dp.height}, got {len(dp.float32_le)}",
        )
    # astype copies into native byte order and makes the array writable
    return np.frombuffer(dp.float32_le, dtype="<f4").reshape(dp.height, dp.width).astype(np.float32)


def _decode_png16(dp: DepthPassInput, field: str, max_pixels: int) -> np.ndarray:
    png_field = f"{field}.png16"
    scale = dp.png16_scale or 1.0
    if not (math.isfinite(scale) and scale > 0):
        raise InvalidInput(f"{field}.png16_scale", f"must be a finite number > 0 (0 = 1.0), got {scale}")
    if not dp.png16.startswith(PNG_MAGIC):
        raise InvalidInput(png_field, "not a PNG (send a single-channel 16-bit PNG)")
    png_width, png_height = image_size(dp.png16, png_field)  # the header: refused before decoding
    if max(png_width, png_height) > MAX_DEPTH_SIDE:
        raise InvalidInput(png_field, f"is {png_width}x{png_height}; each side must be 1..{MAX_DEPTH_SIDE}")
    check_pixel_budget(png_width, png_height, png_field, max_pixels)
    raw = imdecode(dp.png16, png_field)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        channels = 1 if raw.ndim == 2 else raw.shape[2]
        bits = raw.dtype.itemsize * 8
        raise InvalidInput(
            png_field, f"expected a single-channel 16-bit PNG, got {channels}-channel {bits}-bit"
        )
    png_height, png_width = raw.shape
    for name, given, actual in (("width", dp.width, png_width), ("height", dp.height, png_height)):
        if given and given != actual:
            raise InvalidInput(
                f"{field}.{name}",
                f"is {given} but the PNG is {png_width}x{png_height} (send 0 to take the PNG's size)",
            )
    return raw.astype(np.float32) * np.float32(scale)


def _check_clip_range(near: float, far: float, normalization: DepthNormalization | None, field: str) -> None:
    for name, value in (("near", near), ("far", far)):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInput(f"{field}.{name}", f"must be a finite number >= 0 (0 = unknown), got {value}")
    if near > 0 and far > 0 and far <= near:
        raise InvalidInput(f"{field}.far", f"must be greater than near ({far} <= {near})")
    if normalization is DepthNormalization.NEAR_FAR:
        for name, value in (("near", near), ("far", far)):
            if value <= 0:
                raise InvalidInput(f"{field}.{name}", f"must be > 0 for DEPTH_NORMALIZATION_NEAR_FAR (the fixed range "
                                                      f"is 1/far..1/near), got {value}")


def resolve_normalization(dp: DepthPassInput, family: str | None = None) -> DepthNormalization:
    """The pass's normalisation, or the family's default when the request left it unset."""
    if dp.normalization is not None:
        return dp.normalization
    return DepthNormalization(families.depth_normalization(family or ""))


def depth_to_control_map(
    depth: np.ndarray,
    encoding: DepthEncoding,
    near: float,
    far: float,
    width: int,
    height: int,
    field: str,
    normalization: DepthNormalization,
) -> np.ndarray:
    """Depth values (HxW) -> uint8 height x width x 3 control map; see the module docstring."""
    return level_to_rgb8(depth_to_level(depth, encoding, near, far, width, height, field, normalization))


def depth_to_level(
    depth: np.ndarray,
    encoding: DepthEncoding,
    near: float,
    far: float,
    width: int,
    height: int,
    field: str,
    normalization: DepthNormalization,
) -> np.ndarray:
    """Depth values (HxW) -> float32 height x width levels in [0, 1], near = 1, before quantisation.

    The control map is this level written to 8 bits; depth2img models take it as a float plane.
    """
    # A NORMALIZED pass ignores the normalisation and near/far, but near/far must still be sane.
    _check_clip_range(near, far, None if encoding is DepthEncoding.NORMALIZED else normalization, field)
    if np.isnan(depth).any():
        raise InvalidInput(field, "contains NaN values; mark background with +inf or a depth >= far")
    # float64 keeps 1/d exact enough for tiny depths and the percentiles stable
    values = depth.astype(np.float64)
    if encoding is DepthEncoding.NORMALIZED:
        level = np.clip(values, 0.0, 1.0)
    elif encoding is DepthEncoding.LINEAR:
        if np.isneginf(values).any():
            raise InvalidInput(field, "contains -inf values; mark background with +inf or a depth >= far")
        background = ~np.isfinite(values) | (values <= 0)
        if far > 0:
            background |= values >= far
        closest = near if near > 0 else np.finfo(np.float64).tiny
        inverse = np.zeros_like(values)
        inverse[~background] = 1.0 / np.maximum(values[~background], closest)
        level = _normalise_foreground(inverse, background, normalization, near, far)
    else:  # INVERSE
        background = ~np.isfinite(values) | (values <= 0)
        level = _normalise_foreground(np.where(background, 0.0, values), background, normalization, near, far)
    return _resize_float(level.astype(np.float32), width, height)


def _normalise_foreground(inverse: np.ndarray, background: np.ndarray, normalization: DepthNormalization,
                          near: float, far: float) -> np.ndarray:
    """Inverse depth of the foreground -> [0, 1] (or [BACKGROUND_GAP, 1]); background -> 0."""
    level = np.zeros_like(inverse)
    foreground = inverse[~background]
    if foreground.size == 0:
        return level
    if normalization is DepthNormalization.NEAR_FAR:
        lo, hi = 1.0 / far, 1.0 / near
        scaled = BACKGROUND_GAP + (1.0 - BACKGROUND_GAP) * np.clip((foreground - lo) / (hi - lo), 0.0, 1.0)
        level[~background] = scaled
        return level
    if normalization is DepthNormalization.PERCENTILE:
        lo, hi = np.percentile(foreground, [LOW_PERCENTILE, HIGH_PERCENTILE])
    else:
        lo, hi = foreground.min(), foreground.max()
    if hi - lo <= FLAT_RELATIVE_RANGE * hi:
        lo, hi = foreground.min(), foreground.max()
    if hi - lo <= FLAT_RELATIVE_RANGE * hi:
        scaled = np.ones_like(foreground)
    else:
        scaled = np.clip((foreground - lo) / (hi - lo), 0.0, 1.0)
    if background.any():
        scaled = BACKGROUND_GAP + (1.0 - BACKGROUND_GAP) * scaled
    level[~background] = scaled
    return level


def _resize_float(level: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = level.shape
    if (w, h) == (width, height):
        return level
    interpolation = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    return cv2.resize(level, (width, height), interpolation=interpolation)


def level_to_rgb8(level: np.ndarray) -> np.ndarray:
    """Float levels in [0, 1] -> the uint8 three-channel map ControlNet depth models take."""
    gray = np.rint(np.clip(level, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
