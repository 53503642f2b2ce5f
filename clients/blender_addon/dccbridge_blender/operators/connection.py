import bpy

from .. import jobs, preferences
from . import common


class DCCBRIDGE_OT_test_connection(bpy.types.Operator):
    """Ask the server for its capabilities: version, device and models"""
    bl_idname = "dccbridge.test_connection"
    bl_label = "Test connection"

    def execute(self, context):
        if not common.check_ready(self):
            return {"CANCELLED"}
        jobs.test_connection(preferences.settings(context))
        return {"FINISHED"}
