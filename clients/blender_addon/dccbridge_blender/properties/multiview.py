"""Settings of "Texture from views" (multiview.py), per scene: Scene.dccbridge_multiview."""

import bpy
from bpy.props import FloatProperty, IntProperty, PointerProperty


class DCCBRIDGE_PG_multiview(bpy.types.PropertyGroup):
    views: IntProperty(name="Views", default=4, min=1, max=16,
                       description="How many cameras Propose cameras places on a ring around the selection")
    elevation: FloatProperty(name="Elevation", default=20.0, min=-89.0, max=89.0,
                             description="Degrees above the horizon of the proposed cameras")
    lens: FloatProperty(name="Lens", default=50.0, min=1.0, max=500.0, description="Focal length (mm) of the "
                        "proposed cameras; they stand far enough to frame the selection")
    texture_size: IntProperty(name="Texture", default=1024, min=16, max=8192,
                              description="Size of the baked UV texture (pixels, square)")
    weight_power: FloatProperty(name="Weight power", default=2.0, min=0.0, max=16.0,
                                description="A view counts max(0, n·v)^power for a texel: higher = squarer views win")
    grazing_angle: FloatProperty(name="Grazing angle", default=70.0, min=0.0, max=90.0,
                                 description="Later views repaint what earlier views saw only beyond this angle "
                                             "from straight on (and what they did not see at all)")
    strength: FloatProperty(name="Strength", default=1.0, min=0.01, max=1.0,
                            description="Denoising strength of the later views' inpaint jobs")
    dilate: IntProperty(name="Dilate", default=2, min=0, max=64,
                        description="Texels the baked colours grow over UV island edges")


def attach():
    bpy.types.Scene.dccbridge_multiview = PointerProperty(type=DCCBRIDGE_PG_multiview)


def detach():
    del bpy.types.Scene.dccbridge_multiview
