"""The version seam: the one module that knows how the Blenders we support differ (3.4 LTS, 4.2 LTS, 4.5 LTS, 5.0).

Everything else calls these functions instead of checking versions. Differences are found by asking the running
Blender's RNA (what a property or enum offers), not by comparing version numbers, so a later Blender that keeps
an API keeps working. What differs, measured in each version (docs/blender.md, "Supported Blender versions"):

- Eevee's engine id: BLENDER_EEVEE (3.4, 5.0+) vs BLENDER_EEVEE_NEXT (4.2-4.5).
- Multilayer EXR: 5.0 picks it by `media_type = "MULTI_LAYER_IMAGE"` and writes multi-part files unless
  `use_exr_interleave` is on; before 5.0 it is a `file_format` of its own, always single-part.
- The compositor: `scene.node_tree` + `scene.use_nodes` before 5.0, a node group (`scene.compositing_node_group`)
  in 5.0. Depth capture needs no compositor at all (capture.render_views saves the render result's passes), so
  nothing here builds compositor nodes.
- Materials: 5.0 creates them with a node tree and deprecates `Material.use_nodes` (removed in 6.0).
- `ID.id_type` (what a depsgraph update is about, for live mode): 4.2+ have it, 3.4 has not.
"""

from __future__ import annotations

EEVEE = "BLENDER_EEVEE"


def _enum_ids(struct, prop: str) -> set:
    return {item.identifier for item in struct.bl_rna.properties[prop].enum_items}


def _has(struct, prop: str) -> bool:
    return prop in struct.bl_rna.properties


def engine_id(render, engine: str) -> str:
    """The running Blender's id for the add-on's engine choice ("CYCLES" or "BLENDER_EEVEE")."""
    if engine == EEVEE and EEVEE not in _enum_ids(render, "engine") and EEVEE + "_NEXT" in _enum_ids(render, "engine"):
        return EEVEE + "_NEXT"
    return engine


# Image settings the two writers below change, in the order they are restored (a file format first: it decides
# which colour depths and modes are valid).
_IMAGE_SETTINGS = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "use_exr_interleave")


def save_image_settings(settings) -> dict:
    return {key: getattr(settings, key) for key in _IMAGE_SETTINGS if _has(settings, key)}


def restore_image_settings(settings, saved: dict) -> None:
    for key, value in saved.items():
        try:
            setattr(settings, key, value)
        except (TypeError, ValueError):      # a combination that is only valid once another key is back
            pass


def set_multilayer_exr(settings) -> None:
    """Every pass of the render result in one uncompressed, single-part, 32-bit float EXR (imagebuf reads it)."""
    if _has(settings, "media_type"):
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "NONE"
    if _has(settings, "use_exr_interleave"):
        settings.use_exr_interleave = True


def set_png8(settings) -> None:
    """An 8-bit RGB PNG of the (composited, colour-managed) render."""
    if _has(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_mode = "RGB"
    settings.color_depth = "8"


def shader_tree(material):
    """The material's shader node tree, turning nodes on where a new material starts without them (< 5.0)."""
    if material.node_tree is None:
        material.use_nodes = True
    return material.node_tree


def id_kind(ident) -> str:
    """An ID's type as `ID.id_type` names it ("OBJECT", "MESH", "CAMERA", ...): 4.2+ have the property, 3.4 has
    not (there the RNA base class below ID names it)."""
    kind = getattr(ident, "id_type", None)
    if kind:
        return kind
    rna = ident.bl_rna
    while rna.base is not None and rna.base.identifier != "ID":
        rna = rna.base
    return {"NodeTree": "NODETREE", "GreasePencil": "GREASEPENCIL", "MetaBall": "METABALL",
            "PointCloud": "POINTCLOUD"}.get(rna.identifier, rna.identifier.upper())
