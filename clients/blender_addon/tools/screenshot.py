"""Screenshot of the add-on's sidebar panel for docs/img/blender-panel.png, made under Xvfb.

    python clients/blender_addon/tools/screenshot.py --out docs/img/blender-panel.png [--address 127.0.0.1:50051]

Run with plain Python it builds the legacy zip, prepares a throw-away Blender user config (no splash), and starts
`xvfb-run blender --python <this file>` (needs blender, xvfb, xauth, xdotool, and grpcio/protobuf/numpy for Blender's Python
in $DCCBRIDGE_BLENDER_DEPS or .blender-deps/). Inside Blender it installs the add-on from the zip, builds a small
scene (a posed metarig, the default cube and camera), fills the panel and, with a server address, connects and
generates one small image so the status and preview show; then saves the 3D View area as a PNG.
Blender 3.4 has no API to switch sidebar tabs, so the script clicks the "DCC Bridge" tab with xdotool.
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
    parser.add_argument("--out", default=str(repo / "docs" / "img" / "blender-panel.png"))
    parser.add_argument("--address", default="")
    parser.add_argument("--blender", default="blender")
    parser.add_argument("--workspace", default="GENERATE",
                        help="the workspace shown (HISTORY: after the generate, the History page with it)")
    args = parser.parse_args()
    sys.path.insert(0, str(addon_root))
    import package

    with tempfile.TemporaryDirectory() as tmp:
        legacy = package.build_legacy(pathlib.Path(tmp))
        env = dict(os.environ, BLENDER_USER_SCRIPTS=f"{tmp}/scripts", BLENDER_USER_CONFIG=f"{tmp}/config")
        env.setdefault("DCCBRIDGE_BLENDER_DEPS", str(repo / ".blender-deps"))
        env.pop("PYTHONPATH", None)
        env["DCCBRIDGE_SCREENSHOT_WORKSPACE"] = args.workspace
        # Saved preferences without the splash / quick setup (a fresh config would show them).
        subprocess.run([args.blender, "-b", "--factory-startup", "--python-expr",
                        "import bpy; bpy.context.preferences.view.show_splash = False; "
                        "bpy.context.preferences.use_preferences_save = False; bpy.ops.wm.save_userpref()"],
                       env=env, check=True, capture_output=True)
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", args.blender, "--python", str(here), "--",
               str(legacy), str(pathlib.Path(args.out).resolve())] + ([args.address] if args.address else [])
        subprocess.run(cmd, env=env, check=True, timeout=180)
    print("wrote", args.out)


if bpy is None:
    drive()
    sys.exit(0)

import math
import os
import sys

import addon_utils
import bpy

args = sys.argv[sys.argv.index("--") + 1:]
ZIP, OUT = args[0], args[1]
ADDRESS = args[2] if len(args) > 2 else ""
state = {"step": 0}
WORKSPACE = os.environ.get("DCCBRIDGE_SCREENSHOT_WORKSPACE", "GENERATE")


def click_our_sidebar_tab():
    """Blender 3.4 has no API to switch sidebar tabs: click the "DCC Bridge" tab with xdotool. Its place: the tab
    strip at the sidebar's right edge; tabs Item, Tool, View, then ours (about 175 px below the sidebar's top)."""
    import subprocess

    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "UI")
    x = region.x + region.width - 10
    y = window.height - (region.y + region.height - 175)       # X11 counts from the top
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=False, timeout=10)


def setup():
    bpy.ops.preferences.addon_install(filepath=ZIP, overwrite=True)
    bpy.ops.preferences.addon_enable(module="dccbridge_blender")
    prefs = bpy.context.preferences.addons["dccbridge_blender"].preferences
    if ADDRESS:
        prefs.address = ADDRESS
    addon_utils.enable("rigify", default_set=True)
    scene = bpy.context.scene
    with _override("VIEW_3D"):
        bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.object
    rig.location = (1.5, 0, -1)
    arm = rig.pose.bones["upper_arm.L"]
    arm.rotation_mode = "XYZ"
    arm.rotation_euler = (0, 0, math.radians(-45))
    scene.render.resolution_x, scene.render.resolution_y = 768, 512
    s = scene.dccbridge
    s.prompt = "a knight in a ruined temple, volumetric light"
    s.negative_prompt = "blurry, lowres"
    s.steps, s.guidance, s.seed_mode, s.seed = 20, 7.0, "FIXED", 1234
    s.model, s.scheduler = "tiny", "unipc"
    s.unit_depth.enabled = s.unit_pose.enabled = s.unit_canny.enabled = True
    s.unit_pose.weight, s.unit_pose.end = 0.8, 0.7
    s.unit_canny.weight = 0.5
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                space = area.spaces.active
                space.show_region_ui = True
                space.shading.type = "SOLID"
    if ADDRESS:
        bpy.ops.dccbridge.test_connection()


def choose_adapters(s, rt):
    """When the server offers LoRAs, embeddings or VAEs for the model: a LoRA row, an embedding token, a VAE."""
    if rt.loras:
        bpy.ops.dccbridge.lora_add(lora_id=rt.loras[0].name)
        s.loras[0].weight = 0.7
    if rt.embeddings:
        bpy.ops.dccbridge.insert_embedding(embedding=rt.embeddings[0].name)
    if rt.vaes:
        s.vae_id = rt.vaes[0].name


def _override(kind):
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == kind)
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=window, screen=window.screen, area=area, region=region)


def tick():
    state["step"] += 1
    step = state["step"]
    if step == 1:
        setup()
        return 2.0
    rt = bpy.context.window_manager.dccbridge
    if step == 2 and ADDRESS and not rt.server_version and not rt.error:
        state["step"] = 1
        return 0.5           # wait for Test connection's answer (the adapter lists)
    if step == 2:
        click_our_sidebar_tab()
        if ADDRESS:
            s = bpy.context.scene.dccbridge
            choose_adapters(s, rt)
            s.use_render_size = False
            s.width, s.height, s.steps = 192, 128, 4
            with _override("VIEW_3D"):
                bpy.ops.dccbridge.generate()
            s.use_render_size = True
        return 1.0
    if ADDRESS and bpy.context.window_manager.dccbridge.busy and step < 60:
        return 0.5           # wait for the result (at most ~30 s)
    if WORKSPACE != bpy.context.scene.dccbridge.workspace:
        bpy.context.scene.dccbridge.workspace = WORKSPACE
        if WORKSPACE == "HISTORY" and ADDRESS:
            bpy.ops.dccbridge.history_refresh()
        return 1.5           # the page and its thumbnails
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    with bpy.context.temp_override(window=window, screen=window.screen, area=area):
        bpy.ops.screen.screenshot_area(filepath=OUT)
    print("wrote", OUT)
    bpy.ops.wm.quit_blender()
    return None


bpy.app.timers.register(tick, first_interval=1.0)
