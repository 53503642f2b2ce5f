import bpy

from .. import capture, multiview
from . import common


class DCCBRIDGE_OT_propose_views(bpy.types.Operator):
    """Place cameras on a ring around the selected meshes, aimed at them and framing them (collection "DCC Views")"""
    bl_idname = "dccbridge.propose_views"
    bl_label = "Propose cameras"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = context.scene
        mv = scene.dccbridge_multiview
        objects = [o for o in context.selected_objects if o.type == "MESH"]
        try:
            width, height = capture.request_size(scene, scene.dccbridge)
            cameras = multiview.propose_cameras(scene, objects, mv.views, mv.elevation, mv.lens, width / height)
        except Exception as error:  # noqa: BLE001 - a user's mistake is reported, not raised
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{len(cameras)} cameras in '{multiview.COLLECTION}'")
        return {"FINISHED"}


class DCCBRIDGE_OT_texture_from_views(common.JobOperatorMixin, bpy.types.Operator):
    """Generate the selected meshes' texture view by view from the chosen cameras (each later view inpaints what the
    earlier ones left) and bake the views into one UV texture per object, assigned as its material (Esc cancels)"""
    bl_idname = "dccbridge.texture_from_views"
    bl_label = "Texture from views"

    def start(self, context):
        scene = context.scene
        settings = scene.dccbridge
        p = common.params(scene, settings, "multiview")
        snapshot = _snapshot(context)
        return multiview.start(context, settings, scene.dccbridge_multiview, p,
                               lambda task, ctx: common.submit(snapshot, task, ctx))


def _snapshot(context):
    """What later views need after this operator's context is gone (they start from the timer pump)."""
    from types import SimpleNamespace

    return SimpleNamespace(scene=context.scene, view_layer=context.view_layer, preferences=context.preferences,
                           selected_objects=list(context.selected_objects))
