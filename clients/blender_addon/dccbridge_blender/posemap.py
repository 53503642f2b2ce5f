"""Armature bones -> OpenPose COCO-18 keypoints: presets, the mapping table, projection math. No bpy.

A preset is a JSON table (rig_presets/*.json):

    {"name": "...", "head_bone": "spine.006", "left_right": ["upper_arm.L", "upper_arm.R"],
     "keypoints": {"neck": [{"bone": "spine.004", "at": "head"}, {"mid": ["upper_arm.L", "upper_arm.R"]}],
                   "nose": [{"bone": "nose.002", "at": "head"}, {"head_offset": [0, 0.32, 0.86]}], ...}}

Each keypoint lists alternatives, the first one the rig can answer wins:
  {"bone": NAME, "at": "head" | "tail" | t}   a bone's head, tail, or the point at fraction t from head to tail;
  {"mid": [NAME_A, NAME_B], "at": ...}         the midpoint of two bones' points;
  {"head_offset": [left, up, forward]}         a point in the head bone's frame, in head-bone lengths: origin at the
                                               head bone's head, `up` along the bone, `left` towards the character's
                                               left (from the `left_right` pair of bones), `forward` = left x up.
An empty list (or a keypoint left out) is unmapped: sent as invisible.
Bone names match exactly, else ignoring a "namespace:" prefix (mixamorig:Head = mixamorig1:Head = Head).
"""

from __future__ import annotations

import json
import math
import pathlib

COCO18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
)
PRESET_DIR = pathlib.Path(__file__).resolve().parent / "rig_presets"
PRESETS = {"METARIG": "metarig.json", "RIGIFY": "rigify.json", "MIXAMO": "mixamo.json"}


def load_preset(key: str) -> dict:
    return json.loads((PRESET_DIR / PRESETS[key]).read_text())


def parse_mapping(text: str) -> dict:
    """A mapping table from JSON text (a Text datablock), checked: unknown keypoints or spec kinds are errors."""
    table = json.loads(text)
    if not isinstance(table, dict) or not isinstance(table.get("keypoints"), dict):
        raise ValueError("a pose mapping is a JSON object with a \"keypoints\" object")
    for name, alternatives in table["keypoints"].items():
        if name not in COCO18:
            raise ValueError(f"unknown keypoint '{name}'; COCO-18 names: {', '.join(COCO18)}")
        if isinstance(alternatives, dict):
            table["keypoints"][name] = alternatives = [alternatives]
        for spec in alternatives or []:
            if not any(k in spec for k in ("bone", "mid", "head_offset")):
                raise ValueError(f"{name}: each alternative needs 'bone', 'mid' or 'head_offset': {spec}")
    return table


# -- small vector helpers (tuples; no mathutils so this runs outside Blender) ----------------------------


def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _mul(a, s):
    return (a[0] * s, a[1] * s, a[2] * s)


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a):
    length = math.sqrt(_dot(a, a))
    return _mul(a, 1.0 / length) if length > 1e-12 else None


def resolve_bone(bones: dict, name: str):
    """bones: name -> (head, tail) in world space. Exact name, else ignoring a 'namespace:' prefix."""
    if name in bones:
        return bones[name]
    short = name.split(":")[-1]
    for candidate, value in bones.items():
        if candidate.split(":")[-1] == short:
            return value
    return None


def _point(bone, at) -> tuple:
    head, tail = bone
    t = {"head": 0.0, "tail": 1.0}.get(at, at) if at is not None else 0.0
    return _add(head, _mul(_sub(tail, head), float(t)))


def head_frame(bones: dict, table: dict):
    """(origin, left, up, forward, length) of the head bone, or None when the rig lacks what it needs."""
    head = resolve_bone(bones, table.get("head_bone", ""))
    pair = table.get("left_right") or []
    if head is None or len(pair) != 2:
        return None
    left_bone, right_bone = resolve_bone(bones, pair[0]), resolve_bone(bones, pair[1])
    if left_bone is None or right_bone is None:
        return None
    axis = _sub(head[1], head[0])
    length = math.sqrt(_dot(axis, axis))
    up = _norm(axis)
    across = _sub(left_bone[0], right_bone[0])
    if up is None:
        return None
    left = _norm(_sub(across, _mul(up, _dot(across, up))))
    if left is None:
        return None
    forward = _cross(left, up)
    return head[0], left, up, forward, length


def keypoints_world(bones: dict, table: dict) -> list:
    """The 18 COCO keypoints in world space (None where unmapped / not in this rig)."""
    frame = head_frame(bones, table)
    out = []
    for name in COCO18:
        point = None
        for spec in table["keypoints"].get(name) or []:
            if "bone" in spec:
                bone = resolve_bone(bones, spec["bone"])
                if bone is not None:
                    point = _point(bone, spec.get("at", "head"))
            elif "mid" in spec:
                a, b = (resolve_bone(bones, n) for n in spec["mid"])
                if a is not None and b is not None:
                    at = spec.get("at", "head")
                    point = _mul(_add(_point(a, at), _point(b, at)), 0.5)
            elif "head_offset" in spec and frame is not None:
                origin, left, up, forward, length = frame
                l, u, f = spec["head_offset"]
                point = _add(origin, _mul(_add(_add(_mul(left, l), _mul(up, u)), _mul(forward, f)), length))
            if point is not None:
                break
        out.append(point)
    return out


# -- projection: what Blender's camera does, as matrices ---------------------------------------------------


def _mat_vec(m, v):
    return [m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2] + m[r][3] * v[3] for r in range(4)]


def project(point, world_to_view, projection, width: int, height: int):
    """World point -> (x_px, y_px, depth) with y down from the top-left; depth is the distance in front of the camera
    along its axis (negative = behind). world_to_view / projection: 4x4 nested rows (Blender's
    camera.matrix_world.inverted() and camera.calc_matrix_camera(depsgraph, x=width, y=height))."""
    view = _mat_vec(world_to_view, (point[0], point[1], point[2], 1.0))
    clip = _mat_vec(projection, view)
    depth = -view[2]
    w = clip[3] if abs(clip[3]) > 1e-12 else 1e-12
    ndc_x, ndc_y = clip[0] / w, clip[1] / w
    return (ndc_x + 1.0) * 0.5 * width, (1.0 - (ndc_y + 1.0) * 0.5) * height, depth


def project_keypoints(points_world, world_to_view, projection, width: int, height: int):
    """[(x, y, visible)] for the 18 keypoints: invisible when unmapped, behind the camera or off the canvas."""
    out = []
    for point in points_world:
        if point is None:
            out.append((0.0, 0.0, False))
            continue
        x, y, depth = project(point, world_to_view, projection, width, height)
        visible = depth > 0 and 0.0 <= x <= width and 0.0 <= y <= height
        if not (math.isfinite(x) and math.isfinite(y)):
            x, y, visible = 0.0, 0.0, False
        out.append((x, y, visible))
    return out


def openpose_json(people, width: int, height: int) -> dict:
    """The OpenPose JSON the CLI and pose editors read (confidence 1 = visible)."""
    return {"canvas_width": width, "canvas_height": height,
            "people": [{"pose_keypoints_2d": [v for x, y, vis in person for v in (x, y, 1.0 if vis else 0.0)]}
                       for person in people]}
