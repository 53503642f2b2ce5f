"""Writing results into the .blend: packed images named with the seed, provenance custom properties, materials
(seamless PBR and camera projection), projected UVs, the live preview. The only module that writes results."""

from __future__ import annotations

import json
import os
import tempfile

import bpy

from . import compat, posemap

PREVIEW_NAME = "DCC Bridge Preview"
PROJECTION_UV = "DCC Projection"
NON_COLOR_ROLES = ("normal", "roughness", "height", "ao", "control")


def _write_temp(data: bytes, suffix: str) -> str:
    fd, path = tempfile.mkstemp(prefix="dccbridge-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def image_from_bytes(data: bytes, name: str, non_color: bool = False):
    """A new image datablock from PNG/JPEG bytes, packed into the .blend."""
    suffix = ".jpg" if data[:2] == b"\xff\xd8" else ".png"
    path = _write_temp(data, suffix)
    try:
        image = bpy.data.images.load(path, check_existing=False)
        image.pack()
        image.name = name
        image.filepath_raw = "//" + bpy.path.clean_name(name) + suffix
        if non_color:
            image.colorspace_settings.name = "Non-Color"
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
    return image


def set_provenance(idblock, context: dict, seed=None, metadata_json: str = "", parameters: str = "", job_id: str = ""):
    idblock["dccbridge_prompt"] = context.get("prompt", "")
    idblock["dccbridge_negative_prompt"] = context.get("negative_prompt", "")
    idblock["dccbridge_model"] = context.get("model", "")
    idblock["dccbridge_seed"] = int(seed) if seed is not None else -1
    idblock["dccbridge_kind"] = context.get("kind", "")
    idblock["dccbridge_units"] = json.dumps(context.get("units", []))
    idblock["dccbridge_job_id"] = job_id
    if context.get("adapters"):
        idblock["dccbridge_adapters"] = json.dumps(context["adapters"])
    if parameters:
        idblock["dccbridge_parameters"] = parameters
    if metadata_json:
        idblock["dccbridge_metadata"] = metadata_json


def show_in_image_editor(image) -> bool:
    """Show the image in an Image Editor of the current screen (the first one; none in background mode)."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm else []:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
                return True
    return False


def update_preview(data: bytes):
    """The live preview: one image datablock whose pixels follow the progress events' JPEGs."""
    if not data:
        return None
    path = os.path.join(tempfile.gettempdir(), f"dccbridge-preview-{os.getpid()}.jpg")
    with open(path, "wb") as f:
        f.write(data)
    image = bpy.data.images.get(PREVIEW_NAME)
    if image is None or image.packed_file is not None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = PREVIEW_NAME
    else:
        image.filepath = path
        image.reload()
    image.preview_ensure()
    if image.preview:
        image.preview.reload()
    runtime = getattr(bpy.context.window_manager, "dccbridge", None)
    if runtime is not None:
        runtime.preview_image = image
    return image


def result_name(context: dict, seed, role: str = "image") -> str:
    kind = context.get("kind", "generate")
    name = f"DCC {kind} {seed}"
    if context.get("frame") is not None:
        name += f" f{int(context['frame']):04d}"
    if context.get("unit"):
        name = f"DCC control {context['unit']}"
    if role not in ("image", "control") and not (role == "albedo" and kind == "projection"):
        name += f" {role}"
    return name


# -- materials ------------------------------------------------------------------------------------------


def pbr_material(name: str, maps: dict, context: dict, uv_map: str = ""):
    """Principled BSDF fed by the albedo (Base Color), normal (Normal Map node), roughness and height
    (Displacement) images, whichever are there."""
    material = bpy.data.materials.new(name)
    tree = compat.shader_tree(material)
    nodes, links = tree.nodes, tree.links
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    output = next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    uv = None
    if uv_map:
        uv = nodes.new("ShaderNodeUVMap")
        uv.uv_map = uv_map
        uv.location = (-900, 0)

    def texture(role, y, non_color):
        node = nodes.new("ShaderNodeTexImage")
        node.image = maps[role]
        node.name = node.label = f"DCC {role}"
        node.location = (-600, y)
        if non_color:
            maps[role].colorspace_settings.name = "Non-Color"
        if uv is not None:
            links.new(uv.outputs["UV"], node.inputs["Vector"])
            node.extension = "CLIP"
        return node

    albedo = maps.get("albedo") or maps.get("image")
    if albedo is not None:
        maps.setdefault("albedo", albedo)
        links.new(texture("albedo", 300, False).outputs["Color"], bsdf.inputs["Base Color"])
    if "roughness" in maps:
        links.new(texture("roughness", 0, True).outputs["Color"], bsdf.inputs["Roughness"])
    if "normal" in maps:
        normal_map = nodes.new("ShaderNodeNormalMap")
        normal_map.location = (-250, -300)
        links.new(texture("normal", -300, True).outputs["Color"], normal_map.inputs["Color"])
        links.new(normal_map.outputs["Normal"], bsdf.inputs["Normal"])
    if "height" in maps:
        displacement = nodes.new("ShaderNodeDisplacement")
        displacement.location = (-250, -600)
        displacement.inputs["Scale"].default_value = 0.05
        links.new(texture("height", -600, True).outputs["Color"], displacement.inputs["Height"])
        links.new(displacement.outputs["Displacement"], output.inputs["Displacement"])
    return material


def assign_material(object_names, material) -> list:
    done = []
    for name in object_names:
        obj = bpy.data.objects.get(name)
        if obj is None or obj.type != "MESH":
            continue
        if obj.data.materials:
            obj.data.materials[0] = material
        else:
            obj.data.materials.append(material)
        done.append(name)
    return done


def project_uvs(obj, world_to_view, projection, width: int, height: int, name: str = PROJECTION_UV) -> str:
    """UVs from the camera, per loop: the image pixel each vertex lands on (0..1, v up). Computed on the mesh's
    own vertices (not the modifiers' result), affine across a face as a UV Project modifier's are."""
    mesh = obj.data
    layer = mesh.uv_layers.get(name) or mesh.uv_layers.new(name=name)
    world = obj.matrix_world
    uv_of_vertex = []
    for vertex in mesh.vertices:
        x, y, _depth = posemap.project(tuple(world @ vertex.co), world_to_view, projection, width, height)
        uv_of_vertex.append((x / width, 1.0 - y / height))
    for loop in mesh.loops:
        layer.data[loop.index].uv = uv_of_vertex[loop.vertex_index]
    mesh.uv_layers.active = layer
    return layer.name


# -- one entry point per job kind -------------------------------------------------------------------------


def apply_result(result: dict, context: dict, job_id: str = "") -> list:
    """Turn a job's result into datablocks. Returns the names created."""
    kind = context.get("kind", "generate")
    images = result.get("images", [])
    metadata = result.get("metadata_json", "")
    names = []
    if kind in ("texture", "projection"):
        by_seed = {}
        for item in images:
            by_seed.setdefault((item["index"], item["seed"]), {})[item["role"] or "albedo"] = item
        for (_index, seed), roles in sorted(by_seed.items()):
            maps = {}
            for role, item in roles.items():
                image = image_from_bytes(item["data"], result_name(context, seed, role), role in NON_COLOR_ROLES)
                set_provenance(image, context, seed, metadata, item["parameters"], job_id)
                image["dccbridge_role"] = role
                maps[role] = image
                names.append(image.name)
            uv_map = ""
            if kind == "projection":
                camera = context["camera"]
                for obj_name in context.get("objects", []):
                    obj = bpy.data.objects.get(obj_name)
                    if obj is not None and obj.type == "MESH":
                        uv_map = project_uvs(obj, camera["world_to_view"], camera["projection"], camera["width"],
                                             camera["height"])
            prefix = "DCC projection" if kind == "projection" else "DCC texture"
            material = pbr_material(f"{prefix} {seed}", maps, context, uv_map=uv_map)
            set_provenance(material, context, seed, metadata, "", job_id)
            if kind == "projection":
                material["dccbridge_camera"] = json.dumps({k: v for k, v in context["camera"].items()})
            assign_material(context.get("objects", []), material)
            names.append(material.name)
        return names
    for item in images:
        role = item["role"] or "image"
        name = result_name(context, item["seed"], role)
        if kind == "upscale":
            name = f"{context.get('source', 'image')} x{context.get('scale', 2):g}"
        elif kind == "outpaint":
            name = f"{context.get('source', 'image')} extended"
        image = image_from_bytes(item["data"], name, role in NON_COLOR_ROLES)
        set_provenance(image, context, item["seed"], metadata, item["parameters"], job_id)
        image["dccbridge_role"] = role
        if context.get("frame") is not None:
            image["dccbridge_frame"] = int(context["frame"])
        if kind == "outpaint" and result.get("extra_json"):
            image["dccbridge_placement"] = result["extra_json"]  # where the original sits: offset_x/y, size
        names.append(image.name)
        show_in_image_editor(image)
    return names


# -- live mode: one image datablock updated in place ------------------------------------------------------

LIVE_NAME = "DCCBridge Live"


def _decode(data: bytes):
    """(width, height, float RGBA pixels in Blender's order) of PNG/JPEG bytes, through Blender's own loader."""
    import numpy as np

    path = _write_temp(data, ".jpg" if data[:2] == b"\xff\xd8" else ".png")
    try:
        loaded = bpy.data.images.load(path, check_existing=False)
        try:
            width, height = loaded.size
            pixels = np.empty(width * height * 4, np.float32)
            loaded.pixels.foreach_get(pixels)
        finally:
            bpy.data.images.remove(loaded)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
    return width, height, pixels


def update_live_image(data: bytes):
    """The live result into image "DCCBridge Live" — the same datablock every frame (pixels.foreach_set), so an
    Image Editor or camera background showing it follows along. Returns the image."""
    width, height, pixels = _decode(data)
    image = bpy.data.images.get(LIVE_NAME)
    if image is None:
        image = bpy.data.images.new(LIVE_NAME, width, height, alpha=True)
    elif tuple(image.size) != (width, height):
        image.scale(width, height)
    image.pixels.foreach_set(pixels)
    image.update()
    if image.preview is not None:      # the panel's thumbnail follows the pixels
        image.preview.reload()
    _tag_redraw(("IMAGE_EDITOR", "VIEW_3D"))
    return image


def _tag_redraw(types) -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else []:
        for area in window.screen.areas:
            if area.type in types:
                area.tag_redraw()


def live_camera_background(camera, image, show: bool) -> None:
    """Show (or remove) the live image as a background image of the camera's data, in front of the scene."""
    if camera is None or camera.type != "CAMERA":
        return
    data = camera.data
    existing = [b for b in data.background_images if b.image == image]
    if not show:
        for background in existing:
            data.background_images.remove(background)
        return
    if not existing:
        background = data.background_images.new()
        background.image = image
        background.alpha = 1.0
        background.display_depth = "FRONT"
        data.show_background_images = True
