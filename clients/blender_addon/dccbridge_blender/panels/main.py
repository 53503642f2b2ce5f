"""The 3D View sidebar ("DCC Bridge" tab) and the Image Editor panel. They only draw state and call operators."""

import bpy

from .. import capture
from ..properties.adapters import catalog, chosen, model_family, stale_reason
from .faces import draw_restore_faces


def shown_in(*workspaces):
    """A Panel.poll that shows the panel in these workspaces only (settings.workspace, panels/workspaces.py)."""
    def poll(cls, context):
        settings = getattr(context.scene, "dccbridge", None)
        return settings is not None and settings.workspace in workspaces
    return classmethod(poll)


class _Sidebar:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DCC Bridge"


class DCCBRIDGE_PT_main(_Sidebar, bpy.types.Panel):
    bl_label = "DCC Bridge"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        rt = context.window_manager.dccbridge
        row = layout.row(align=True)
        row.label(text=(f"{rt.server_version} · {rt.device}" if rt.server_version else "Not connected"),
                  icon="LINKED" if rt.server_version else "UNLINKED")
        row.operator("dccbridge.test_connection", text="", icon="FILE_REFRESH")
        from .workspaces import draw_tabs
        draw_tabs(layout, settings)
        layout.prop_search(settings, "model", rt, "models", icon="NODE_MATERIAL")
        layout.prop(settings, "prompt", text="", icon="SORTALPHA")
        layout.prop(settings, "negative_prompt", text="", icon="REMOVE")
        if settings.workspace == "GENERATE":
            layout.operator("dccbridge.generate", icon="RENDER_STILL")
        _status(layout, rt)


def _status(layout, rt):
    if rt.busy or rt.status:
        box = layout.box()
        row = box.row()
        row.label(text=rt.status or "working…", icon="TIME" if rt.busy else "INFO")
        if rt.busy:
            row.operator("dccbridge.cancel", text="", icon="CANCEL")
            box.prop(rt, "progress", text="Progress", slider=True)
        if rt.preview_image is not None and rt.busy:
            box.template_icon(icon_value=box.icon(rt.preview_image), scale=8.0)
    if rt.error:
        box = layout.box()
        box.alert = True
        for line in _wrap(rt.error, 48):
            box.label(text=line, icon="ERROR" if line is _wrap(rt.error, 48)[0] else "BLANK1")
        row = box.row(align=True)
        if rt.retry_job_id:
            row.operator("dccbridge.fetch_job", text="Retry (fetch result)", icon="FILE_REFRESH").job_id = rt.retry_job_id
        else:
            row.operator("dccbridge.test_connection", text="Retry connection", icon="FILE_REFRESH")


def _wrap(text, width):
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


class DCCBRIDGE_PT_sampling(_Sidebar, bpy.types.Panel):
    bl_label = "Size & sampling"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("GENERATE", "TEXTURE")

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        rt = context.window_manager.dccbridge
        layout.prop(settings, "use_render_size")
        row = layout.row(align=True)
        if settings.use_render_size:
            w, h = capture.request_size(context.scene, settings)
            row.label(text=f"{w} × {h} px (render resolution)")
        else:
            row.prop(settings, "width")
            row.prop(settings, "height")
        col = layout.column(align=True)
        col.prop(settings, "steps")
        col.prop(settings, "guidance")
        layout.prop_search(settings, "scheduler", rt, "schedulers")
        row = layout.row(align=True)
        row.prop(settings, "seed_mode", expand=True)
        row = layout.row(align=True)
        row.active = settings.seed_mode == "FIXED"
        row.prop(settings, "seed")
        layout.label(text=f"Last seed: {settings.last_seed}" if settings.last_seed >= 0 else "Last seed: —")
        col = layout.column(align=True)
        col.prop(settings, "capture_engine")
        col.prop(settings, "capture_samples")
        draw_restore_faces(layout, settings, rt)


