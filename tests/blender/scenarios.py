"""Runs INSIDE real Blender (headless) for tests/test_blender_addon.py:

    blender -b --factory-startup --python-exit-code 1 --python scenarios.py -- SCENARIO ZIP ADDRESS OUT_JSON
    python run_module.py scenarios.py SCENARIO ZIP ADDRESS OUT_JSON      (Blender as a Python module, `bpy`)

Installs the add-on from the built zip the way a user would (the legacy zip through Preferences > Add-ons >
Install; a `*-extension.zip` through Install from Disk into the user_default repository; the user folders point at
a temp dir), builds a small scene, drives the add-on's operators against a real dccbridge server and writes what
it measured to OUT_JSON. Asserts here make Blender exit 1; the pytest side checks the JSON.
"""

import importlib
import json
import math
import os
import sys
import time
import traceback
import types

import addon_utils
import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Vector

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drawcheck import draw_every_panel  # noqa: E402

SCENARIO, ZIP, ADDRESS, OUT = sys.argv[sys.argv.index("--") + 1:][:4]
RESULT = {"scenario": SCENARIO}


EXTENSION = ZIP.endswith("-extension.zip")
ADDON_MODULE = "bl_ext.user_default.dccbridge_blender" if EXTENSION else "dccbridge_blender"


def install():
    if EXTENSION:
        assert bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default",
                                                        enable_on_install=True) == {"FINISHED"}
    else:
        bpy.ops.preferences.addon_install(filepath=ZIP, overwrite=True)
        bpy.ops.preferences.addon_enable(module=ADDON_MODULE)
    prefs = bpy.context.preferences.addons[ADDON_MODULE].preferences
    prefs.address = ADDRESS
    prefs.timeout_s = 5.0
    prefs.retries = 1
    addon = importlib.import_module(ADDON_MODULE)
    RESULT.update(addon_file=addon.__file__, blender_version=bpy.app.version_string,
                  python_version="%d.%d.%d" % sys.version_info[:3])
    return addon


def addon_module(name):
    """A module of the installed add-on (dccbridge_blender.X, or bl_ext.user_default.dccbridge_blender.X)."""
    return importlib.import_module(f"{ADDON_MODULE}.{name}")


def settings(size=64, steps=2, seed=1234):
    s = bpy.context.scene.dccbridge
    s.use_render_size = False
    s.width = s.height = size
    s.steps = steps
    s.prompt = "a test scene"
    s.negative_prompt = "blurry"
    s.seed_mode = "FIXED"
    s.seed = seed
    s.capture_samples = 4
    return s


def wait(addon, timeout=90):
    start = time.monotonic()
    idle = addon.jobs.wait_idle(timeout)
    rt = bpy.context.window_manager.dccbridge
    RESULT.setdefault("waits", []).append({"idle": idle, "seconds": round(time.monotonic() - start, 2),
                                           "status": rt.status, "error": rt.error})
    assert idle, f"still busy after {timeout} s: {rt.status}"
    return rt


def provenance(idblock):
    return {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in idblock.items()
            if k.startswith("dccbridge_") and k != "dccbridge_metadata"}


def image_info(image):
    return {"name": image.name, "size": list(image.size), "packed": image.packed_file is not None,
            "colorspace": image.colorspace_settings.name, "props": provenance(image)}


def metarig(name, location):
    bpy.ops.object.select_all(action="DESELECT")
    bpy.ops.object.armature_human_metarig_add()
    arm = bpy.context.object
    arm.name = name
    arm.location = location
    return arm


def camera_at(location, rotation_deg):
    data = bpy.data.cameras.new("TestCam")
    cam = bpy.data.objects.new("TestCam", data)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = location
    cam.rotation_euler = Euler([math.radians(a) for a in rotation_deg])
    bpy.context.scene.camera = cam
    return cam


def pixel_of(scene, cam, world):
    ndc = world_to_camera_view(scene, cam, Vector(world))
    r = scene.render
    w, h = r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100
    return ndc.x * w, (1 - ndc.y) * h, ndc.z


