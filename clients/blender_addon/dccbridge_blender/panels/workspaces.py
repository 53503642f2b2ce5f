"""Workspaces: the sidebar shows one of Generate, Live, Upscale, Texture, History under the shared settings
(server, model, prompt), as Krita AI Diffusion does. The choice is a scene property: it is saved with the .blend.
Each sub-panel says which workspaces show it (`poll = shown_in(...)`); every section is a function, so a new
one (Texture from views, reference images) is placed by adding it to a workspace's panel."""

import bpy

from ..properties.history import WORKSPACES
from .faces import draw_restore_faces
from .main import _Sidebar, draw_texture, draw_upscale, shown_in


def draw_tabs(layout, settings):
    row = layout.row(align=True)
    row.scale_y = 1.2
    row.prop(settings, "workspace", expand=True, icon_only=True)
    _id, name, _description, icon, _number = next(w for w in WORKSPACES if w[0] == settings.workspace)
    layout.label(text=name, icon=icon)


class DCCBRIDGE_PT_upscale(_Sidebar, bpy.types.Panel):
    bl_label = "Upscale & extend"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("UPSCALE")

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        layout.prop(settings, "source_image")
        if settings.source_image is None:
            layout.label(text="Pick an image (or use the Image Editor's DCC Bridge tab)", icon="INFO")
            return
        draw_upscale(layout, settings, settings.source_image.name)
        draw_restore_faces(layout, settings, context.window_manager.dccbridge)


class DCCBRIDGE_PT_texture(_Sidebar, bpy.types.Panel):
    bl_label = "Materials"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("TEXTURE")

    def draw(self, context):
        draw_texture(self.layout, context.scene.dccbridge)


CLASSES = (DCCBRIDGE_PT_upscale, DCCBRIDGE_PT_texture)
