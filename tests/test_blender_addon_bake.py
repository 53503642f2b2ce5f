"""Multi-view texture baking math (clients/blender_addon/dccbridge_blender/bake.py, viewplan.py) without Blender:
a unit cube with its faces in a 3×2 UV grid, cameras built here the way Blender's calc_matrix_camera builds them.
The same code in real Blender, against Blender's ray casts: tests/test_blender_addon.py::test_blender_texture_from_views."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_support import PACKAGE, load, posemap

bake = load("dccbridge_blender_bake", PACKAGE / "bake.py")
viewplan = load("dccbridge_blender_viewplan", PACKAGE / "viewplan.py")

# Faces of the cube [-1, 1]^3: (normal axis, sign); each face a UV cell of a 3×2 grid.
FACES = [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]


def cube():
    tri_pos, tri_uv, tri_nrm = [], [], []
    for index, (axis, sign) in enumerate(FACES):
        u_axis, v_axis = [a for a in range(3) if a != axis]
        corners = []
        for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = [0.0, 0.0, 0.0]
            p[axis], p[u_axis], p[v_axis] = sign, a, b
            corners.append(p)
        cell_u, cell_v = index % 3, index // 3
        uvs = [((cell_u + (a + 1) / 2 * 0.9 + 0.05) / 3, (cell_v + (b + 1) / 2 * 0.9 + 0.05) / 2)
               for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        normal = [0.0, 0.0, 0.0]
        normal[axis] = sign
        for tri in ((0, 1, 2), (0, 2, 3)):
            tri_pos.append([corners[i] for i in tri])
            tri_uv.append([uvs[i] for i in tri])
            tri_nrm.append([normal] * 3)
    return np.array(tri_pos), np.array(tri_uv), np.array(tri_nrm)


def look_at_camera(eye, target=(0, 0, 0), fov_deg=40.0, size=64, near=0.1, far=100.0) -> dict:
    """A Blender-like perspective camera (looks down −Z, +Y up) as capture.camera_dict describes it."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    view_to_world = np.eye(4)
    view_to_world[:3, 0], view_to_world[:3, 1], view_to_world[:3, 2], view_to_world[:3, 3] = right, up, -forward, eye
    f = 1.0 / math.tan(math.radians(fov_deg) / 2)
    projection = [[f, 0, 0, 0], [0, f, 0, 0], [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                  [0, 0, -1, 0]]
    return {"world_to_view": np.linalg.inv(view_to_world).tolist(), "projection": projection, "width": size,
            "height": size, "perspective": True}


def test_vectorised_projection_matches_posemap():
    cam = look_at_camera((3, -6, 2))
    points = np.array([[0.3, -0.2, 0.9], [1, 1, 1], [-1, 0.5, -0.7]])
    x, y, d = bake.project_points(points, cam["world_to_view"], cam["projection"], 64, 64)
    for i, p in enumerate(points):
        ex, ey, ed = posemap.project(tuple(p), cam["world_to_view"], cam["projection"], 64, 64)
        assert (x[i], y[i], d[i]) == pytest.approx((ex, ey, ed), abs=1e-9)


def test_uv_raster_positions_lie_on_the_faces_with_their_normals():
    tri_pos, tri_uv, tri_nrm = cube()
    position, normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, 60)
    assert 0.6 < valid.mean() < 0.9                       # the 6 cells, minus their margins
    on = position[valid]
    assert np.allclose(np.abs(on).max(axis=1), 1.0, atol=1e-9)          # every texel on the cube's surface
    n = normal[valid]
    axis = np.argmax(np.abs(n), axis=1)
    assert np.allclose(np.take_along_axis(on, axis[:, None], 1)[:, 0], n[np.arange(len(n)), axis])   # outward


def test_view_raster_depth_uv_and_normal_match_the_geometry():
    tri_pos, tri_uv, tri_nrm = cube()
    cam = look_at_camera((0, -6, 0), fov_deg=30)          # square on the −Y face
    seen = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, cam)
    centre = (32, 32)
    assert seen["mask"][centre] and seen["depth"][centre] == pytest.approx(5.0, abs=1e-6)
    assert np.allclose(seen["normal"][seen["mask"]], [0, -1, 0])          # only the front face is visible
    assert not seen["mask"][0, 0] and np.isinf(seen["depth"][0, 0])
    # Perspective-correct UVs: the pixel's UV maps back (through the UV raster) to the point the ray hits.
    position, _normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, 256)
    uv = seen["uv"][40, 20]
    r, c = int((1 - uv[1]) * 256), int(uv[0] * 256)
    x, y, _d = bake.project_points(position[r, c], cam["world_to_view"], cam["projection"], 64, 64)
    assert valid[r, c] and (x, y) == pytest.approx((20.5, 40.5), abs=0.6)


