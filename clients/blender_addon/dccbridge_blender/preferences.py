"""Add-on preferences: where the server is and how to reach it."""

import bpy

from . import deps


def addon_key() -> str:
    """The add-on's module name: 'dccbridge_blender' from the legacy zip, 'bl_ext.<repo>.dccbridge_blender' as an
    extension."""
    return __package__


def get(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(addon_key())
    return addon.preferences if addon else None


def settings(context=None):
    """transport.Settings from the preferences."""
    from .transport import Settings

    prefs = get(context)
    return Settings(address=prefs.address.strip(), token=prefs.token.strip(), use_tls=prefs.use_tls,
                    ca_path=bpy.path.abspath(prefs.ca_path) if prefs.ca_path else "",
                    connect_timeout_s=prefs.timeout_s, retries=prefs.retries)


class DCCBRIDGE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    address: bpy.props.StringProperty(name="Server address", default="127.0.0.1:50051",
                                      description="host:port of the dccbridge gRPC server")
    token: bpy.props.StringProperty(name="Token", subtype="PASSWORD", default="",
                                    description="Sent as 'authorization: Bearer <token>' when the server has one")
    use_tls: bpy.props.BoolProperty(name="TLS", default=False, description="Connect with TLS")
    ca_path: bpy.props.StringProperty(name="CA certificate", subtype="FILE_PATH", default="",
                                      description="PEM file of the CA to trust (empty: the system's CAs)")
    timeout_s: bpy.props.FloatProperty(name="Timeout (s)", default=10.0, min=1.0, max=120.0,
                                       description="How long to wait for the server to answer a call")
    retries: bpy.props.IntProperty(name="Reconnect attempts", default=3, min=0, max=20,
                                   description="How often a broken event stream is resumed before giving up")
    preview_every: bpy.props.IntProperty(name="Preview every N steps", default=1, min=0, max=50,
                                         description="Live preview frequency (0 = no previews)")
    live_resolution: bpy.props.IntProperty(name="Live resolution", default=384, min=64, max=1024, step=8,
                                           subtype="PIXEL",
                                           description="Live mode: the longer side of the captured frame and "
                                                       "of the result (the render's aspect, multiples of 8)")
    live_debounce_ms: bpy.props.IntProperty(name="Live debounce (ms)", default=250, min=50, max=2000,
                                            description="Live mode: wait this long after the last scene change "
                                                        "before capturing a frame (while dragging: every 4x this)")
    deps_path: bpy.props.StringProperty(name="Python packages", subtype="DIR_PATH", default="",
                                        description="Folder with grpcio, protobuf and numpy for Blender's Python "
                                                    "(legacy install; the extension bundles them)")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "address")
        col.prop(self, "token")
        row = col.row()
        row.prop(self, "use_tls")
        sub = row.row()
        sub.enabled = self.use_tls
        sub.prop(self, "ca_path")
        col.prop(self, "timeout_s")
        col.prop(self, "retries")
        col.prop(self, "preview_every")
        row = col.row(align=True)
        row.prop(self, "live_resolution")
        row.prop(self, "live_debounce_ms")
        col.prop(self, "deps_path")
        missing = deps.missing()
        if missing:
            box = layout.box()
            box.alert = True
            box.label(text="Missing Python packages: " + ", ".join(missing), icon="ERROR")
            box.label(text="Install: <blender python> -m pip install --target DIR grpcio protobuf numpy,")
            box.label(text="then set 'Python packages' to DIR and restart Blender (see docs/blender.md).")
        row = layout.row()
        row.operator("dccbridge.test_connection", icon="LINKED")
        runtime = getattr(context.window_manager, "dccbridge", None)
        if runtime is not None:
            if runtime.server_version:
                box = layout.box()
                box.label(text=f"Server {runtime.server_version} · {runtime.device}", icon="CHECKMARK")
                box.label(text="Models: " + ", ".join(m.name for m in runtime.models))
            if runtime.error:
                box = layout.box()
                box.alert = True
                box.label(text=runtime.error, icon="ERROR")
