"""Draw the canonical OpenPose image from a pose rig's keypoints.

ControlNet openpose models were trained on images drawn by the OpenPose/ControlNet annotator:
a fixed COCO-18 limb order and colour table, limbs as filled ellipses (half-width 4) at 60 %
colour, joints as radius-4 dots, hands as hue-wheel lines with blue dots, faces as white
dots. This module reproduces that drawing pixel for pixel (a test compares it with
controlnet_aux's draw_poses) without importing the annotator, whose licence is
non-commercial. The arithmetic follows the annotator's too: keypoints are normalised to
0..1, multiplied by the output size and truncated with int(); hand and face points whose
pixel x or y is 0 are not drawn (the annotator's "missing point" test).
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from ..domain import Keypoint, PosePerson, PoseRigInput
from ..errors import InvalidInput

MAX_CANVAS_SIDE = 16384
BODY_KEYPOINTS = 18
HAND_KEYPOINTS = 21
FACE_KEYPOINTS = 70

# COCO-18 indices: 0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg,
# 11-13 left leg, 14/15 eyes, 16/17 ears. Drawn in this order, limb i in BODY_COLORS[i].
BODY_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
BODY_COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
LIMB_HALF_WIDTH = 4
LIMB_COLOR_FACTOR = 0.6
JOINT_RADIUS = 4

HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)
# Edge i has hue i/20 at full saturation and value; floats, rounded by OpenCV as the annotator's are.
HAND_EDGE_COLORS = tuple(
    tuple(255 * c for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)) for i in range(len(HAND_EDGES))
)
HAND_LINE_THICKNESS = 2
HAND_JOINT_COLOR = (0, 0, 255)
HAND_JOINT_RADIUS = 4
FACE_COLOR = (255, 255, 255)
FACE_RADIUS = 3
# The annotator skips hand/face points at pixel coordinate 0 (its marker for "not found").
MISSING_EPS = 0.01

Normalised = tuple[float, float] | None


def draw_pose_rig(rig: PoseRigInput, width: int, height: int, field: str) -> np.ndarray:
    """uint8 height x width x 3 RGB OpenPose image of every person in the rig, on black."""
    _check_rig(rig, field)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    scale = (rig.canvas_width, rig.canvas_height)
    for person in rig.people:
        _draw_body(canvas, [_normalise(k, scale) for k in person.body])
        for hand in (person.left_hand, person.right_hand):
            if hand:  # a hand is 21 keypoints or none
                _draw_hand(canvas, [_normalise(k, scale) for k in hand])
        _draw_face(canvas, [_normalise(k, scale) for k in person.face])
    return canvas


def _normalise(keypoint: Keypoint, canvas_size: tuple[int, int]) -> Normalised:
    if not keypoint.visible:
        return None
    return keypoint.x / canvas_size[0], keypoint.y / canvas_size[1]


def _check_rig(rig: PoseRigInput, field: str) -> None:
    for name, side in (("canvas_width", rig.canvas_width), ("canvas_height", rig.canvas_height)):
        if not 1 <= side <= MAX_CANVAS_SIDE:
            raise InvalidInput(f"{field}.{name}", f"must be 1..{MAX_CANVAS_SIDE}, got {side}")
    for p, person in enumerate(rig.people):
        _check_person(person, rig, f"{field}.people[{p}]")


def _check_person(person: PosePerson, rig: PoseRigInput, field: str) -> None:
    parts = (
        ("body", person.body, (BODY_KEYPOINTS,), "COCO-18 order"),
        ("left_hand", person.left_hand, (0, HAND_KEYPOINTS), "OpenPose hand order, or none"),
        ("right_hand", person.right_hand, (0, HAND_KEYPOINTS), "OpenPose hand order, or none"),
        ("face", person.face, (0, FACE_KEYPOINTS), "OpenPose face order, or none"),
    )
    for name, keypoints, allowed, order in parts:
        if len(keypoints) not in allowed:
            counts = " or ".join(str(n) for n in allowed)
            raise InvalidInput(
                f"{field}.{name}", f"must have {counts} keypoints ({order}), got {len(keypoints)}"
            )
        for k, keypoint in enumerate(keypoints):
            if keypoint.visible:
                _check_on_canvas(keypoint, rig, f"{field}.{name}[{k}]")


def _check_on_canvas(keypoint: Keypoint, rig: PoseRigInput, field: str) -> None:
    x, y = keypoint.x, keypoint.y
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidInput(field, f"x={x}, y={y} is not a finite position; mark it invisible")
    if not (0 <= x <= rig.canvas_width and 0 <= y <= rig.canvas_height):
        raise InvalidInput(
            field,
            f"x={x:g}, y={y:g} is off the canvas 0..{rig.canvas_width} x 0..{rig.canvas_height}; "
            "mark it invisible or clamp it",
        )


def _draw_body(canvas: np.ndarray, points: list[Normalised]) -> None:
    height, width = canvas.shape[:2]
    for (a, b), color in zip(BODY_LIMBS, BODY_COLORS):
        if points[a] is None or points[b] is None:
            continue
        # Same expressions as the annotator (numpy float64 mean, int() truncation) for identical pixels.
        xs = np.array([points[a][0], points[b][0]]) * float(width)
        ys = np.array([points[a][1], points[b][1]]) * float(height)
        length = ((ys[0] - ys[1]) ** 2 + (xs[0] - xs[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        polygon = cv2.ellipse2Poly(
            (int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), LIMB_HALF_WIDTH), int(angle), 0, 360, 1
        )
        cv2.fillConvexPoly(canvas, polygon, [int(float(c) * LIMB_COLOR_FACTOR) for c in color])
    for point, color in zip(points, BODY_COLORS):
        if point is None:
            continue
        cv2.circle(canvas, (int(point[0] * width), int(point[1] * height)), JOINT_RADIUS, color, thickness=-1)


def _draw_hand(canvas: np.ndarray, points: list[Normalised]) -> None:
    height, width = canvas.shape[:2]
    pixels = [None if p is None else (int(p[0] * width), int(p[1] * height)) for p in points]
    for (a, b), color in zip(HAND_EDGES, HAND_EDGE_COLORS):
        if pixels[a] is None or pixels[b] is None:
            continue
        if min(*pixels[a], *pixels[b]) > MISSING_EPS:
            cv2.line(canvas, pixels[a], pixels[b], color, thickness=HAND_LINE_THICKNESS)
    for pixel in pixels:
        if pixel is not None and min(pixel) > MISSING_EPS:
            cv2.circle(canvas, pixel, HAND_JOINT_RADIUS, HAND_JOINT_COLOR, thickness=-1)


def _draw_face(canvas: np.ndarray, points: list[Normalised]) -> None:
    height, width = canvas.shape[:2]
    for point in points:
        if point is None:
            continue
        pixel = (int(point[0] * width), int(point[1] * height))
        if min(pixel) > MISSING_EPS:
            cv2.circle(canvas, pixel, FACE_RADIUS, FACE_COLOR, thickness=-1)