# -- scenarios ---------------------------------------------------------------------------------------------


def scenario_connection(addon):
    assert bpy.ops.dccbridge.test_connection() == {"FINISHED"}
    rt = wait(addon, 30)
    RESULT.update(server_version=rt.server_version, device=rt.device, models=[m.name for m in rt.models],
                  schedulers=[s.name for s in rt.schedulers], status=rt.status)
    assert rt.server_version and not rt.error, rt.error
    # Disabling runs unregister(): the timer pump must go (a registered timer crashes the bpy 4.2 module at exit).
    pump = addon.jobs._pump
    RESULT["pump_registered"] = bpy.app.timers.is_registered(pump)
    bpy.ops.preferences.addon_disable(module=ADDON_MODULE)
    RESULT["pump_after_disable"] = bpy.app.timers.is_registered(pump)


def scenario_lost_server(addon):
    """Nothing listens at ADDRESS: Test connection and Generate end with a clear error, quickly."""
    settings()
    start = time.monotonic()
    bpy.ops.dccbridge.test_connection()
    rt = wait(addon, 30)
    RESULT["connection_error"] = rt.error
    bpy.ops.dccbridge.generate()
    rt = wait(addon, 30)
    RESULT.update(generate_error=rt.error, status=rt.status, seconds=round(time.monotonic() - start, 2),
                  images=[i.name for i in bpy.data.images if i.name.startswith("DCC generate")])


def scenario_generate(addon):
    """Depth + pose + canny from the default scene with a metarig: a packed image with provenance; then fetched
    again by job id."""
    addon_utils.enable("rigify", default_set=True)
    arm = metarig("Rig", (0, 0, -1))
    arm.pose.bones["upper_arm.L"].rotation_mode = "XYZ"
    arm.pose.bones["upper_arm.L"].rotation_euler = (0, 0, math.radians(-40))
    s = settings()
    s.unit_depth.enabled = s.unit_pose.enabled = s.unit_canny.enabled = True
    s.unit_depth.weight, s.unit_pose.weight, s.unit_canny.weight = 1.0, 0.8, 0.5
    s.unit_pose.end = 0.7
    bpy.ops.object.select_all(action="DESELECT")
    arm.select_set(True)
    bpy.context.view_layer.objects.active = arm
    t = time.monotonic()
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    RESULT["operator_seconds"] = round(time.monotonic() - t, 2)   # capture + submit; the job runs in a thread
    rt = wait(addon)
    assert not rt.error, rt.error
    image = bpy.data.images.get("DCC generate 1234")
    assert image is not None, [i.name for i in bpy.data.images]
    RESULT["image"] = image_info(image)
    RESULT["preview"] = bpy.data.images.get("DCC Bridge Preview") is not None
    jobs = bpy.context.scene.dccbridge.jobs
    RESULT["jobs"] = [{"job_id": j.job_id, "kind": j.kind, "state": j.state, "applied": j.applied} for j in jobs]
    RESULT["last_seed"] = bpy.context.scene.dccbridge.last_seed
    # A finished result is never lost: fetch it again by id.
    assert bpy.ops.dccbridge.fetch_job(job_id=jobs[-1].job_id) == {"FINISHED"}
    wait(addon)
    again = [i for i in bpy.data.images if i.name.startswith("DCC generate 1234") and i != image]
    assert again, "fetch made no image"
    import numpy as np

    a, b = (np.empty(64 * 64 * 4, np.float32) for _ in range(2))
    image.pixels.foreach_get(a)
    again[0].pixels.foreach_get(b)
    RESULT["refetch_identical"] = bool(np.array_equal(a, b))
    # Show control map for the pose and canny units: the server's maps as images.
    for unit in ("openpose", "canny"):
        assert bpy.ops.dccbridge.show_control_map(unit=unit) == {"FINISHED"}
        wait(addon)
    RESULT["control_maps"] = {u: image_info(bpy.data.images[f"DCC control {u}"]) for u in ("openpose", "canny")}
    px = np.empty(64 * 64 * 4, np.float32)
    bpy.data.images["DCC control openpose"].pixels.foreach_get(px)
    RESULT["openpose_map_lit_fraction"] = float((px.reshape(-1, 4)[:, :3].max(axis=1) > 0.1).mean())
    # The UI in this Blender: connected, jobs listed, a result shown; then busy with an error and a retry.
    RESULT["ui_idle"] = draw_every_panel(addon, ADDON_MODULE, image)
    rt = bpy.context.window_manager.dccbridge
    rt.busy, rt.status, rt.error, rt.retry_job_id = True, "generate: step 1/2", "Cannot reach the server", jobs[-1].job_id
    rt.preview_image = bpy.data.images.get("DCC Bridge Preview")
    RESULT["ui_busy"] = draw_every_panel(addon, ADDON_MODULE, image)
    rt.busy, rt.error, rt.retry_job_id = False, "", ""


