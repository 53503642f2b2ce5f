"""PBR maps derived from a generated albedo: height, normal, roughness, ambient occlusion.

A diffusion model paints colour only; these maps are estimates from it (the approach of tools like
Materialize): plausible starting points an artist tunes, not measurements. With L the albedo's luminance in
[0, 1] and S the texture's shorter side in pixels:

- height: L band-passed -- pixel noise smoothed (Gaussian, sigma 1 px) and large-scale shading removed
  (minus a Gaussian with sigma S/8) -- then scaled from its 1st..99th percentile to [0, 1]. Bright = high.
- normal: the height's surface normal with the height range standing RELIEF * S pixels tall:
  n = normalize(-dh/dx, dh/d(row), 1) from Sobel derivatives, stored as (n + 1) / 2 in RGB. That is
  OpenGL's convention (green = +Y = up the image: Blender, Unity); DirectX (Unreal) flips green.
- roughness: the local contrast of fine detail (RMS of L minus its sigma-2 blur, over a sigma-2 window),
  percentile-scaled and mapped to [ROUGHNESS_MIN, ROUGHNESS_MAX]: busy areas read rough, smooth areas glossier.
- ao: cavities darken -- ao = 1 - clip(AO_STRENGTH * (mean height around (sigma S/32) - height), 0, 1).

Every filter pads the image first: wrapping around along tiled axes (the opposite edge's pixels), reflecting
along the others. The maps are then exactly as periodic as the albedo: rolling the albedo rolls every map.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..domain import NormalConvention, TilingAxes

PBR_ROLES = ("height", "normal", "roughness", "ao")
DETAIL_SIGMA = 1.0
SHADING_SIGMA_FRACTION = 1 / 8
RELIEF = 1 / 64
ROUGHNESS_SIGMA = 2.0
ROUGHNESS_MIN, ROUGHNESS_MAX = 0.35, 0.95
AO_SIGMA_FRACTION = 1 / 32
AO_STRENGTH = 2.0
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709


def pbr_maps(albedo: np.ndarray, tiling: TilingAxes, convention: NormalConvention) -> dict[str, np.ndarray]:
    """uint8 maps from a uint8 RGB albedo: height, roughness and ao are HxW, normal HxWx3 (keys: PBR_ROLES)."""
    luminance = albedo[:, :, :3].astype(np.float32) @ LUMA / 255.0
    shorter = min(albedo.shape[:2])
    height = _height(luminance, shorter, tiling)
    return {
        "height": _to_uint8(height),
        "normal": _to_uint8(_normal_rgb(height, shorter, tiling, convention)),
        "roughness": _to_uint8(_roughness(luminance, tiling)),
        "ao": _to_uint8(_ambient_occlusion(height, shorter, tiling)),
    }


def _height(luminance: np.ndarray, shorter: int, tiling: TilingAxes) -> np.ndarray:
    detail = _blur(luminance, DETAIL_SIGMA, tiling)
    shading = _blur(luminance, shorter * SHADING_SIGMA_FRACTION, tiling)
    return _percentile_scale(detail - shading)


def _normal_rgb(height: np.ndarray, shorter: int, tiling: TilingAxes, convention: NormalConvention) -> np.ndarray:
    relief = RELIEF * shorter
    # Sobel's 3x3 kernel sums to 8x the per-pixel slope.
    dx = _filtered(height, 1, tiling, lambda h: cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3)) * (relief / 8)
    d_row = _filtered(height, 1, tiling, lambda h: cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3)) * (relief / 8)
    # Image rows grow downwards, so the slope "up" the image is -d_row and the normal's +Y is +d_row.
    normal = np.dstack([-dx, d_row, np.ones_like(height)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    if convention is NormalConvention.DIRECTX:
        normal[:, :, 1] *= -1
    return (normal + 1.0) / 2.0


def _roughness(luminance: np.ndarray, tiling: TilingAxes) -> np.ndarray:
    fine = luminance - _blur(luminance, ROUGHNESS_SIGMA, tiling)
    contrast = np.sqrt(_blur(fine * fine, ROUGHNESS_SIGMA, tiling))
    return ROUGHNESS_MIN + (ROUGHNESS_MAX - ROUGHNESS_MIN) * _percentile_scale(contrast)


def _ambient_occlusion(height: np.ndarray, shorter: int, tiling: TilingAxes) -> np.ndarray:
    cavity = _blur(height, max(1.0, shorter * AO_SIGMA_FRACTION), tiling) - height
    return 1.0 - np.clip(AO_STRENGTH * cavity, 0.0, 1.0)


def _blur(image: np.ndarray, sigma: float, tiling: TilingAxes) -> np.ndarray:
    # OpenCV's float kernels reach 4 sigma either side.
    radius = math.ceil(4 * sigma) + 1
    return _filtered(image, radius, tiling, lambda padded: cv2.GaussianBlur(padded, (0, 0), sigma))


def _filtered(image: np.ndarray, radius: int, tiling: TilingAxes, apply) -> np.ndarray:
    """apply() on the image padded by `radius` -- wrapped along tiled axes, reflected elsewhere -- cropped back."""
    wrap_x = tiling in (TilingAxes.X, TilingAxes.BOTH)
    wrap_y = tiling in (TilingAxes.Y, TilingAxes.BOTH)
    padded = np.pad(image, ((radius, radius), (0, 0)), mode="wrap" if wrap_y else "reflect")
    padded = np.pad(padded, ((0, 0), (radius, radius)), mode="wrap" if wrap_x else "reflect")
    return apply(padded)[radius:-radius, radius:-radius]


def _percentile_scale(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if high - low <= 1e-12:
        return np.full_like(values, 0.5)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