class DCCBRIDGE_PT_adapters(_Sidebar, bpy.types.Panel):
    bl_label = "LoRAs, embeddings, VAE"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("GENERATE", "LIVE", "TEXTURE")

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        family = model_family(context)
        if catalog(context) is None:
            layout.label(text="Test connection to list the server's choices", icon="INFO")
        elif family:
            layout.label(text=f"For {family} models ({settings.model.strip() or 'the server default'})")
        for index, row in enumerate(settings.loras):
            line = layout.row(align=True)
            line.prop(row, "enabled", text="")
            sub = line.row(align=True)
            sub.alert = bool(stale_reason(context, "loras", row.lora_id.strip()))  # red: not offered any more
            sub.active = row.enabled                                                # grey: switched off
            sub.prop(row, "lora", text="")
            sub.prop(row, "weight", text="", slider=True)
            line.operator("dccbridge.lora_remove", text="", icon="X").index = index
        layout.operator("dccbridge.lora_add", icon="ADD")
        col = layout.column(align=True)
        col.label(text="Embedding token into:")
        row = col.row(align=True)
        row.operator("dccbridge.insert_embedding", text="Prompt", icon="ADD").target = "PROMPT"
        row.operator("dccbridge.insert_embedding", text="Negative", icon="ADD").target = "NEGATIVE"
        picked, problems = chosen(context.window_manager.dccbridge, settings)
        if picked["embeddings"]:
            layout.label(text="In the prompt: " + ", ".join(picked["embeddings"]), icon="CHECKMARK")
        row = layout.row()
        row.alert = bool(stale_reason(context, "vaes", settings.vae_id.strip()))
        row.prop(settings, "vae")
        if problems:
            box = layout.box()
            box.alert = True
            for problem in problems:
                for i, text in enumerate(_wrap(problem, 30)):  # the sidebar is narrow
                    box.label(text=text, icon="ERROR" if i == 0 else "BLANK1")
            box.label(text="Jobs are refused until fixed")


def _unit(layout, settings, unit, title, key, icon):
    box = layout.box()
    row = box.row()
    row.prop(unit, "enabled", text=title, icon=icon)
    row.operator("dccbridge.show_control_map", text="", icon="IMAGE_DATA").unit = key
    if not unit.enabled:
        return box
    col = box.column(align=True)
    col.prop(unit, "weight")
    row = col.row(align=True)
    row.prop(unit, "start")
    row.prop(unit, "end")
    return box


class DCCBRIDGE_PT_control(_Sidebar, bpy.types.Panel):
    bl_label = "Control units"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("GENERATE")

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        box = _unit(layout, settings, settings.unit_depth, "Depth (camera depth pass)", "depth", "MOD_DISPLACE")
        if settings.unit_depth.enabled:
            box.prop(settings, "depth_normalization")
        box = _unit(layout, settings, settings.unit_pose, "Pose (selected armatures)", "openpose", "ARMATURE_DATA")
        if settings.unit_pose.enabled:
            box.prop(settings, "pose_preset")
            if settings.pose_preset == "TEXT":
                box.prop(settings, "pose_text")
            box.operator("dccbridge.copy_pose_preset", icon="TEXT")
        box = _unit(layout, settings, settings.unit_canny, "Canny (camera render)", "canny", "MOD_EDGESPLIT")
        if settings.unit_canny.enabled:
            row = box.row(align=True)
            row.prop(settings, "canny_low")
            row.prop(settings, "canny_high")
        _reference_unit(layout, context, settings.unit_reference)


def _reference_unit(layout, context, unit):
    """The Reference (IP-Adapter) unit: an image datablock or the current render as an image prompt."""
    box = layout.box()
    box.prop(unit, "enabled", text="Reference (IP-Adapter image)", icon="IMAGE_REFERENCE")
    if not unit.enabled:
        return
    box.prop(unit, "source", expand=True)
    if unit.source == "IMAGE":
        box.template_ID(unit, "image", open="image.open")
    box.prop_search(unit, "adapter_id", context.window_manager.dccbridge, "reference_adapters", icon="NODE_MATERIAL")
    col = box.column(align=True)
    col.prop(unit, "weight")
    row = col.row(align=True)
    row.prop(unit, "start")
    row.prop(unit, "end")


