"""Screenshots of Live mode for docs/blender.md (docs/img/blender-live-*.png), made under Xvfb with a server:

    .venv/bin/python clients/blender_addon/tools/screenshot_live.py --address 127.0.0.1:50051 [--out-dir docs/img]

Like screenshot.py (the panel), but Blender runs its real UI event loop: the add-on's timer and depsgraph handler
fire by themselves. Inside Blender it installs the add-on, splits the 3D View with an Image Editor, turns Live on,
then (1) shows the first answer, (2) poses the armature and moves the cube — the image follows, (3) looks through
the camera with the live image as its background. Each shot is the whole window, scaled to 960 px wide (Pillow).
"""

import sys

try:
    import bpy  # noqa: F401
except ImportError:
    bpy = None


def drive():
    import argparse
    import os
    import pathlib
    import subprocess
    import tempfile

    here = pathlib.Path(__file__).resolve()
    addon_root = here.parent.parent
    repo = addon_root.parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=str(repo / "docs" / "img"))
    parser.add_argument("--address", required=True, help="a dccbridge server's gRPC host:port")
    parser.add_argument("--blender", default="blender")
    args = parser.parse_args()
    sys.path.insert(0, str(addon_root))
    import package

    out_dir = pathlib.Path(args.out_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        legacy = package.build_legacy(pathlib.Path(tmp))
        env = dict(os.environ, BLENDER_USER_SCRIPTS=f"{tmp}/scripts", BLENDER_USER_CONFIG=f"{tmp}/config")
        env.setdefault("DCCBRIDGE_BLENDER_DEPS", str(repo / ".blender-deps"))
        env.pop("PYTHONPATH", None)
        subprocess.run([args.blender, "-b", "--factory-startup", "--python-expr",
                        "import bpy; bpy.context.preferences.view.show_splash = False; "
                        "bpy.context.preferences.use_preferences_save = False; bpy.ops.wm.save_userpref()"],
                       env=env, check=True, capture_output=True)
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1440x1000x24", args.blender, "--python", str(here), "--",
               str(legacy), str(out_dir), args.address]
        subprocess.run(cmd, env=env, check=True, timeout=300)
    from PIL import Image      # run this with the project's venv Python: Pillow makes the PNGs small

    for name in ("blender-live-on", "blender-live-follows", "blender-live-camera"):
        path = out_dir / f"{name}.png"
        with Image.open(path) as shot:
            small = shot.convert("RGB").resize((960, round(shot.height * 960 / shot.width)), Image.LANCZOS)
        small.quantize(256).save(path, optimize=True)
        print("wrote", path)


if bpy is None:
    drive()
    sys.exit(0)

import math  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

import addon_utils  # noqa: E402

ZIP, OUT_DIR, ADDRESS = sys.argv[sys.argv.index("--") + 1:][:3]
state = {"step": 0, "waited": 0}


def areas(kind):
    window = bpy.context.window_manager.windows[0]
    return window, [a for a in window.screen.areas if a.type == kind]


def override(kind, region_type="WINDOW"):
    window, found = areas(kind)
    region = next(r for r in found[0].regions if r.type == region_type)
    return bpy.context.temp_override(window=window, screen=window.screen, area=found[0], region=region)


def click_sidebar_tab():
    """Blender 3.4 has no API to switch sidebar tabs: click the "DCC Bridge" tab (as screenshot.py does)."""
    window, found = areas("VIEW_3D")
    region = next(r for r in found[0].regions if r.type == "UI")
    x = region.x + region.width - 10
    y = window.height - (region.y + region.height - 175)
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=False, timeout=10)


