"""Texture from views in real Blender (run by tests/blender/scenarios.py, whose helpers arrive as `h`): 4 proposed
cameras around the default cube, generated view by view on tiny, baked into a 64² UV texture, and checked against
Blender's own ray casts (not the add-on's rasteriser). tests/test_blender_addon.py::test_blender_texture_from_views
asserts on what it writes to RESULT."""

import json
import os
import time

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
def scenario_multiview(addon, h):
    RESULT, ADDON_MODULE = h["RESULT"], h["ADDON_MODULE"]
    settings, wait, image_info, addon_module = h["settings"], h["wait"], h["image_info"], h["addon_module"]
    draw_every_panel = h["draw_every_panel"]
    import numpy as np

    scene = bpy.context.scene
    cube = bpy.data.objects["Cube"]
    bpy.ops.object.select_all(action="DESELECT")
    cube.select_set(True)
    bpy.context.view_layer.objects.active = cube
    s = settings(size=64, steps=2)
    s.use_render_size = False
    # Square renders like the views: world_to_camera_view and view_frame below frame by the scene's resolution.
    scene.render.resolution_x = scene.render.resolution_y = 64
    mv = scene.dccbridge_multiview
    mv.views, mv.elevation, mv.texture_size, mv.dilate = 4, 40.0, 64, 1
    assert bpy.ops.dccbridge.propose_views() == {"FINISHED"}
    cameras = sorted((o for o in bpy.data.collections["DCC Views"].objects), key=lambda o: o.name)
    bpy.ops.object.select_all(action="DESELECT")
    cube.select_set(True)
    # Cancel right after the first view's job is submitted: the run stops, nothing is baked or assigned.
    assert bpy.ops.dccbridge.texture_from_views() == {"FINISHED"}
    assert bpy.ops.dccbridge.cancel() == {"FINISHED"}
    rt = wait(addon, timeout=60)
    RESULT["cancelled"] = {"status": rt.status, "recorded": "dccbridge_multiview" in cube,
                           "materials": [m.name for m in cube.data.materials if m is not None],
                           "jobs": len(scene.dccbridge.jobs)}
    start = time.monotonic()
    assert bpy.ops.dccbridge.texture_from_views() == {"FINISHED"}
    RESULT["operator_seconds"] = time.monotonic() - start
    rt = wait(addon, timeout=150)
    assert not rt.error, rt.error
    RESULT["total_seconds"] = time.monotonic() - start
    record = json.loads(cube["dccbridge_multiview"])
    material = cube.data.materials[0]
    image = next(n.image for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage")
    coverage_img = bpy.data.images[f"DCC multiview {cube.name} coverage"]
    RESULT["ui"] = draw_every_panel(addon, ADDON_MODULE)      # the panel's per-view record box, with the cube active
    RESULT.update(material=material.name, image=image_info(image), record=record,
                  png_exists=os.path.isfile(record["texture_path"]),
                  uv_nodes=[n.uv_map for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeUVMap"],
                  cameras=[{"name": c.name, "location": list(c.location)} for c in cameras])

    # What the server stored for each view's job (GetJob): view 1 a plain depth-guided generate, later views inpaint.
    transport = addon_module("transport")
    preferences = addon_module("preferences")
    conn = transport.Connection(preferences.settings(bpy.context))
    from google.protobuf import json_format
    stored = []
    for view in record["views"]:
        job = conn.stub.GetJob(addon_module("proto.service_pb2").GetJobRequest(job_id=view["job_id"]), timeout=10,
                               metadata=conn.metadata).job
        g = job.task.generate
        stored.append({"state": job.state, "has_init": g.HasField("init_image"), "has_mask": g.HasField("mask_image"),
                       "prompt": g.prompt, "seed": g.sampling.seed, "units": len(g.control_units),
                       "strength": g.strength if g.HasField("strength") else None})
    conn.close()
    RESULT["stored"] = stored

    # Each later view's mask against Blender's ray casts: a pixel of view k is to paint when the cube surface it shows
    # was seen squarely (n·v >= grazing cos, unoccluded) by no earlier view.
    grazing_cos = record["grazing_cos"]
    depsgraph = bpy.context.evaluated_depsgraph_get()      # now: the one from before the run is stale in bpy 4.2

    def sees(camera, point, normal):
        origin = camera.matrix_world.translation
        to_point = Vector(point) - origin
        distance = to_point.length
        cos = normal.dot(-to_point.normalized())
        ndc = world_to_camera_view(scene, camera, Vector(point))
        if not (0 <= ndc.x <= 1 and 0 <= ndc.y <= 1) or cos <= 0:
            return 0.0
        hit, location, *_ = scene.ray_cast(depsgraph, origin, to_point.normalized(), distance=distance + 1.0)
        return cos if hit and (location - Vector(point)).length < 1e-3 * max(1.0, distance) else 0.0

    agreement = []
    for k, view in enumerate(record["views"]):
        if k == 0:
            continue
        mask_img = bpy.data.images[view["mask_image"]]
        w, h = mask_img.size
        px = np.empty(w * h * 4, np.float32)
        mask_img.pixels.foreach_get(px)
        mask = px.reshape(h, w, 4)[::-1, :, 0] > 0.5
        camera = bpy.data.objects[view["camera"]]
        frame = [camera.matrix_world @ v for v in camera.data.view_frame(scene=scene)]   # tr, br, bl, tl
        agree = total = 0
        for row in range(0, h, 2):
            for col in range(0, w, 2):
                fx, fy = (col + 0.5) / w, (row + 0.5) / h
                top = frame[3].lerp(frame[0], fx)
                bottom = frame[2].lerp(frame[1], fx)
                target = top.lerp(bottom, fy)
                origin = camera.matrix_world.translation
                hit, location, normal, *_ = scene.ray_cast(depsgraph, origin, (target - origin).normalized())
                if not hit:
                    continue
                best = max(sees(bpy.data.objects[record["views"][j]["camera"]], location, normal) for j in range(k))
                expected = best < grazing_cos
                total += 1
                agree += int(expected == bool(mask[row, col]))
        agreement.append({"view": k + 1, "pixels": total, "agree": agree / max(1, total),
                          "mask_fraction": view["mask_fraction"]})
    RESULT["mask_agreement"] = agreement

    # Every texel some camera sees (ray cast) is covered by the bake; texels no camera sees (the bottom) are not.
    bake = addon_module("bake")
    multiview = addon_module("multiview")
    tri_pos, tri_uv, tri_nrm, _uv = multiview.mesh_triangles(cube)
    position, normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, 64)
    cov = np.empty(64 * 64 * 4, np.float32)
    coverage_img.pixels.foreach_get(cov)
    covered = cov.reshape(64, 64, 4)[::-1, :, 0] > 0.5
    seen = missed = unseen_covered = unseen = 0
    for r, c in zip(*np.nonzero(valid)):
        point, n = Vector(position[r, c]), Vector(normal[r, c])
        best = max(sees(cam, point + n * 1e-4, n) for cam in cameras)
        if best > 0.05:
            seen += 1
            missed += int(not covered[r, c])
        elif best == 0.0:
            unseen += 1
            unseen_covered += int(covered[r, c])
    RESULT["texels"] = {"valid": int(valid.sum()), "seen": seen, "missed": missed, "unseen": unseen,
                        "unseen_covered": unseen_covered}

