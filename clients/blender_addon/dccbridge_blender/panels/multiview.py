import bpy

from .main import _Sidebar, shown_in


class DCCBRIDGE_PT_multiview(_Sidebar, bpy.types.Panel):
    """Texture from views: cameras around the selection, generated view by view, baked into one UV texture."""
    bl_label = "Texture from views"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("TEXTURE")  # the Texture workspace (panels/workspaces.py)
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        mv = context.scene.dccbridge_multiview
        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(mv, "views")
        row.prop(mv, "elevation")
        col.prop(mv, "lens")
        col.operator("dccbridge.propose_views", icon="OUTLINER_OB_CAMERA")
        col = layout.column(align=True)
        col.prop(mv, "texture_size")
        row = col.row(align=True)
        row.prop(mv, "weight_power")
        row.prop(mv, "dilate")
        row = col.row(align=True)
        row.prop(mv, "grazing_angle")
        row.prop(mv, "strength")
        col.prop(mv, "pbr_set")
        layout.operator("dccbridge.texture_from_views", icon="TEXTURE")
        obj = context.active_object
        if obj is not None and "dccbridge_multiview" in obj:
            import json

            record = json.loads(obj["dccbridge_multiview"])
            box = layout.box()
            box.label(text=f"{len(record['views'])} views · {record['coverage'] * 100:.0f}% of texels covered")
            for view in record["views"]:
                box.label(text=f"{view['index'] + 1}: {view['label']} · seed {view['seed']}", icon="CAMERA_DATA")
