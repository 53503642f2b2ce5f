"""Draw the pictures in docs/ from the real control-map code: python scripts/make_doc_figures.py"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from dccbridge.control import depth_to_control_map, draw_pose_rig
from dccbridge.domain import DepthEncoding, Keypoint, PosePerson, PoseRigInput
from dccbridge.imaging import encode_png

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
    ours = depth_to_control_map(finite, DepthEncoding.LINEAR, 0.1, 100.0, SIZE, SIZE, "depth_pass")
    return np.hstack([
        labelled(np.dstack([naive] * 3), "Z pass, min-max (wrong)"),
        labelled(ours, "dccbridge depth map"),
    ])


def pose_figure() -> np.ndarray:
    c = SIZE / 2
    body = [(c, 40), (c, 70), (c - 30, 70), (c - 60, 95), (c - 80, 120), (c + 30, 70), (c + 55, 45), (c + 70, 20),
            (c - 20, 140), (c - 25, 185), (c - 30, 235), (c + 20, 140), (c + 30, 185), (c + 40, 235),
            (c - 8, 33), (c + 8, 33), (c - 16, 38), (c + 16, 38)]
    person = PosePerson(tuple(Keypoint(x, y, True) for x, y in body))
    rig = PoseRigInput(SIZE, SIZE, (person,))
    return labelled(draw_pose_rig(rig, SIZE, SIZE, "pose_rig"), "pose rig -> OpenPose (COCO-18)")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "depth-pass-to-map.png").write_bytes(encode_png(depth_figure(), compression=9))
    (OUT / "pose-rig-to-openpose.png").write_bytes(encode_png(pose_figure(), compression=9))
    print(f"wrote figures to {OUT}")


if __name__ == "__main__":
    main()