def scenario_depth(addon):
    """A plane behind a cube with an Array modifier: the captured depth plane, numerically."""
    capture = addon_module("capture")

    scene = bpy.context.scene
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    cam = camera_at((0, -10, 0), (90, 0, 0))
    cam.data.lens = 35
    cam.data.clip_start, cam.data.clip_end = 0.1, 100.0
    bpy.ops.mesh.primitive_plane_add(size=6, location=(0, 0, 0), rotation=(math.radians(90), 0, 0))
    bpy.ops.mesh.primitive_cube_add(size=1, location=(-1.5, -3, 0))
    cube = bpy.context.object
    array = cube.modifiers.new("Array", "ARRAY")
    array.count = 2
    array.relative_offset_displace = (3, 0, 0)   # a second cube at x = +1.5 that only the modifier makes
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    views = capture.render_views(scene, cam, 96, 64, color=False, engine="CYCLES", samples=4)
    d = views["depth"]
    plane = d["plane"]
    probes = {"cube": (-1.5, -3.5, 0), "array_copy": (1.5, -3.5, 0), "plane": (0, 0, 2.5), "background": None}
    out = {}
    for key, world in probes.items():
        if world is None:
            x, y = 1, 1
        else:
            x, y, _ = pixel_of(scene, cam, world)
        out[key] = {"px": [int(x), int(y)], "depth": float(plane[int(y), int(x)])}
    RESULT.update(depth=out, width=d["width"], height=d["height"], near=d["near"], far=d["far"],
                  bytes=len(d["data"]), dtype=str(plane.dtype))
    # Eevee too (its engine id differs between versions: the seam's job), one sample; the scene keeps its engine.
    engine = scene.render.engine
    eevee = capture.render_views(scene, cam, 96, 64, color=False, engine="BLENDER_EEVEE", samples=1)["depth"]["plane"]
    RESULT["eevee"] = {key: float(eevee[v["px"][1], v["px"][0]]) for key, v in out.items()}
    RESULT["engine_kept"] = scene.render.engine == engine
    # The map the server makes from this pass (Preprocess through the add-on's Show control map).
    s = settings()
    s.width, s.height = 96, 64
    s.unit_depth.enabled = True
    assert bpy.ops.dccbridge.show_control_map(unit="depth") == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    control = bpy.data.images["DCC control depth"]
    import numpy as np

    px = np.empty(96 * 64 * 4, np.float32)
    control.pixels.foreach_get(px)
    rgba = px.reshape(64, 96, 4)[::-1]
    RESULT["control_map"] = {k: float(rgba[v["px"][1], v["px"][0], 0]) for k, v in out.items()}
    RESULT["control_size"] = list(control.size)