class DCCBRIDGE_PT_tools(_Sidebar, bpy.types.Panel):
    bl_label = "Depth2Img, Animation"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("GENERATE")
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        col = layout.column(align=True)
        col.prop(settings, "strength")
        col.operator("dccbridge.depth2img", icon="MOD_DISPLACE")
        layout.separator()
        layout.prop(settings, "anim_use_scene_range")
        if not settings.anim_use_scene_range:
            row = layout.row(align=True)
            row.prop(settings, "anim_start")
            row.prop(settings, "anim_end")
        layout.operator("dccbridge.animation", icon="RENDER_ANIMATION")


def draw_texture(layout, settings):
    """Seamless PBR material and projection from the camera (the Texture workspace)."""
    row = layout.row(align=True)
    row.prop(settings, "texture_tiling", expand=True)
    layout.prop(settings, "texture_pbr")
    col = layout.column(align=True)
    col.operator("dccbridge.texture_material", icon="MATERIAL")
    col.operator("dccbridge.project_material", icon="OUTLINER_OB_CAMERA")


class DCCBRIDGE_PT_jobs(_Sidebar, bpy.types.Panel):
    bl_label = "Jobs"
    bl_parent_id = "DCCBRIDGE_PT_main"
    poll = shown_in("GENERATE", "HISTORY")
    bl_options = {"DEFAULT_CLOSED"}
    bl_order = 1  # under the workspace's own panels (History, Live) registered after it

    def draw(self, context):
        layout = self.layout
        items = list(context.scene.dccbridge.jobs)[-8:]
        if not items:
            layout.label(text="No jobs yet")
        for item in reversed(items):
            row = layout.row(align=True)
            row.label(text=f"{item.kind} {item.job_id[:8]} {item.state}",
                      icon="CHECKMARK" if item.applied else "QUESTION")
            op = row.operator("dccbridge.fetch_job", text="", icon="IMPORT")
            op.job_id = item.job_id


class DCCBRIDGE_PT_image(bpy.types.Panel):
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "DCC Bridge"
    bl_label = "DCC Bridge"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dccbridge
        rt = context.window_manager.dccbridge
        image = getattr(context.space_data, "image", None)
        if image is not None and "dccbridge_seed" in image:
            box = layout.box()
            box.label(text=f"Seed {image['dccbridge_seed']} · {image.get('dccbridge_model', '')}")
            box.label(text=str(image.get("dccbridge_prompt", ""))[:60])
        draw_upscale(layout, settings)
        draw_restore_faces(layout, settings, rt)
        _status(layout, rt)


def draw_upscale(layout, settings, image_name=""):
    """Upscale and extend (the Upscale workspace, and the Image Editor's tab: image_name "" = the editor's image)."""
    col = layout.column(align=True)
    col.prop(settings, "upscale_method")
    col.prop(settings, "upscale_scale")
    col.operator("dccbridge.upscale", icon="FULLSCREEN_ENTER").image_name = image_name
    col = layout.column(align=True)
    row = col.row(align=True)
    for side in ("left", "top", "right", "bottom"):
        row.prop(settings, f"extend_{side}", text=side[0].upper())
    col.prop(settings, "extend_fill")
    col.prop(settings, "extend_feather")
    col.operator("dccbridge.extend_image", icon="FULLSCREEN_EXIT").image_name = image_name


def draw_status_bar(self, context):
    """Progress in the status bar while a job runs."""
    rt = getattr(context.window_manager, "dccbridge", None)
    if rt is not None and rt.busy:
        self.layout.label(text=f"DCC Bridge: {rt.status}  {int(rt.progress * 100)}%  (Esc cancels)", icon="TIME")


CLASSES = (DCCBRIDGE_PT_main, DCCBRIDGE_PT_adapters, DCCBRIDGE_PT_sampling, DCCBRIDGE_PT_control, DCCBRIDGE_PT_tools, DCCBRIDGE_PT_jobs,
           DCCBRIDGE_PT_image)
