import bpy

from .. import live_host
from . import common


class DCCBRIDGE_OT_live(bpy.types.Operator):
    """Live: while on, moving objects, the camera or an armature's pose sends a small frame (after the changes
    settle) and the answer updates image "DCCBridge Live"; off closes the session"""
    bl_idname = "dccbridge.live"
    bl_label = "Live"

    action: bpy.props.EnumProperty(items=(("TOGGLE", "Toggle", ""), ("START", "Start", ""), ("STOP", "Stop", "")),
                                   default="TOGGLE")

    def execute(self, context):
        turn_on = not live_host.active() if self.action == "TOGGLE" else self.action == "START"
        if not turn_on:
            live_host.stop(reason="stopped")
            return {"FINISHED"}
        if not common.check_ready(self):
            return {"CANCELLED"}
        try:
            live_host.start(context)
        except Exception as error:  # noqa: BLE001 - a user's mistake is reported, not raised
            context.window_manager.dccbridge.live.error = str(error)
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}
