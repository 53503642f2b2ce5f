"""Overlapping tiles: split an image so a model only ever sees a bounded window, then stitch the results
back without seams.

Each tile owns a *core*; the cores partition the image. The model runs on the tile's *window*: the core grown
by `overlap` pixels on every side that has a neighbour (clamped to the image), so it sees context across the
core's edges and never more than (tile + 2 * overlap) pixels a side. Two ways to stitch:

- crop, for deterministic local models (ESRGAN): each window's output is cut back to its core. Wherever the
  model's receptive field fits inside the overlap this is exactly the untiled result.
- feather, for diffusion, where neighbouring windows invent different detail: two neighbours cross-fade
  linearly over the 2 * overlap band their windows share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """One axis of a tile: the window [start, stop) the model sees and the core [core_start, core_stop) it owns."""

    start: int
    stop: int
    core_start: int
    core_stop: int

    @property
    def window(self) -> slice:
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class Tile:
    x: Span
    y: Span

    @property
    def window(self) -> tuple[slice, slice]:
        """Index a HxW(xC) array with this to get the tile's window."""
        return self.y.window, self.x.window


def plan_axis(length: int, tile: int, overlap: int) -> list[Span]:
    """Cores of near-equal size, at most `tile` long, each with `overlap` of context on both sides."""
    count = max(1, math.ceil(length / tile))
    bounds = [round(i * length / count) for i in range(count + 1)]
    return [Span(max(0, a - overlap), min(length, b + overlap), a, b) for a, b in zip(bounds, bounds[1:])]


def plan_tiles(width: int, height: int, tile: int, overlap: int) -> list[Tile]:
    """Row-major tiles covering a width x height image."""
    xs, ys = plan_axis(width, tile, overlap), plan_axis(height, tile, overlap)
    return [Tile(x, y) for y in ys for x in xs]


def pad_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """Grow an HxWxC array to multiples of `multiple` by repeating its last row/column (crop the result after)."""
    h, w = pixels.shape[:2]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not pad_h and not pad_w:
        return pixels
    return np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


class TileCanvas:
    """Collects tile outputs at `scale` x the size of the tiled image and stitches them (crop or feather)."""

    def __init__(self, width: int, height: int, scale: int, *, feather: bool, overlap: int = 0):
        self.width, self.height, self.scale = width, height, scale
        self.feather = feather
        self._ramp = max(1, 2 * overlap * scale)  # output pixels over which two neighbours cross-fade
        shape = (height * scale, width * scale)
        if feather:
            self._sum = np.zeros((*shape, 3), np.float32)
            self._weight = np.zeros(shape, np.float32)
        else:  # each pixel comes from one tile, so rounding per tile is rounding once: keep uint8
            self._pixels = np.zeros((*shape, 3), np.uint8)

    def add(self, tile: Tile, output: np.ndarray) -> None:
        """output: float RGB in [0, 1], the window's result at `scale` (H*scale x W*scale x 3)."""
        s = self.scale
        expected = ((tile.y.stop - tile.y.start) * s, (tile.x.stop - tile.x.start) * s)
        if output.shape[:2] != expected:
            raise ValueError(f"tile output is {output.shape[:2]}, expected {expected}")
        if not self.feather:
            core = output[(tile.y.core_start - tile.y.start) * s:(tile.y.core_stop - tile.y.start) * s,
                          (tile.x.core_start - tile.x.start) * s:(tile.x.core_stop - tile.x.start) * s]
            self._pixels[tile.y.core_start * s:tile.y.core_stop * s,
                         tile.x.core_start * s:tile.x.core_stop * s] = to_uint8(core)
            return
        weight = np.outer(self._axis_weight(tile.y, self.height), self._axis_weight(tile.x, self.width))
        rows, cols = slice(tile.y.start * s, tile.y.stop * s), slice(tile.x.start * s, tile.x.stop * s)
        self._sum[rows, cols] += output[:, :, :3] * weight[:, :, None]
        self._weight[rows, cols] += weight

    def _axis_weight(self, span: Span, length: int) -> np.ndarray:
        """1 inside the core, falling linearly to 0 across each edge shared with a neighbour (none at the image edge)."""
        s = self.scale
        centres = np.arange(span.start * s, span.stop * s, dtype=np.float32) + 0.5
        weight = np.ones_like(centres)
        if span.core_start > 0:
            weight *= np.clip((centres - span.core_start * s) / self._ramp + 0.5, 0.0, 1.0)
        if span.core_stop < length:
            weight *= np.clip((span.core_stop * s - centres) / self._ramp + 0.5, 0.0, 1.0)
        return weight

    def image(self) -> np.ndarray:
        """The stitched uint8 RGB image (parts no tile has reached yet are black)."""
        if not self.feather:
            return self._pixels
        return to_uint8(self._sum / np.maximum(self._weight, 1e-6)[:, :, None])


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)