def scroll_sidebar_to_live():
    """The Live panel sits below the others: scroll the sidebar down with the mouse wheel (xdotool)."""
    window, found = areas("VIEW_3D")
    region = next(r for r in found[0].regions if r.type == "UI")
    x = region.x + region.width // 2
    y = window.height - (region.y + region.height // 2)
    subprocess.run(["xdotool", "mousemove", str(x), str(y)] + ["click", "5"] * 25, check=False, timeout=20)


def fit_image_editor():
    with override("IMAGE_EDITOR"):
        bpy.ops.image.view_all(fit_view=True)


def setup():
    bpy.ops.preferences.addon_install(filepath=ZIP, overwrite=True)
    bpy.ops.preferences.addon_enable(module="dccbridge_blender")
    prefs = bpy.context.preferences.addons["dccbridge_blender"].preferences
    prefs.address, prefs.live_resolution, prefs.live_debounce_ms = ADDRESS, 256, 200
    addon_utils.enable("rigify", default_set=True)
    with override("VIEW_3D"):
        bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.object
    rig.location = (1.5, 0, -1)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 768, 512
    s = scene.dccbridge
    s.prompt = "a knight in a ruined temple, volumetric light"
    s.seed_mode, s.seed, s.model = "FIXED", 1234, "tiny"
    s.unit_depth.enabled = s.unit_pose.enabled = True
    s.capture_samples = 4
    s.live.steps = 4
    s.workspace = "LIVE"          # the sidebar shows the Live workspace (panels/workspaces.py)
    with override("VIEW_3D"):                          # the right third becomes an Image Editor
        bpy.ops.screen.area_split(direction="VERTICAL", factor=0.62)
    _, views = areas("VIEW_3D")
    views[-1].type = "IMAGE_EDITOR"
    _, views = areas("VIEW_3D")
    space = views[0].spaces.active
    space.show_region_ui = True
    space.shading.type = "SOLID"
    bpy.ops.object.select_all(action="DESELECT")
    rig.select_set(True)
    bpy.context.view_layer.objects.active = rig


def park_pointer():
    """The pointer over the Image Editor's lower edge: no tooltip in the next shot."""
    window, found = areas("IMAGE_EDITOR")
    area = found[0]
    subprocess.run(["xdotool", "mousemove", str(area.x + area.width // 2), str(window.height - (area.y + 40))],
                   check=False, timeout=10)


def shot(name):
    window = bpy.context.window_manager.windows[0]
    path = os.path.join(OUT_DIR, f"{name}.png")
    with bpy.context.temp_override(window=window, screen=window.screen):
        bpy.ops.screen.screenshot(filepath=path)
    print("shot", path)


def answered():
    return bpy.context.window_manager.dccbridge.live.answered


def tick():
    state["step"] += 1
    step = state["step"]
    if step == 1:
        setup()
        return 1.0
    if step == 2:
        click_sidebar_tab()
        with override("VIEW_3D"):
            bpy.ops.dccbridge.live(action="START")
        state["answers"] = 0
        return 1.0
    if step in (3, 5, 7):              # wait for an answer after each change (the timer pumps them in)
        if answered() <= state["answers"] and state["waited"] < 120:
            state["waited"] += 1
            state["step"] -= 1
            return 0.5
        state["answers"] = answered()
        if step == 3:
            fit_image_editor()
            scroll_sidebar_to_live()
        park_pointer()
        return 1.5                     # let the Image Editor and panel redraw
    if step == 4:
        shot("blender-live-on")
        rig = bpy.data.objects["metarig"]
        for bone, angle in (("upper_arm.L", -70), ("upper_arm.R", 60), ("forearm.L", -40)):
            pb = rig.pose.bones[bone]
            pb.rotation_mode = "XYZ"
            pb.rotation_euler = (0, 0, math.radians(angle))
        bpy.data.objects["Cube"].location.x -= 1.0
        return 0.5
    if step == 6:
        shot("blender-live-follows")
        scene = bpy.context.scene
        scene.dccbridge.live.camera_background = True
        for area in areas("VIEW_3D")[1]:
            area.spaces.active.region_3d.view_perspective = "CAMERA"
        scene.camera.location.x += 0.3          # a camera move: a new frame, shown on the camera too
        return 0.5
    shot("blender-live-camera")
    with override("VIEW_3D"):
        bpy.ops.dccbridge.live(action="STOP")
    bpy.ops.wm.quit_blender()
    return None


bpy.app.timers.register(tick, first_interval=1.0)