def scenario_pose(addon):
    """Keypoints from a posed metarig vs world_to_camera_view; a second rig behind the camera is invisible."""
    capture, posemap = addon_module("capture"), addon_module("posemap")

    addon_utils.enable("rigify", default_set=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 160, 128, 50
    cam = camera_at((0, -6, 1.2), (90, 0, 0))
    front = metarig("Front", (0.2, 0, 0))
    arm = front.pose.bones["upper_arm.L"]
    arm.rotation_mode = "XYZ"
    arm.rotation_euler = (0, 0, math.radians(-50))
    front.pose.bones["forearm.R"].rotation_mode = "XYZ"
    front.pose.bones["forearm.R"].rotation_euler = (math.radians(60), 0, 0)
    behind = metarig("Behind", (0, -9, 0))
    bpy.context.view_layer.update()
    s = settings()
    s.use_render_size = True
    width, height = capture.request_size(scene, s)   # 80 x 64: the render size at 50 %
    table = posemap.load_preset("METARIG")
    pose = capture.capture_pose(scene, cam, [front, behind], width, height, table)
    people = pose["people"]
    checks = {}
    for keypoint, bone, at in (("left_wrist", "hand.L", "head"), ("right_wrist", "hand.R", "head"),
                               ("left_elbow", "forearm.L", "head"), ("right_ankle", "foot.R", "head"),
                               ("nose", "nose.002", "head"), ("left_eye", "eye.L", "head"),
                               ("neck", "spine.004", "head")):
        pb = front.pose.bones[bone]
        world = front.matrix_world @ (pb.head if at == "head" else pb.tail)
        ex, ey, _ = pixel_of(scene, cam, world)
        x, y, vis = people[0][posemap.COCO18.index(keypoint)]
        checks[keypoint] = {"expected": [ex, ey], "got": [x, y], "visible": vis}
    RESULT.update(size=[width, height], checks=checks, front_visible=sum(1 for k in people[0] if k[2]),
                  behind_visible=sum(1 for k in people[1] if k[2]),
                  openpose=posemap.openpose_json(people, width, height))
    RESULT["presets"] = sorted(posemap.PRESETS)


def scenario_texture(addon):
    bpy.ops.object.select_all(action="DESELECT")
    cube = bpy.data.objects["Cube"]
    cube.select_set(True)
    s = settings()
    s.texture_tiling = "BOTH"
    s.texture_pbr = True
    assert bpy.ops.dccbridge.texture_material() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    material = cube.data.materials[0]
    nodes = material.node_tree.nodes
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")

    def source(socket):
        links = bsdf.inputs[socket].links
        return links[0].from_node.bl_idname if links else None

    textures = {n.name: image_info(n.image) for n in nodes if n.bl_idname == "ShaderNodeTexImage"}
    RESULT.update(material=material.name, base_color=source("Base Color"), roughness=source("Roughness"),
                  normal=source("Normal"), textures=textures, props=provenance(material),
                  displacement=bool(next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
                                    .inputs["Displacement"].links))


def scenario_projection(addon):
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    bpy.ops.object.select_all(action="DESELECT")
    cube = bpy.data.objects["Cube"]
    cube.select_set(True)
    s = settings()
    s.use_render_size = True
    assert bpy.ops.dccbridge.project_material() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    material = cube.data.materials[0]
    mesh = cube.data
    layer = mesh.uv_layers["DCC Projection"]
    worst = 0.0
    for loop in mesh.loops:
        co = cube.matrix_world @ mesh.vertices[loop.vertex_index].co
        ndc = world_to_camera_view(scene, scene.camera, co)
        uv = layer.data[loop.index].uv
        worst = max(worst, abs(uv.x - ndc.x), abs(uv.y - ndc.y))
    uv_nodes = [n.uv_map for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeUVMap"]
    image = next(n.image for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage")
    RESULT.update(material=material.name, uv_layers=[l.name for l in mesh.uv_layers], uv_max_error=worst,
                  uv_nodes=uv_nodes, image=image_info(image), props=provenance(material),
                  camera=json.loads(material["dccbridge_camera"])["width"])


def scenario_upscale(addon):
    import numpy as np

    src = bpy.data.images.new("Source", 32, 24)
    gradient = np.linspace(0, 1, 32 * 24 * 4, dtype=np.float32)
    src.pixels.foreach_set(gradient)
    s = settings()
    s.upscale_scale = 2.0
    s.upscale_method = "LANCZOS"
    assert bpy.ops.dccbridge.upscale(image_name="Source") == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    out = bpy.data.images["Source x2"]
    RESULT["image"] = image_info(out)


def scenario_restore_faces(addon):
    """The Restore faces controls: the restorer menu comes from the server's capabilities; with the toggle on, an
    upscale and a generate send the option (the test reads the jobs back from the server); off, nothing is sent."""
    import numpy as np

    assert bpy.ops.dccbridge.test_connection() == {"FINISHED"}
    rt = wait(addon, 30)
    RESULT["restorers"] = [[r.name, r.description] for r in rt.restorers]
    src = bpy.data.images.new("Portrait", 64, 48)
    rgba = np.full((48, 64, 4), 0.08, np.float32)
    rgba[..., 3] = 1.0
    rgba[16:32, 16:32, :3] = 0.9  # a bright 16-px square: one 32-px "face" for the tiny detector at 2x
    src.pixels.foreach_set(rgba[::-1].ravel())
    s = settings()
    s.restore_faces, s.face_restorer, s.face_strength = True, rt.restorers[0].name, 0.6
    s.upscale_scale, s.upscale_method = 2.0, "LANCZOS"
    requests, common = addon_module("requests"), addon_module("operators.common")
    sent = {kind: common.params(bpy.context.scene, s, kind).get("restore_faces")
            for kind in ("generate", "upscale", "outpaint", "depth2img")}
    RESULT["params"] = sent
    RESULT["generate_option"] = str(requests.generate_task(common.params(bpy.context.scene, s, "generate"),
                                                           []).generate.restore_faces)
    assert bpy.ops.dccbridge.upscale(image_name="Portrait") == {"FINISHED"}
    wait(addon)
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    wait(addon)
    s.restore_faces = False
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    RESULT["jobs"] = [[j.kind, j.job_id, j.state] for j in bpy.context.scene.dccbridge.jobs]
    RESULT["ui"] = draw_every_panel(addon, ADDON_MODULE, bpy.data.images["Portrait x2"])


def scenario_extend(addon):
    import numpy as np

    src = bpy.data.images.new("Render", 60, 44)
    rgba = np.zeros((44, 60, 4), np.float32)
    rgba[..., 0] = np.linspace(0.1, 0.9, 60)[None, :]
    rgba[..., 1] = 0.5
    rgba[..., 3] = 1.0
    src.pixels.foreach_set(rgba.ravel())
    s = settings()
    s.extend_left, s.extend_top, s.extend_right, s.extend_bottom = 16, 0, 8, 0
    s.extend_feather = 4
    s.extend_fill = "INPAINT_TELEA"
    s.steps, s.seed = 2, 9
    assert bpy.ops.dccbridge.extend_image(image_name="Render") == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    out = bpy.data.images["Render extended"]
    pixels = np.empty(out.size[0] * out.size[1] * 4, np.float32)
    out.pixels.foreach_get(pixels)
    pixels = pixels.reshape(out.size[1], out.size[0], 4)
    placement = json.loads(out["dccbridge_placement"])
    x0 = placement["offset_x"]
    # an original pixel far from the extended sides, read back (rows are bottom-up in Blender)
    RESULT.update(image=image_info(out), placement=placement,
                  kept=float(np.abs(pixels[20 + out.size[1] - 44, x0 + 30, :3] - rgba[20, 30, :3]).max()))


def scenario_animation(addon):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 2
    cube = bpy.data.objects["Cube"]
    cube.location = (0, 0, 0)
    cube.keyframe_insert("location", frame=1)
    cube.location = (0, 0, 1)
    cube.keyframe_insert("location", frame=2)
    s = settings()
    s.seed_mode = "RANDOM"
    s.unit_depth.enabled = True
    t = time.monotonic()
    assert bpy.ops.dccbridge.animation() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    frames = sorted((i for i in bpy.data.images if i.name.startswith("DCC animation")), key=lambda i: i.name)
    RESULT.update(frames=[image_info(i) for i in frames], seconds=round(time.monotonic() - t, 2), status=rt.status)


def scenario_cancel(addon):
    s = settings(size=256, steps=40)
    s.seed_mode = "RANDOM"
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    jobs = addon_module("jobs")

    deadline = time.monotonic() + 60
    handle = jobs.handles()[0]
    while handle.state not in ("running",) and time.monotonic() < deadline:
        jobs.drain()
        time.sleep(0.02)
    t = time.monotonic()
    assert bpy.ops.dccbridge.cancel() == {"FINISHED"}
    rt = wait(addon, 60)
    RESULT.update(state=handle.state, cancel_seconds=round(time.monotonic() - t, 2), status=rt.status, error=rt.error,
                  images=[i.name for i in bpy.data.images if i.name.startswith("DCC generate")],
                  recorded=[j.state for j in bpy.context.scene.dccbridge.jobs])


def scenario_depth2img(addon):
    s = settings()
    s.strength = 0.6
    assert bpy.ops.dccbridge.depth2img() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    image = next(i for i in bpy.data.images if i.name.startswith("DCC depth2img"))
    RESULT["image"] = image_info(image)


def scenario_midjob(addon):
    """The connection drops while a job runs (the runner stops reading its stream, as a dropped connection does);
    the job finishes on the server, the test restarts the server on the same port and data directory, and the
    result is fetched by job id (GetJob) into the .blend."""
    jobs = addon_module("jobs")

    settings(size=256, steps=30)
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    handle = jobs.handles()[0]
    deadline = time.monotonic() + 60
    while not handle.job_id and not handle.done and time.monotonic() < deadline:
        jobs.drain()
        time.sleep(0.01)
    handle.runner.abandon()
    rt = wait(addon, 30)
    RESULT.update(first_state=handle.state, job_id=handle.job_id, status=rt.status,
                  recorded=[(j.job_id, j.applied) for j in bpy.context.scene.dccbridge.jobs])
    with open(OUT + ".job", "w") as f:
        f.write(handle.job_id)
    deadline = time.monotonic() + 120
    while not os.path.exists(OUT + ".restarted") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(OUT + ".restarted"), "the test did not restart the server"
    # The panel's Jobs list / Retry button: fetch by the id kept in the scene.
    assert bpy.ops.dccbridge.fetch_job(job_id=bpy.context.scene.dccbridge.jobs[-1].job_id) == {"FINISHED"}
    rt = wait(addon, 60)
    RESULT["images"] = [image_info(i) for i in bpy.data.images if i.name.startswith("DCC generate")]
    RESULT["final_error"] = rt.error
    RESULT["final_recorded"] = [(j.job_id, j.state, j.applied) for j in bpy.context.scene.dccbridge.jobs]


def scenario_adapters(addon):
    """LoRA / embedding / VAE menus from the server's capabilities, filtered by the model's family; a generate that
    sends them, the same seed without them; stale choices refused; the choices survive save and reload."""
    import numpy as np

    requests = addon_module("requests")
    _embedding_items = addon_module("operators.adapters")._embedding_items
    adapter_props = addon_module("properties.adapters")

    s = settings()
    assert bpy.ops.dccbridge.test_connection() == {"FINISHED"}
    rt = wait(addon, 30)
    assert not rt.error, rt.error
    RESULT["listed"] = {kind: sorted([i.name, i.family] for i in getattr(rt, kind))
                        for kind in ("loras", "embeddings", "vaes")}
    RESULT["default_model"] = rt.default_model

    def menus():
        row = s.loras[0]
        return {"lora": [i[0] for i in adapter_props._lora_items(row, bpy.context)],
                "vae": [i[0] for i in adapter_props._vae_items(s, bpy.context)],
                "embedding": [i[0] for i in _embedding_items(None, bpy.context)]}

    assert bpy.ops.dccbridge.lora_add() == {"FINISHED"}
    RESULT["menus_sd15"] = menus()
    row = s.loras[0]
    row.lora = "style"
    row.weight = 0.8
    try:
        row.lora = "xl-style"          # another family's LoRA is not in the dropdown
        RESULT["other_family_settable"] = True
    except TypeError:
        RESULT["other_family_settable"] = False
    assert bpy.ops.dccbridge.insert_embedding(embedding="mystyle", target="PROMPT") == {"FINISHED"}
    s.vae = "warm-vae"
    RESULT["prompt_with_token"] = s.prompt
    RESULT["stored"] = {"lora_id": row.lora_id, "vae_id": s.vae_id, "vae_enum": s.vae}

    def generate_image():
        before = {i.as_pointer() for i in bpy.data.images}   # not names: the newest image takes the plain name
        assert bpy.ops.dccbridge.generate() == {"FINISHED"}
        rt = wait(addon)
        assert not rt.error, rt.error
        new = [i for i in bpy.data.images if i.as_pointer() not in before and i.name.startswith("DCC generate")]
        assert len(new) == 1, [i.name for i in new]
        px = np.empty(64 * 64 * 4, np.float32)
        new[0].pixels.foreach_get(px)
        return new[0], px

    with_adapters, a = generate_image()
    RESULT["with"] = image_info(with_adapters)
    # The same seed and prompt words without them: LoRA row off, token out of the prompt, the model's own VAE.
    row.enabled = False
    s.prompt = "a test scene"
    s.vae = "__model__"
    without, b = generate_image()
    RESULT["without"] = image_info(without)
    RESULT["max_difference"] = float(np.abs(a - b).max())

    def refused():
        """Generate with the current choices: the operator's message (bpy.ops raises on an ERROR report)."""
        rt.error = ""
        count = len(bpy.context.scene.dccbridge.jobs)
        try:
            outcome = bpy.ops.dccbridge.generate()
        except RuntimeError as error:
            outcome = str(error)
        assert len(bpy.context.scene.dccbridge.jobs) == count, "a job was submitted"
        return {"outcome": str(outcome), "error": rt.error}

    # A LoRA id the server does not list (a file removed since the .blend was saved).
    row.enabled = True
    row.lora_id = "gone"
    RESULT["stale_gone"] = refused()
    RESULT["stale_gone_menu"] = [(i[0], i[1], i[3]) for i in adapter_props._lora_items(row, bpy.context)]
    # The model changes to another family: the sd15 LoRA and VAE no longer fit.
    row.lora_id = "style"
    s.vae_id = "warm-vae"
    s.model = "tiny-sdxl"
    RESULT["menus_sdxl"] = menus()
    RESULT["stale_family"] = refused()
    RESULT["stale_family_reason"] = adapter_props.stale_reason(bpy.context, "loras", "style")
    s.model = ""

    # Every task builder that runs an SD model carries them; upscale only for tiled diffusion.
    params = {"model": "", "prompt": "p", "width": 64, "height": 64, "seed": 1,
              "adapters": {"loras": [{"id": "style", "weight": 0.5}], "embeddings": ["mystyle"], "vae_id": "warm-vae"}}
    tasks = {"generate": requests.generate_task(params, []).generate,
             "depth2img": requests.depth2img_task(params, b"png", None).depth2img,
             "texture": requests.texture_task(params).texture,
             "outpaint": requests.outpaint_task(b"png", (8, 0, 0, 0), params=params).outpaint,
             "tiled_upscale": requests.upscale_task(b"png", 2, "TILED_DIFFUSION", params).upscale,
             "lanczos_upscale": requests.upscale_task(b"png", 2, "LANCZOS", params).upscale}
    RESULT["task_adapters"] = {name: (task.adapters.loras[0].id, task.adapters.loras[0].weight,
                                      list(task.adapters.embeddings), task.adapters.vae_id)
                               if task.HasField("adapters") else None for name, task in tasks.items()}

    # Live sends them too: the session's settings as the server resolved them (LiveOpened) list them.
    import live_scenarios

    RESULT["live"] = live_scenarios.adapters_sent(types.SimpleNamespace(**globals()))

    # Saved with the scene: rows, weights, the VAE and the inserted embeddings survive a save and reload.
    s.vae_id = "warm-vae"
    path = OUT + ".blend"
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    s = bpy.context.scene.dccbridge
    RESULT["reloaded"] = {"loras": [[r.lora_id, round(r.weight, 4), r.enabled] for r in s.loras],
                          "vae_id": s.vae_id, "embeddings_used": [e.name for e in s.embeddings_used]}



def scenario_multiview(addon):
    """Texture from views (tests/blender/multiview_scenario.py: this file's helpers passed in)."""
    from multiview_scenario import scenario_multiview as run

    run(addon, globals())


def scenario_reference(addon):
    """The Reference unit: an image datablock (with a canny unit in the same job), then the current render."""
    import hashlib

    import numpy as np

    assert bpy.ops.dccbridge.test_connection() == {"FINISHED"}
    rt = wait(addon, 30)
    RESULT["reference_adapters"] = [[a.name, a.family] for a in rt.reference_adapters]
    s = settings()
    ref = bpy.data.images.new("Ref", 40, 32)
    rgba = np.zeros((32, 40, 4), np.float32)
    rgba[..., 0] = np.linspace(0, 1, 40)[None, :]
    rgba[..., 2] = np.linspace(1, 0, 32)[:, None]
    rgba[..., 3] = 1.0
    ref.pixels.foreach_set(rgba.ravel())
    unit = s.unit_reference
    unit.enabled, unit.source, unit.image, unit.adapter_id = True, "IMAGE", ref, "tiny-ip-adapter"
    unit.weight, unit.start, unit.end = 0.6, 0.0, 0.8
    s.unit_canny.enabled = True
    RESULT["sent_sha256"] = hashlib.sha256(addon_module("capture").image_png(ref)).hexdigest()
    RESULT["ui"] = draw_every_panel(addon, ADDON_MODULE, None)
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    RESULT["with_image"] = image_info(bpy.data.images["DCC generate 1234"])
    s.unit_canny.enabled = False
    unit.source, unit.adapter_id = "RENDER", ""
    s.seed = 4321
    assert bpy.ops.dccbridge.generate() == {"FINISHED"}
    rt = wait(addon)
    assert not rt.error, rt.error
    RESULT["with_render"] = image_info(bpy.data.images["DCC generate 4321"])
    unit.source, unit.image = "IMAGE", None
    try:  # an operator that reports an ERROR raises in background mode
        RESULT["no_image_outcome"] = sorted(bpy.ops.dccbridge.generate())
    except RuntimeError as error:
        RESULT["no_image_outcome"] = str(error)
    RESULT["no_image_error"] = bpy.context.window_manager.dccbridge.error


def main():
    addon = install()
    try:
        scenario = globals().get("scenario_" + SCENARIO)
        if scenario is None and SCENARIO.startswith("history"):   # tests/blender/history_scenarios.py
            import history_scenarios
            scenario = history_scenarios.bind(SCENARIO, types.SimpleNamespace(**globals()))
        if scenario is None:                   # live mode's scenarios: tests/blender/live_scenarios.py
            import live_scenarios
            scenario = live_scenarios.bind(SCENARIO, types.SimpleNamespace(**globals()))
        scenario(addon)
        RESULT["ok"] = True
    except Exception:
        RESULT["ok"] = False
        RESULT["traceback"] = traceback.format_exc()
        raise
    finally:
        with open(OUT, "w") as f:
            json.dump(RESULT, f, indent=1, default=str)


main()