def test_visibility_uses_the_depth_pass_for_occlusion_and_n_dot_v_for_weight():
    tri_pos, tri_uv, tri_nrm = cube()
    position, normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, 48)
    cam = look_at_camera((4, -4, 3))
    depth = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, cam)["depth"]
    seen = bake.texel_visibility(position, normal, valid, cam, depth)
    facing = {face: seen["visible"][valid & np.isclose(normal[..., a], s)].mean() for face, (a, s) in
              zip(("+x", "-x", "+y", "-y", "+z", "-z"), FACES)}
    assert facing["+x"] > 0.95 and facing["-y"] > 0.95 and facing["+z"] > 0.95
    assert facing["-x"] == facing["+y"] == facing["-z"] == 0
    # Something nearer in the depth pass (a wall in front) hides the texels behind it.
    wall = np.minimum(depth, 2.0)
    assert not bake.texel_visibility(position, normal, valid, cam, wall)["visible"].any()
    # n·v: the +z face seen from 3 up at a distance sqrt(32 + 9) is dimmer than straight on, weight = cos^k.
    assert bake.weight_of(np.array([0.5, 1.0, -0.2]), 2.0) == pytest.approx([0.25, 1.0, 0.0])


def test_bake_blends_views_by_weight_and_reprojection_masks_what_is_not_yet_covered():
    tri_pos, tri_uv, tri_nrm = cube()
    position, normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, 48)
    acc = bake.Accumulator(position, normal, valid, power=2.0)
    front = look_at_camera((0, -6, 0), fov_deg=40)
    corner = look_at_camera((4.2, -4.2, 0), fov_deg=40)
    for cam, colour in ((front, (1.0, 0.0, 0.0)), (corner, (0.0, 0.0, 1.0))):
        depth = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, cam)["depth"]
        acc.add_view(np.broadcast_to(np.array(colour), (64, 64, 3)), cam, depth)
    texture = acc.texture(dilate=0)
    front_face = valid & np.isclose(normal[..., 1], -1)
    side_face = valid & np.isclose(normal[..., 0], 1)
    # The −Y face, seen by both: red by weight cos_front² / (cos_front² + cos_corner²), per texel (geometry here).
    def cos_from(eye):
        to_eye = np.asarray(eye) - position[front_face]
        return (to_eye / np.linalg.norm(to_eye, axis=1, keepdims=True)) @ np.array([0, -1.0, 0])

    w_front, w_corner = cos_from((0, -6, 0)) ** 2, cos_from((4.2, -4.2, 0)) ** 2
    assert texture[front_face][:, 0] == pytest.approx(w_front / (w_front + w_corner), abs=0.02)
    assert texture[front_face][:, 1] == pytest.approx(0) and 0.25 < texture[front_face][:, 2].mean() < 0.4
    assert texture[side_face].mean(axis=0) == pytest.approx([0, 0, 1], abs=1e-6)        # only the corner sees +X
    assert not acc.coverage[valid & np.isclose(normal[..., 0], -1)].any()
    # From the back-right the +X face is covered (kept), the +Y face (never seen) is to paint.
    back = look_at_camera((4.2, 4.2, 0), fov_deg=40)
    view = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, back)
    init, mask = bake.reproject(acc, view, grazing_cos=math.cos(math.radians(70)))
    on_x = view["mask"] & np.isclose(view["normal"][..., 0], 1)
    on_y = view["mask"] & np.isclose(view["normal"][..., 1], 1)
    assert on_x.sum() > 200 and on_y.sum() > 200
    assert (mask[on_y] == 1).mean() > 0.97 and (mask[on_x] == 0).mean() > 0.9
    assert init[on_x][mask[on_x] == 0].mean(axis=0) == pytest.approx([0, 0, 1], abs=0.05)
    assert mask[~view["mask"]].max() == 0 and np.allclose(init[~view["mask"]], 0.5)
    # Grazing: with a stricter angle (cos 0.8), the +X face (seen at 0.71 by the corner) is repainted too.
    _init, strict = bake.reproject(acc, view, grazing_cos=0.8)
    assert (strict[on_x] == 1).mean() > 0.9


def test_dilation_grows_colours_over_edges_and_fills_the_rest_with_the_mean():
    colour = np.zeros((5, 5, 3))
    known = np.zeros((5, 5), bool)
    colour[2, 2], known[2, 2] = (1, 0.5, 0), True
    grown, reach = bake.dilate_colors(colour, known, 1)
    assert reach.sum() == 9 and np.allclose(grown[1:4, 1:4], (1, 0.5, 0))
    assert not reach[0].any()


def test_ring_of_cameras_frames_the_bounds_and_labels_views():
    center, radius = viewplan.bounds_sphere([(-1, -1, -1), (1, 1, 1)])
    assert center == (0, 0, 0) and radius == pytest.approx(math.sqrt(3))
    ring = viewplan.ring_positions(center, radius, 4, 30.0, 40.0)
    distance = viewplan.framing_distance(radius, 40.0)
    for position in ring:
        assert math.dist(position, center) == pytest.approx(distance)
        assert math.degrees(math.asin(position[2] / distance)) == pytest.approx(30.0)
    # The bounding sphere fits the narrower field of view: its angular radius is below half the fov.
    assert math.degrees(math.asin(radius / distance)) < 20.0
    assert [viewplan.view_label(p, center) for p in ring] == ["front view", "side view", "back view", "side view"]
    assert viewplan.view_label((0, 0, 10), center) == "top view"
    assert viewplan.view_prompt("a chair", "back view") == "a chair, back view"
    assert [viewplan.view_seed(2**31 - 1, i) for i in range(2)] == [2**31 - 1, 0]
    with pytest.raises(ValueError, match="at least 1"):
        viewplan.ring_positions(center, radius, 0, 0, 40)
