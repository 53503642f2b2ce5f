import json

import bpy

from .. import posemap


class DCCBRIDGE_OT_copy_pose_preset(bpy.types.Operator):
    """Copy the selected rig preset's bone → keypoint table into a text block to edit, and use it"""
    bl_idname = "dccbridge.copy_pose_preset"
    bl_label = "Copy preset to text"

    def execute(self, context):
        settings = context.scene.dccbridge
        key = settings.pose_preset if settings.pose_preset != "TEXT" else "METARIG"
        table = posemap.load_preset(key)
        text = bpy.data.texts.new(f"DCC pose mapping ({table['name']}).json")
        text.from_string(json.dumps(table, indent=2) + "\n")
        settings.pose_text = text
        settings.pose_preset = "TEXT"
        self.report({"INFO"}, f"Edit '{text.name}' in the Text Editor; the Pose unit now reads it")
        return {"FINISHED"}
