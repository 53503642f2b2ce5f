"""The Live sections: in the 3D View sidebar the toggle, what a session sends and what it is doing; in the Image
Editor (where the live image shows) the toggle and what it is doing."""

import bpy

from .. import preferences
from .main import _Sidebar, _wrap, shown_in


def _toggle(layout, rt):
    row = layout.row()
    row.scale_y = 1.4
    row.operator("dccbridge.live", text="Live: on" if rt.active else "Live: off",
                 icon="PAUSE" if rt.active else "PLAY", depress=rt.active).action = "TOGGLE"


def _state(layout, rt, thumbnail: bool):
    if rt.status or rt.sent:
        box = layout.box()
        box.label(text=rt.status or "live", icon="REC" if rt.active else "INFO")
        col = box.column(align=True)
        for label, value in (("Frames sent", rt.sent), ("Answered", rt.answered),
                             ("Superseded", rt.superseded), ("Reused", rt.reused),
                             ("Unchanged", rt.skipped), ("Latency", f"{rt.last_latency_ms:.0f} ms"),
                             ("Capture", f"{rt.capture_ms:.0f} ms"), ("Size", f"{rt.width}×{rt.height}")):
            split = col.split(factor=0.6)
            split.label(text=label)
            split.label(text=str(value))
        if thumbnail and rt.image is not None:
            box.template_icon(icon_value=box.icon(rt.image), scale=8.0)
    if rt.error:
        box = layout.box()
        box.alert = True
        for i, line in enumerate(_wrap(rt.error, 40)):
            box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


class DCCBRIDGE_PT_live(_Sidebar, bpy.types.Panel):
    bl_label = "Live"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("LIVE")

    def draw(self, context):
        layout = self.layout
        live = context.scene.dccbridge.live
        rt = context.window_manager.dccbridge.live
        _toggle(layout, rt)
        col = layout.column(align=True)
        col.enabled = not rt.active                     # fixed for a session: stop, change, start again
        col.prop(live, "use_render")
        sub = col.row(align=True)
        sub.active = live.use_render
        sub.prop(live, "strength")
        col.prop(live, "steps")
        col.prop(live, "samples")
        col.prop(live, "jpeg")
        layout.prop(live, "camera_background")
        prefs = preferences.get(context)
        if prefs is not None:
            col = layout.column(align=True)
            col.enabled = not rt.active
            col.prop(prefs, "live_resolution", text="Size (long side)")
            col.prop(prefs, "live_debounce_ms", text="Debounce (ms)")
        _state(layout, rt, thumbnail=True)


class DCCBRIDGE_PT_image_live(bpy.types.Panel):
    """Image Editor → Sidebar → DCC Bridge → Live: the toggle beside the image it updates."""
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "DCC Bridge"
    bl_label = "Live"
    bl_parent_id = "DCCBRIDGE_PT_image"

    def draw(self, context):
        rt = context.window_manager.dccbridge.live
        _toggle(self.layout, rt)
        _state(self.layout, rt, thumbnail=False)
