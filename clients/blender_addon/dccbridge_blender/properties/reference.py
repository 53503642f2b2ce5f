"""The Reference unit (an IP-Adapter image prompt): an image datablock, or the active camera's render made when the
job starts, guides the style or content of the result. The IP-Adapter is the server's (per model); empty id = the
model's first."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, PointerProperty, StringProperty


class DCCBRIDGE_PG_reference(bpy.types.PropertyGroup):
    enabled: BoolProperty(name="Enabled", default=False)
    source: EnumProperty(name="Source", default="IMAGE", items=(
        ("IMAGE", "Image", "An image datablock (loaded, painted or generated)"),
        ("RENDER", "Current render", "The active camera's view, rendered when the job starts")))
    image: PointerProperty(name="Image", type=bpy.types.Image, description="The reference image")
    adapter_id: StringProperty(name="IP-Adapter", default="",
                               description="The server's IP-Adapter for the model (empty: the model's first); "
                                           "Plus follows content closely, the plain one the overall style")
    weight: FloatProperty(name="Weight", default=0.8, min=0.0, max=2.0,
                          description="IP-Adapter scale: how strongly the reference pulls")
    start: FloatProperty(name="Start", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                         description="Fraction of the steps where the reference starts acting")
    end: FloatProperty(name="End", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
                       description="Fraction of the steps where the reference stops acting")
