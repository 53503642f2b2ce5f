import bpy

from .. import capture
from . import common


def _selected_meshes(context) -> list:
    meshes = [o.name for o in context.selected_objects if o.type == "MESH"]
    if not meshes:
        raise ValueError("Select the mesh objects the material is for")
    return meshes


class DCCBRIDGE_OT_texture_material(common.JobOperatorMixin, bpy.types.Operator):
    """Generate a seamless texture (with normal, roughness and height maps) and assign it as a material to the
    selected objects"""
    bl_idname = "dccbridge.texture_material"
    bl_label = "Seamless texture → material"

    def start(self, context):
        from .. import requests

        settings = context.scene.dccbridge
        objects = _selected_meshes(context)
        p = common.params(context.scene, settings, "texture")
        ctx = common.context_of(p)
        ctx.update(objects=objects, tiling=settings.texture_tiling, pbr=settings.texture_pbr)
        return common.submit(context, requests.texture_task(p, settings.texture_tiling, settings.texture_pbr), ctx)


class DCCBRIDGE_OT_project_material(common.JobOperatorMixin, bpy.types.Operator):
    """Generate a texture for the active camera's view (from its depth and render) and project it onto the selected
    objects: UVs from the camera, material assigned"""
    bl_idname = "dccbridge.project_material"
    bl_label = "Project from camera → material"

    def start(self, context):
        from .. import requests

        scene = context.scene
        settings = scene.dccbridge
        objects = _selected_meshes(context)
        camera = capture.active_camera(scene)
        p = common.params(scene, settings, "projection")
        views = capture.render_views(scene, camera, p["width"], p["height"], color=settings.unit_canny.enabled,
                                     engine=settings.capture_engine, samples=settings.capture_samples)
        depth = common.depth_of(views, settings)
        cam = capture.camera_dict(scene, camera, p["width"], p["height"])
        ctx = common.context_of(p)
        ctx.update(objects=objects, camera=cam, camera_name=camera.name)
        return common.submit(context, requests.projection_task(p, depth, views.get("color_png"), cam), ctx)
