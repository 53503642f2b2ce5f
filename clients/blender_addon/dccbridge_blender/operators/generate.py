from types import SimpleNamespace

import bpy

from .. import capture, jobs, preferences
from . import common


class DCCBRIDGE_OT_generate(common.JobOperatorMixin, bpy.types.Operator):
    """Generate an image from the prompt and the enabled control units of the active camera (Esc cancels)"""
    bl_idname = "dccbridge.generate"
    bl_label = "Generate"

    def start(self, context):
        from .. import requests

        settings = context.scene.dccbridge
        p = common.params(context.scene, settings, "generate")
        units = common.capture_units(context, settings, p["width"], p["height"])
        return common.submit(context, requests.generate_task(p, units), common.context_of(p, units))


class DCCBRIDGE_OT_depth2img(common.JobOperatorMixin, bpy.types.Operator):
    """Re-imagine the camera's render guided by its true depth pass (Depth2Img)"""
    bl_idname = "dccbridge.depth2img"
    bl_label = "Depth2Img from render"

    def start(self, context):
        from .. import requests

        settings = context.scene.dccbridge
        p = common.params(context.scene, settings, "depth2img")
        camera = capture.active_camera(context.scene)
        views = capture.render_views(context.scene, camera, p["width"], p["height"], engine=settings.capture_engine,
                                     samples=settings.capture_samples)
        depth = common.depth_of(views, settings)
        ctx = common.context_of(p)
        ctx["strength"] = p["strength"]
        return common.submit(context, requests.depth2img_task(p, views["color_png"], depth), ctx)


class DCCBRIDGE_OT_animation(common.JobOperatorMixin, bpy.types.Operator):
    """Generate one image per frame of the range with a fixed seed, capturing each frame's units (Esc cancels)"""
    bl_idname = "dccbridge.animation"
    bl_label = "Animation"

    def start(self, context):
        from .. import requests

        scene = context.scene
        settings = scene.dccbridge
        first, last = ((scene.frame_start, scene.frame_end) if settings.anim_use_scene_range
                       else (settings.anim_start, settings.anim_end))
        if last < first:
            raise ValueError("Animation: the end frame is before the start frame")
        seed = common.resolve_seed(settings)
        seed = common.random_seed() if seed is None else seed
        frames = list(range(first, last + 1))
        # Later frames are captured from the timer pump, after this operator's context is gone: keep what they need.
        snapshot = SimpleNamespace(scene=scene, view_layer=context.view_layer, preferences=context.preferences,
                                   selected_objects=list(context.selected_objects))

        def next_task(index):
            scene.frame_set(frames[index])
            p = common.params(scene, settings, "animation", seed=seed)
            units = common.capture_units(snapshot, settings, p["width"], p["height"])
            ctx = common.context_of(p, units)
            ctx["frame"] = frames[index]
            return common.submit(snapshot, requests.generate_task(p, units), ctx)

        return jobs.start_sequence(jobs.Sequence(len(frames), next_task, f"animation {first}-{last}"))


class DCCBRIDGE_OT_show_control_map(bpy.types.Operator):
    """Fetch the control map the server makes from this unit (Preprocess) and show it in an Image Editor"""
    bl_idname = "dccbridge.show_control_map"
    bl_label = "Show control map"

    unit: bpy.props.EnumProperty(items=(("depth", "Depth", ""), ("openpose", "Pose", ""), ("canny", "Canny", "")))

    def execute(self, context):
        from .. import requests

        if not common.check_ready(self):
            return {"CANCELLED"}
        settings = context.scene.dccbridge
        try:
            p = common.params(context.scene, settings, "preprocess")
            units = common.capture_units(context, settings, p["width"], p["height"], only=self.unit)
            task = requests.preprocess_task(units[0], p["width"], p["height"])
            ctx = common.context_of(p, units)
            ctx["unit"] = self.unit
            common.submit(context, task, ctx)
        except Exception as error:  # noqa: BLE001
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}


class DCCBRIDGE_OT_cancel(bpy.types.Operator):
    """Cancel the running DCC Bridge jobs on the server"""
    bl_idname = "dccbridge.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        jobs.cancel_all()
        return {"FINISHED"}


class DCCBRIDGE_OT_fetch_job(bpy.types.Operator):
    """Fetch a job's result again by its id (GetJob) and apply it — after a lost connection or a restart"""
    bl_idname = "dccbridge.fetch_job"
    bl_label = "Fetch result"

    job_id: bpy.props.StringProperty(name="Job id")

    def execute(self, context):
        import json

        if not common.check_ready(self):
            return {"CANCELLED"}
        job_id = self.job_id or context.window_manager.dccbridge.retry_job_id
        item = next((j for j in context.scene.dccbridge.jobs if j.job_id == job_id), None)
        if not job_id:
            self.report({"ERROR"}, "No job id to fetch")
            return {"CANCELLED"}
        ctx = json.loads(item.context_json) if item and item.context_json else {"kind": "generate"}
        jobs.fetch(preferences.settings(context), job_id, ctx, context.scene)
        return {"FINISHED"}
