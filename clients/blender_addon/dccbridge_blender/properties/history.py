"""History and workspaces: the scene keeps the artist's workspace and history filters (saved with the .blend);
the window manager holds the rows of the page on screen (fetched again from the server with ListJobs)."""

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

WORKSPACES = (("GENERATE", "Generate", "Prompt, sampling, adapters, control units, Depth2Img, animation", "RENDER_STILL", 0),
              ("LIVE", "Live", "Live mode: the camera view redrawn as you work", "PLAY", 1),
              ("UPSCALE", "Upscale", "Upscale and extend images", "FULLSCREEN_ENTER", 2),
              ("TEXTURE", "Texture", "Seamless PBR materials and projection from the camera", "MATERIAL", 3),
              ("HISTORY", "History", "Past jobs: re-apply a result, re-run with the same or a new seed", "TIME", 4))


def workspace_enum():
    return EnumProperty(name="Workspace", items=WORKSPACES, default="GENERATE",
                        description="Which part of DCC Bridge the sidebar shows (kept with the .blend)")


class DCCBRIDGE_PG_history_settings(bpy.types.PropertyGroup):
    all_clients: BoolProperty(name="All clients", default=False,
                              description="Every client's jobs (the server shows them to an admin token only)")
    text: StringProperty(name="Search", default="", description="Text in the prompt, negative prompt or label")
    page_size: IntProperty(name="Per page", default=8, min=1, max=100)
    thumbnail_size: IntProperty(name="Thumbnail", default=96, min=16, max=512, subtype="PIXEL")


class DCCBRIDGE_PG_history_item(bpy.types.PropertyGroup):
    """One past job as ListJobs returned it (row_json: the rest, task_hex: the stored Task for re-runs)."""
    job_id: StringProperty()
    state: StringProperty()
    kind: StringProperty()
    prompt: StringProperty()
    model: StringProperty()
    seed: IntProperty(default=-1)
    controls: StringProperty()
    client: StringProperty()
    created: StringProperty()
    thumbnail: PointerProperty(type=bpy.types.Image)
    row_json: StringProperty()
    task_hex: StringProperty()


class DCCBRIDGE_PG_history_runtime(bpy.types.PropertyGroup):
    items: CollectionProperty(type=DCCBRIDGE_PG_history_item)
    index: IntProperty(default=0)
    page: IntProperty(default=0)
    page_token: StringProperty()
    next_page_token: StringProperty()
    earlier_tokens: StringProperty(description="Page tokens of the pages before this one (a JSON list)")
    status: StringProperty()
    error: StringProperty()
    busy: BoolProperty(default=False)


CLASSES = (DCCBRIDGE_PG_history_settings, DCCBRIDGE_PG_history_item, DCCBRIDGE_PG_history_runtime)
