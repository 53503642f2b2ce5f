"""Live mode's properties: what a session sends (per scene, saved with the file) and what it is doing (on the
window manager). Debounce and resolution are preferences (preferences.py): they depend on the machine."""

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, PointerProperty, StringProperty


class DCCBRIDGE_PG_live(bpy.types.PropertyGroup):
    use_render: BoolProperty(name="Render as init image", default=False,
                             description="Send the camera's render too: img2img at the Strength below (off: the "
                                         "control units alone shape the image)")
    strength: FloatProperty(name="Strength", default=0.6, min=0.01, max=1.0, subtype="FACTOR",
                            description="With the render as init image: how far the result may move from it")
    camera_background: BoolProperty(name="Show on camera", default=False,
                                    description="Show the live image as the active camera's background image, "
                                                "in front of the scene")
    steps: IntProperty(name="Steps", default=0, min=0, max=50,
                       description="0: the server's fast default for live (the model's few-step sampler when it has "
                                   "one); otherwise these steps with the panel's guidance and scheduler")
    samples: IntProperty(name="Capture samples", default=1, min=1, max=64,
                         description="Render samples of a live capture (the engine is the panel's Capture engine). "
                                     "Depth needs no more than 1; more only smooth the colour the Canny unit "
                                     "and the init image use — and hold Blender's main thread longer")
    jpeg: BoolProperty(name="JPEG results", default=True, description="Smaller, faster answers than PNG")


class DCCBRIDGE_PG_live_runtime(bpy.types.PropertyGroup):
    active: BoolProperty(name="Live", default=False)
    status: StringProperty(name="Status", default="")
    error: StringProperty(name="Error", default="")
    session_id: StringProperty(name="Session", default="")
    width: IntProperty(default=0)
    height: IntProperty(default=0)
    sent: IntProperty(name="Sent", default=0, description="Frames sent")
    answered: IntProperty(name="Answered", default=0, description="Frames answered with an image")
    superseded: IntProperty(name="Superseded", default=0,
                            description="Frames a newer frame replaced before the server computed them")
    reused: IntProperty(name="Reused", default=0,
                        description="Frames so similar to the last one that its image was sent again")
    failed: IntProperty(name="Failed", default=0)
    skipped: IntProperty(name="Unchanged", default=0,
                         description="Captures that found nothing changed: no frame sent")
    last_latency_ms: FloatProperty(name="Latency (ms)", default=0.0,
                                   description="From handing the last answered frame to the network to its image")
    capture_ms: FloatProperty(name="Capture (ms)", default=0.0,
                              description="How long the last capture (render, depth, pose) held Blender's main thread")
    image: PointerProperty(type=bpy.types.Image)
