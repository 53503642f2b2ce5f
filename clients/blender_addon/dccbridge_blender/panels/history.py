"""The History workspace: past jobs from the server (ListJobs) with thumbnails, paged; the selected one's prompt,
seed, model and controls, and Re-apply / Re-run / Re-run with a new seed / Use settings."""

import bpy

from .main import _Sidebar, _wrap, shown_in

STATE_ICONS = {"done": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL", "running": "TIME", "queued": "TIME"}


class DCCBRIDGE_UL_history(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0, flt_flag=0):
        text = f"{item.seed if item.seed >= 0 else '—'} · {item.prompt or item.kind}"
        if item.thumbnail is not None:
            layout.label(text=text, icon_value=layout.icon(item.thumbnail))
        else:
            layout.label(text=text, icon=STATE_ICONS.get(item.state, "QUESTION"))


class DCCBRIDGE_PT_history(_Sidebar, bpy.types.Panel):
    bl_label = "History"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("HISTORY")

    def draw(self, context):
        layout = self.layout
        filters = context.scene.dccbridge.history
        rt = context.window_manager.dccbridge.history
        row = layout.row(align=True)
        row.prop(filters, "text", text="", icon="VIEWZOOM")
        row.prop(filters, "all_clients", text="", icon="COMMUNITY")
        row.operator("dccbridge.history_refresh", text="", icon="FILE_REFRESH").page = "FIRST"
        layout.template_list("DCCBRIDGE_UL_history", "", rt, "items", rt, "index", rows=5)
        row = layout.row(align=True)
        sub = row.row(align=True)
        sub.enabled = rt.page > 0
        sub.operator("dccbridge.history_refresh", text="", icon="TRIA_LEFT").page = "PREVIOUS"
        row.label(text=rt.status or "Refresh to load past jobs")
        sub = row.row(align=True)
        sub.enabled = bool(rt.next_page_token)
        sub.operator("dccbridge.history_refresh", text="", icon="TRIA_RIGHT").page = "NEXT"
        if rt.error:
            box = layout.box()
            box.alert = True
            for i, line in enumerate(_wrap(rt.error, 40)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
        if 0 <= rt.index < len(rt.items):
            _selected(layout, rt.items[rt.index])


def _selected(layout, item):
    box = layout.box()
    if item.thumbnail is not None:
        box.template_icon(icon_value=box.icon(item.thumbnail), scale=6.0)
    for i, line in enumerate(_wrap(item.prompt or "(no prompt)", 40)[:3]):
        box.label(text=line, icon="SORTALPHA" if i == 0 else "BLANK1")
    col = box.column(align=True)
    for label, value in (("Seed", item.seed if item.seed >= 0 else "—"), ("Model", item.model or "default"),
                         ("Kind", f"{item.kind} · {item.state}"), ("Controls", item.controls or "none"),
                         ("When", item.created), ("Client", item.client or "—")):
        split = col.split(factor=0.3)
        split.label(text=label)
        split.label(text=str(value))
    col = box.column(align=True)
    row = col.row(align=True)
    row.enabled = item.state == "done"
    row.operator("dccbridge.history_reapply", icon="IMPORT").job_id = item.job_id
    row = col.row(align=True)
    op = row.operator("dccbridge.history_rerun", text="Re-run", icon="FILE_REFRESH")
    op.job_id, op.new_seed = item.job_id, False
    op = row.operator("dccbridge.history_rerun", text="New seed", icon="MOD_NOISE")
    op.job_id, op.new_seed = item.job_id, True
    col.operator("dccbridge.history_use_settings", icon="PASTEDOWN").job_id = item.job_id


CLASSES = (DCCBRIDGE_UL_history, DCCBRIDGE_PT_history)
