"""Outpainting's image stages, pure numpy/OpenCV (no model): where the original goes on the larger canvas, a
start for the new area that continues the image (never flat grey), the feathered mask, and the composite that
keeps the original's pixels exactly outside the feather band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..domain import Anchor, Margins, OutpaintFill

# Where the original sits for each anchor: its share (0, 0.5 or 1) of the horizontal and vertical growth that goes
# to the left / top margin.
ANCHOR_SHARES = {
    Anchor.CENTER: (0.5, 0.5), Anchor.TOP_LEFT: (0.0, 0.0), Anchor.TOP: (0.5, 0.0), Anchor.TOP_RIGHT: (1.0, 0.0),
    Anchor.LEFT: (0.0, 0.5), Anchor.RIGHT: (1.0, 0.5), Anchor.BOTTOM_LEFT: (0.0, 1.0), Anchor.BOTTOM: (0.5, 1.0),
    Anchor.BOTTOM_RIGHT: (1.0, 1.0),
}
INPAINT_FLAGS = {OutpaintFill.INPAINT_TELEA: cv2.INPAINT_TELEA, OutpaintFill.INPAINT_NS: cv2.INPAINT_NS}
INPAINT_RADIUS = 5


@dataclass(frozen=True)
class Layout:
    """The original (width x height) placed at (left, top) on a canvas of canvas_width x canvas_height."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int

    @property
    def canvas_width(self) -> int:
        return self.left + self.width + self.right

    @property
    def canvas_height(self) -> int:
        return self.top + self.height + self.bottom

    def as_dict(self) -> dict:
        return {"offset_x": self.left, "offset_y": self.top, "width": self.canvas_width,
                "height": self.canvas_height, "original_width": self.width, "original_height": self.height,
                "margins": {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}}


def margins_for_aspect(width: int, height: int, aspect: tuple[int, int], anchor: Anchor) -> Margins:
    """Margins that grow the shorter dimension of width x height until it has the aspect, shared by the anchor."""
    aspect_w, aspect_h = aspect
    grow_x = max(0, math.ceil(height * aspect_w / aspect_h) - width)
    grow_y = max(0, math.ceil(width * aspect_h / aspect_w) - height) if not grow_x else 0
    share_x, share_y = ANCHOR_SHARES[anchor]
    left, top = round(grow_x * share_x), round(grow_y * share_y)
    return Margins(left, top, grow_x - left, grow_y - top)


def layout(width: int, height: int, margins: Margins, multiple: int = 8) -> Layout:
    """Place the original with the requested margins, padding the canvas up to a multiple of `multiple`. The extra
    goes to the right (bottom) margin when it is extended, else to the left (top) one, so a side that was not asked
    to grow stays flush; with neither extended it goes right (bottom)."""
    left, right = _pad(width, margins.left, margins.right, multiple)
    top, bottom = _pad(height, margins.top, margins.bottom, multiple)
    return Layout(width, height, left, top, right, bottom)


def _pad(size: int, before: int, after: int, multiple: int) -> tuple[int, int]:
    extra = -(size + before + after) % multiple
    if before and not after:
        return before + extra, after
    return before, after + extra


def place(image: np.ndarray, lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """The canvas with the original's border pixels replicated outward, and the new area's mask (uint8, 255 = new)."""
    canvas = cv2.copyMakeBorder(image, lay.top, lay.bottom, lay.left, lay.right, cv2.BORDER_REPLICATE)
    new_area = np.full(canvas.shape[:2], 255, np.uint8)
    new_area[lay.top:lay.top + lay.height, lay.left:lay.left + lay.width] = 0
    return canvas, new_area


def fill(image: np.ndarray, lay: Layout, mode: OutpaintFill) -> np.ndarray:
    """The canvas with the new area filled so it continues the image: EDGE replicates the border outward and blurs
    it more the further from the original (a seam-free, colour-matched start); the INPAINT_* modes run OpenCV's
    inpainting over the new area. The original's pixels are unchanged."""
    canvas, new_area = place(image, lay)
    if mode in INPAINT_FLAGS:
        filled = cv2.inpaint(canvas, new_area, INPAINT_RADIUS, INPAINT_FLAGS[mode])
    else:
        filled = _blurred_edges(canvas, new_area, lay)
    keep = new_area == 0
    filled[keep] = canvas[keep]
    return filled


def _blurred_edges(canvas: np.ndarray, new_area: np.ndarray, lay: Layout) -> np.ndarray:
    """Replicated edges blended toward a strong blur with the distance from the original (stripes fade out)."""
    reach = max(lay.left, lay.top, lay.right, lay.bottom)
    sigma = max(1.0, reach / 4)
    blurred = cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    distance = cv2.distanceTransform(new_area, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    weight = np.clip(distance / reach, 0.0, 1.0)[..., None]
    return (canvas * (1.0 - weight) + blurred * weight).round().astype(np.uint8)


def feather_mask(lay: Layout, feather: int) -> np.ndarray:
    """float32 in [0, 1]: 1 over the new area, ramping down to 0 over `feather` pixels into the original from each
    extended side; exactly 0 at more than `feather` pixels from the new area (sides not extended get no ramp)."""
    new_area = np.full((lay.canvas_height, lay.canvas_width), 255, np.uint8)
    new_area[lay.top:lay.top + lay.height, lay.left:lay.left + lay.width] = 0
    # distance of each original pixel to the nearest new-area pixel (1 for a pixel next to it)
    distance = cv2.distanceTransform(255 - new_area, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(1.0 - distance / (feather + 1), 0.0, 1.0).astype(np.float32)


def composite(original_canvas: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """generated over the canvas by the feathered mask; where the mask is 0 the canvas's pixels are kept exactly."""
    weight = mask[..., None]
    blended = (original_canvas * (1.0 - weight) + generated * weight).round().astype(np.uint8)
    keep = mask == 0
    blended[keep] = original_canvas[keep]
    return blended
