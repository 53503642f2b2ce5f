"""Canny edge map, as controlnet_aux's CannyDetector computes it (cv2.Canny on the RGB image)."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidInput

DEFAULT_LOW_THRESHOLD = 100
DEFAULT_HIGH_THRESHOLD = 200


def canny_map(rgb: np.ndarray, low: int | None, high: int | None, field: str) -> np.ndarray:
    """uint8 HxWx3 edge map (255 on edges, 0 elsewhere) of a uint8 RGB (or gray) image.

    low/high are cv2.Canny's hysteresis thresholds; None takes the defaults 100 / 200.
    """
    low = DEFAULT_LOW_THRESHOLD if low is None else low
    high = DEFAULT_HIGH_THRESHOLD if high is None else high
    for name, value in (("low_threshold", low), ("high_threshold", high)):
        if not 0 <= value <= 255:
            raise InvalidInput(f"{field}.{name}", f"must be 0..255, got {value}")
    if low > high:
        raise InvalidInput(f"{field}.low_threshold", f"must be 0..255 and <= high_threshold ({low} > {high})")
    # On 3 channels cv2.Canny takes the strongest gradient of R, G and B, as the annotator does.
    edges = cv2.Canny(np.ascontiguousarray(rgb), low, high)
    return np.repeat(edges[:, :, None], 3, axis=2)
