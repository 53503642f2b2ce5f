"""Reading the scene: render passes from a camera, camera matrices, armatures -> keypoints, image pixels.

The only module that reads the scene for requests. Everything it returns is plain data (bytes, floats, lists).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile

import bpy

from . import compat, posemap


def imaging_np():
    """imagebuf (numpy), imported on first use so the add-on registers even without numpy."""
    from . import imagebuf
    return imagebuf


def request_size(scene, settings) -> tuple:
    if settings.use_render_size:
        r = scene.render
        w, h = r.resolution_x * r.resolution_percentage / 100.0, r.resolution_y * r.resolution_percentage / 100.0
    else:
        w, h = settings.width, settings.height
    return imaging_np().round_size(w, h)


def active_camera(scene):
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        raise ValueError("The scene has no active camera (Scene properties → Camera)")
    return camera


def _rows(matrix) -> list:
    return [[float(v) for v in row] for row in matrix]


def camera_matrices(scene, camera, width: int, height: int) -> tuple:
    """(world_to_view, projection) as nested rows, for a width × height image of the camera's view."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    cam_eval = camera.evaluated_get(depsgraph)
    r = scene.render
    projection = cam_eval.calc_matrix_camera(depsgraph, x=width, y=height, scale_x=r.pixel_aspect_x,
                                             scale_y=r.pixel_aspect_y)
    return _rows(cam_eval.matrix_world.inverted()), _rows(projection)


def camera_dict(scene, camera, width: int, height: int) -> dict:
    """The wire Camera (texture projection) plus the matrices this add-on projects UVs with."""
    world_to_view, projection = camera_matrices(scene, camera, width, height)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    matrix = camera.evaluated_get(depsgraph).matrix_world
    perspective = camera.data.type != "ORTHO"
    p11 = projection[1][1]
    return {"camera_to_world": [float(v) for row in matrix for v in row], "perspective": perspective,
            "fov_y_degrees": math.degrees(2.0 * math.atan(1.0 / p11)) if perspective else 0.0,
            "ortho_height": (2.0 / p11) if not perspective else 0.0,
            "near": float(camera.data.clip_start), "far": float(camera.data.clip_end),
            "width": width, "height": height, "world_to_view": world_to_view, "projection": projection}


def render_views(scene, camera, width: int, height: int, *, depth: bool = True, color: bool = True,
                 engine: str = "CYCLES", samples: int = 8) -> dict:
    """Render the camera's view once: {"depth": {"data" float32_le, "width", "height", "near", "far", "plane"},
    "color_png": bytes}. The EVALUATED scene is what renders (modifiers applied). Scene settings are restored.

    No compositor nodes: the render result is saved as a multilayer EXR (every pass, the depth pass among them,
    straight from the render engine) and, for colour, as a PNG (through the scene's own compositor, if it has
    one, and its colour management), the way Image > Save As does. The same in every supported Blender."""
    r = scene.render
    view_layer = bpy.context.view_layer if bpy.context.view_layer in scene.view_layers[:] else scene.view_layers[0]
    saved = {"engine": r.engine, "resolution_x": r.resolution_x, "resolution_y": r.resolution_y,
             "resolution_percentage": r.resolution_percentage, "use_border": r.use_border}
    saved_camera, saved_z = scene.camera, view_layer.use_pass_z
    saved_image = compat.save_image_settings(r.image_settings)
    saved_cycles = None
    if hasattr(scene, "cycles"):
        saved_cycles = (scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.device)
    saved_eevee = scene.eevee.taa_render_samples
    tmp = tempfile.mkdtemp(prefix="dccbridge-capture-")
    try:
        r.engine = compat.engine_id(r, engine)
        r.resolution_x, r.resolution_y, r.resolution_percentage, r.use_border = width, height, 100, False
        scene.camera = camera
        view_layer.use_pass_z = view_layer.use_pass_z or depth
        if engine == "CYCLES":
            scene.cycles.samples = samples
            scene.cycles.use_denoising = False
        else:
            scene.eevee.taa_render_samples = samples
        bpy.ops.render.render(write_still=False, scene=scene.name, layer=view_layer.name)
        render_result = next((i for i in bpy.data.images if i.type == "RENDER_RESULT"), None)
        if render_result is None:
            raise RuntimeError("the render left no Render Result image")
        result = {}
        if depth:
            path = os.path.join(tmp, "passes.exr")
            compat.set_multilayer_exr(r.image_settings)
            render_result.save_render(path, scene=scene)
            with open(path, "rb") as f:
                plane = imaging_np().depth_from_exr(f.read(), view_layer.name)
            h, w = plane.shape
            result["depth"] = {"data": imaging_np().depth_bytes(plane), "width": w, "height": h,
                               "near": float(camera.data.clip_start), "far": float(camera.data.clip_end),
                               "plane": plane}
        if color:
            path = os.path.join(tmp, "color.png")
            compat.set_png8(r.image_settings)
            render_result.save_render(path, scene=scene)
            with open(path, "rb") as f:
                result["color_png"] = f.read()
        return result
    finally:
        compat.restore_image_settings(r.image_settings, saved_image)
        for key, value in saved.items():
            setattr(r, key, value)
        scene.camera, view_layer.use_pass_z = saved_camera, saved_z
        if saved_cycles is not None:
            scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.device = saved_cycles
        scene.eevee.taa_render_samples = saved_eevee
        shutil.rmtree(tmp, ignore_errors=True)


