import bpy

from .. import capture
from . import common


class DCCBRIDGE_OT_upscale(common.JobOperatorMixin, bpy.types.Operator):
    """Upscale the Image Editor's image on the server; the result is a new packed image"""
    bl_idname = "dccbridge.upscale"
    bl_label = "Upscale"

    image_name: bpy.props.StringProperty(name="Image", description="Image to upscale (empty: the editor's image)")

    @classmethod
    def poll(cls, context):
        space = context.space_data
        return bool(getattr(space, "image", None)) or context.area is None or context.area.type != "IMAGE_EDITOR"

    def start(self, context):
        from .. import requests

        image = bpy.data.images.get(self.image_name) if self.image_name else getattr(context.space_data, "image", None)
        if image is None:
            raise ValueError("Upscale: open an image in the Image Editor")
        settings = context.scene.dccbridge
        p = common.params(context.scene, settings, "upscale")
        ctx = common.context_of(p)
        ctx.update(source=image.name, scale=settings.upscale_scale, method=settings.upscale_method)
        task = requests.upscale_task(capture.image_png(image), settings.upscale_scale, settings.upscale_method, p)
        return common.submit(context, task, ctx)


class DCCBRIDGE_OT_extend_image(common.JobOperatorMixin, bpy.types.Operator):
    """Extend the Image Editor's image (a texture or a render) by margins on the server (outpainting); the result is
    a new packed image whose original pixels sit at the offset the server reports"""
    bl_idname = "dccbridge.extend_image"
    bl_label = "Extend Image"

    image_name: bpy.props.StringProperty(name="Image", description="Image to extend (empty: the editor's image)")

    @classmethod
    def poll(cls, context):
        return DCCBRIDGE_OT_upscale.poll(context)

    def start(self, context):
        from .. import requests

        image = bpy.data.images.get(self.image_name) if self.image_name else getattr(context.space_data, "image", None)
        if image is None:
            raise ValueError("Extend: open an image in the Image Editor")
        settings = context.scene.dccbridge
        p = common.params(context.scene, settings, "outpaint")
        margins = (settings.extend_left, settings.extend_top, settings.extend_right, settings.extend_bottom)
        ctx = common.context_of(p)
        ctx.update(source=image.name, margins=list(margins))
        feather = settings.extend_feather if settings.extend_feather >= 0 else None
        task = requests.outpaint_task(capture.image_png(image), margins, settings.extend_fill, feather, p)
        return common.submit(context, task, ctx)
