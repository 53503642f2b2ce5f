"""DCC Bridge for Blender: generate from the active camera's depth, armature pose and render with a dccbridge server.

Folders follow Blender's concepts (operators/, panels/, properties/, preferences.py). capture.py reads the scene,
apply.py writes results, transport.py talks gRPC in threads, jobs.py pumps events onto the main thread.
"""

# Tested headless in Blender 3.4 (Debian), 4.2 LTS, 4.5 LTS and 5.0 (docs/blender.md, "Supported Blender versions");
# compat.py holds what differs between them. "blender" is the oldest; 4.2+ read blender_manifest.toml instead.
bl_info = {
    "name": "DCC Bridge",
    "author": "dccbridge",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D View > Sidebar > DCC Bridge; Image Editor > Sidebar > DCC Bridge",
    "description": "Stable Diffusion from the scene: depth pass, armature pose and render as ControlNet units; "
                   "textures, projection, upscaling (needs a dccbridge server). Tested: Blender 3.4, 4.2, 4.5, 5.0",
    "doc_url": "https://github.com/dccbridge/dccbridge/blob/main/docs/blender.md",
    "category": "Render",
}

import bpy  # noqa: E402

from . import deps  # noqa: E402

deps.add_paths()

from . import jobs, live_host, operators, panels, preferences, properties  # noqa: E402

CLASSES = (preferences.DCCBRIDGE_AP_preferences, *properties.CLASSES, *operators.CLASSES, *panels.CLASSES)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()
    prefs = preferences.get()
    if prefs is not None and prefs.deps_path:
        deps.add_paths(bpy.path.abspath(prefs.deps_path))
    bpy.types.STATUSBAR_HT_header.append(panels.draw_status_bar)
    jobs.ensure_pump()


def unregister():
    live_host.stop(final=True, reason="add-on disabled")
    jobs.cancel_all()
    jobs.stop_pump()
    bpy.types.STATUSBAR_HT_header.remove(panels.draw_status_bar)
    properties.detach()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