# -- pose -----------------------------------------------------------------------------------------------


def mapping_table(settings) -> dict:
    if settings.pose_preset == "TEXT":
        if settings.pose_text is None:
            raise ValueError("Pose rig 'Custom (text)' needs a text block (use Copy preset to text)")
        return posemap.parse_mapping(settings.pose_text.as_string())
    return posemap.load_preset(settings.pose_preset)


def pose_armatures(context) -> list:
    """The selected armatures; if none is selected, every visible armature of the view layer."""
    selected = [o for o in context.selected_objects if o.type == "ARMATURE"]
    if selected:
        return selected
    return [o for o in context.view_layer.objects if o.type == "ARMATURE" and o.visible_get()]


def bones_world(armature) -> dict:
    """name -> (head, tail) in world space, from the evaluated pose (constraints, drivers, actions applied)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    arm = armature.evaluated_get(depsgraph)
    world = arm.matrix_world
    return {pb.name: (tuple(world @ pb.head), tuple(world @ pb.tail)) for pb in arm.pose.bones}


def capture_pose(scene, camera, armatures, width: int, height: int, table: dict) -> dict:
    """{"width", "height", "people": [[(x, y, visible) * 18] per armature]}."""
    bpy.context.view_layer.update()
    world_to_view, projection = camera_matrices(scene, camera, width, height)
    people = []
    for armature in armatures:
        points = posemap.keypoints_world(bones_world(armature), table)
        people.append(posemap.project_keypoints(points, world_to_view, projection, width, height))
    return {"width": width, "height": height, "people": people}


# -- images -----------------------------------------------------------------------------------------------


def image_png(image) -> bytes:
    """An image datablock's pixels as PNG bytes (as stored: byte images are already display-encoded)."""
    np = imaging_np().np
    w, h = image.size
    if w == 0 or h == 0:
        raise ValueError(f"image '{image.name}' has no pixels")
    pixels = np.empty(w * h * 4, dtype="float32")
    image.pixels.foreach_get(pixels)
    rgba = imaging_np().blender_rgba(pixels, w, h)
    if image.is_float:
        rgba = rgba.copy()
        rgb = rgba[:, :, :3]
        rgba[:, :, :3] = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(np.clip(rgb, 0, None), 1 / 2.4) - 0.055)
    return imaging_np().encode_png(imaging_np().to_rgba8(rgba))
