"""The views of a multi-view texture: where proposed cameras go, what each view adds to the prompt. No bpy.

World axes are Blender's: Z up, the front of a model faces −Y.
"""

from __future__ import annotations

import math


def ring_positions(center, radius: float, count: int, elevation_deg: float, fov_deg: float,
                   margin: float = 1.15, start_deg: float = 0.0) -> list:
    """`count` camera positions on a ring around a bounding sphere (center, radius), at an elevation above the
    horizon, far enough that a camera with this field of view frames the whole sphere. The first view is the
    front one (on −Y), then counter-clockwise seen from above."""
    if count < 1:
        raise ValueError("views: at least 1")
    distance = framing_distance(radius, fov_deg, margin)
    elevation = math.radians(elevation_deg)
    out = []
    for i in range(count):
        azimuth = math.radians(start_deg) + 2.0 * math.pi * i / count
        out.append((center[0] + distance * math.cos(elevation) * math.sin(azimuth),
                    center[1] - distance * math.cos(elevation) * math.cos(azimuth),
                    center[2] + distance * math.sin(elevation)))
    return out


def framing_distance(radius: float, fov_deg: float, margin: float = 1.15) -> float:
    """How far from a sphere's centre a camera must stand for the sphere to fit its (smaller) field of view."""
    half = math.radians(max(1.0, min(fov_deg, 179.0))) / 2.0
    return max(radius, 1e-6) * margin / math.sin(half)


def bounds_sphere(points) -> tuple:
    """(center, radius) of the axis-aligned bounds of world points (the selection's bounding-box corners)."""
    pts = list(points)
    if not pts:
        raise ValueError("nothing to frame: no points")
    lo = [min(p[i] for p in pts) for i in range(3)]
    hi = [max(p[i] for p in pts) for i in range(3)]
    center = tuple((a + b) / 2.0 for a, b in zip(lo, hi))
    radius = math.sqrt(sum((b - a) ** 2 for a, b in zip(lo, hi))) / 2.0
    return center, radius


def view_label(camera_position, center) -> str:
    """Which side a camera sees the subject from, for the prompt: "front view" (from −Y, within 45°), "back view",
    "side view", or "top view" / "bottom view" when the camera is more than 60° above / below the centre."""
    d = [camera_position[i] - center[i] for i in range(3)]
    horizontal = math.hypot(d[0], d[1])
    elevation = math.degrees(math.atan2(d[2], horizontal))
    if elevation > 60:
        return "top view"
    if elevation < -60:
        return "bottom view"
    azimuth = math.degrees(math.atan2(d[0], -d[1])) % 360.0     # 0 = front (−Y), 90 = +X side
    if azimuth < 45 or azimuth >= 315:
        return "front view"
    if 135 <= azimuth < 225:
        return "back view"
    return "side view"


def view_prompt(prompt: str, label: str) -> str:
    return f"{prompt}, {label}" if prompt.strip() else label


def view_seed(base_seed: int, index: int) -> int:
    """Each view its own seed, reproducible from the first: base + index (wrapping at 2^31)."""
    return (int(base_seed) + index) % (2 ** 31)
