"""Draw the pictures in docs/ from the real control-map code: python scripts/make_doc_figures.py"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from dccbridge.control import depth_to_control_map, draw_pose_rig
from dccbridge.domain import (DepthEncoding, DepthNormalization, Keypoint, Margins, NormalConvention, OutpaintFill,
                              PosePerson, PoseRigInput, TilingAxes)
from dccbridge.imaging import encode_png
from dccbridge.ops import canvas
from dccbridge.ops.pbr import PBR_ROLES, pbr_maps

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "img"
SIZE = 256


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    panel = np.zeros((image.shape[0] + 28, image.shape[1], 3), np.uint8)
    panel[28:] = image
    cv2.putText(panel, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def scene_depth() -> np.ndarray:
    """A host Z pass: a floor receding from 2 to 12 units, a box at 3.5, a pillar at 6, sky at +inf."""
    rows = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None]
    depth = np.broadcast_to(12.0 - 10.0 * rows, (SIZE, SIZE)).copy()
    depth[: SIZE // 3] = np.inf
    depth[110:200, 40:120] = 3.5
    depth[50:190, 170:200] = 6.0
    return depth


def depth_figure() -> np.ndarray:
    depth = scene_depth()
    finite = np.where(np.isfinite(depth), depth, 1e10)  # what Cycles writes for the sky
    naive = cv2.normalize(np.minimum(finite, 12.0), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    ours = depth_to_control_map(finite, DepthEncoding.LINEAR, 0.1, 100.0, SIZE, SIZE, "depth_pass",
                                DepthNormalization.MIN_MAX)
    return np.hstack([
        labelled(np.dstack([naive] * 3), "Z pass, min-max (wrong)"),
        labelled(ours, "dccbridge depth map"),
    ])


def normalization_figure() -> np.ndarray:
    """One pass, three normalisations: a plane receding from 1 to 20 units (depth linear in the rows), a thin pole at
    0.8 (1 % of the frame) in front of it, sky above; then where percentile and min-max part (x4)."""
    rows = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None]
    depth = np.broadcast_to(20.0 - 19.0 * rows, (SIZE, SIZE)).copy()
    depth[: SIZE // 6] = 1e10
    depth[150:230, 124:132] = 0.8
    maps = {norm: depth_to_control_map(depth, DepthEncoding.LINEAR, 0.5, 25.0, SIZE, SIZE, "depth_pass", norm)
            for norm in DepthNormalization}
    gap = np.abs(maps[DepthNormalization.PERCENTILE].astype(int) - maps[DepthNormalization.MIN_MAX].astype(int))
    return np.hstack([
        labelled(maps[DepthNormalization.MIN_MAX], "min-max (annotators; default)"),
        labelled(maps[DepthNormalization.PERCENTILE], "percentile 2..98"),
        labelled(maps[DepthNormalization.NEAR_FAR], "near/far 0.5..25 (fixed)"),
        labelled(np.clip(gap * 4, 0, 255).astype(np.uint8), f"|pct - min-max| x4, max {gap.max()}"),
    ])


def pose_figure() -> np.ndarray:
    c = SIZE / 2
    body = [(c, 40), (c, 70), (c - 30, 70), (c - 60, 95), (c - 80, 120), (c + 30, 70), (c + 55, 45), (c + 70, 20),
            (c - 20, 140), (c - 25, 185), (c - 30, 235), (c + 20, 140), (c + 30, 185), (c + 40, 235),
            (c - 8, 33), (c + 8, 33), (c - 16, 38), (c + 16, 38)]
    person = PosePerson(tuple(Keypoint(x, y, True) for x, y in body))
    rig = PoseRigInput(SIZE, SIZE, (person,))
    return labelled(draw_pose_rig(rig, SIZE, SIZE, "pose_rig"), "pose rig -> OpenPose (COCO-18)")


def brick_albedo(size: int = 192) -> np.ndarray:
    """A synthetic albedo that tiles exactly: 4 x 8 bricks in running bond, a tint per brick, bevelled edges, grain."""
    rng = np.random.default_rng(7)
    rows, columns = 8, 4
    brick_h, brick_w = size // rows, size // columns
    y, x = np.mgrid[0:size, 0:size]
    row = y // brick_h
    shifted = (x + (row % 2) * brick_w // 2) % size  # every other row offset by half a brick, wrapping
    column = shifted // brick_w
    edge = np.minimum.reduce([y % brick_h, brick_h - 1 - y % brick_h, shifted % brick_w,
                              brick_w - 1 - shifted % brick_w]).astype(np.float32)
    tint = rng.uniform(0.75, 1.1, (rows, columns))[row, column]
    bevel = np.clip(edge / 4.0, 0.0, 1.0)
    grain = rng.normal(0.0, 0.06, (size, size))
    value = np.where(edge < 2, 0.35, (0.55 + 0.35 * bevel) * tint) + grain
    rgb = np.clip(value[:, :, None] * np.array([185, 95, 70]) / 255 * 1.4, 0, 1)
    return (rgb * 255).astype(np.uint8)


def as_rgb(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else np.dstack([image] * 3)


def pbr_figure() -> np.ndarray:
    albedo = brick_albedo()
    maps = pbr_maps(albedo, TilingAxes.BOTH, NormalConvention.OPENGL)
    return np.hstack([labelled(albedo, "albedo"), *(labelled(as_rgb(maps[role]), role) for role in PBR_ROLES)])


def seam_figure(crop: int = 96, zoom: int = 3) -> np.ndarray:
    """Height and normal maps tiled 2 x 2, enlarged around the point where four tiles meet: derived with reflected
    edges the tile borders show as lines; with wrapped edges (tiling "both") there is nothing to see."""
    albedo = np.roll(brick_albedo(), (11, 29), axis=(0, 1))  # tile borders through the middle of bricks
    size = albedo.shape[0]
    window = slice(size - crop // 2, size + crop // 2)
    rows = []
    for role in ("height", "normal"):
        panels = []
        for tiling, label in ((TilingAxes.NONE, "edges reflected"), (TilingAxes.BOTH, "edges wrapped")):
            tiled = np.tile(as_rgb(pbr_maps(albedo, tiling, NormalConvention.OPENGL)[role]), (2, 2, 1))
            enlarged = cv2.resize(tiled[window, window], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            panels.append(labelled(enlarged, f"{role}, 4 tiles meet: {label}"))
        rows.append(np.hstack(panels))
    return np.vstack(rows)


def landscape(width: int = 192, height: int = 160) -> np.ndarray:
    """A synthetic scene: a sky gradient, a sun, two hills and a lake."""
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    image = np.broadcast_to((60 + 120 * rows) * np.array([0.6, 0.8, 1.0]), (height, width, 3)).copy()
    cv2.circle(image, (140, 40), 18, (250, 220, 120), -1)
    x = np.arange(width)
    for base, amplitude, period, colour in ((95, 18, 90, (70, 120, 60)), (115, 10, 50, (40, 90, 45))):
        ridge = base + amplitude * np.sin(x / period * 2 * np.pi)
        for column, top in enumerate(ridge.astype(int)):
            image[top:, column] = colour
    image[135:, :] = (60, 100, 150)
    return image.astype(np.uint8)


def outpaint_figure() -> np.ndarray:
    """What outpaint does before the model runs: the new area filled (never flat grey) and the feathered mask."""
    image = landscape()
    lay = canvas.layout(192, 160, Margins(left=48, top=0, right=48, bottom=0))
    grey = canvas.place(image, lay)[0]
    grey[canvas.place(image, lay)[1] > 0] = 127
    mask = (canvas.feather_mask(lay, 24) * 255).round().astype(np.uint8)
    return np.vstack([
        np.hstack([labelled(grey, "grey start (seam)"),
                   labelled(canvas.fill(image, lay, OutpaintFill.EDGE), "fill: edge")]),
        np.hstack([labelled(canvas.fill(image, lay, OutpaintFill.INPAINT_TELEA), "fill: inpaint_telea"),
                   labelled(np.dstack([mask] * 3), "feathered mask (24 px)")]),
    ])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "depth-pass-to-map.png").write_bytes(encode_png(depth_figure(), compression=9))
    (OUT / "depth-normalization.png").write_bytes(encode_png(normalization_figure(), compression=9))
    (OUT / "pose-rig-to-openpose.png").write_bytes(encode_png(pose_figure(), compression=9))
    (OUT / "pbr-maps.png").write_bytes(encode_png(pbr_figure(), compression=9))
    (OUT / "pbr-seams.png").write_bytes(encode_png(seam_figure(), compression=9))
    (OUT / "outpaint-stages.png").write_bytes(encode_png(outpaint_figure(), compression=9))
    print(f"wrote figures to {OUT}")


if __name__ == "__main__":
    main()
