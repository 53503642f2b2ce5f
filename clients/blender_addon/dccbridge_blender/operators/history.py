"""History operators: load a page of past jobs, re-apply a result, re-run a job (same or new seed), or load its
settings into the scene. They read history_host's rows; the network runs in threads (transport)."""

import json

import bpy

from .. import history, history_host, jobs, preferences
from . import common


class DCCBRIDGE_OT_history_refresh(bpy.types.Operator):
    """Load past jobs from the server (ListJobs): this client's, or every client's with an admin token"""
    bl_idname = "dccbridge.history_refresh"
    bl_label = "Refresh history"

    page: bpy.props.EnumProperty(items=(("FIRST", "First", ""), ("NEXT", "Next", ""), ("PREVIOUS", "Previous", "")),
                                 default="FIRST")

    def execute(self, context):
        if not common.check_ready(self):
            return {"CANCELLED"}
        try:
            history_host.refresh(preferences.settings(context), context.scene, self.page)
        except ValueError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}


def _context_for(context, row: dict) -> dict:
    """What the result is applied to: the scene's own record of the job if it has one (same objects, same
    camera), else the job's kind — a texture goes onto the selected meshes."""
    record = next((j for j in context.scene.dccbridge.jobs if j.job_id == row["job_id"]), None)
    if record is not None and record.context_json:
        return json.loads(record.context_json)
    ctx = {"kind": row["kind"], **history.settings_of(row)}
    if row["kind"] == "texture":
        ctx["objects"] = [o.name for o in context.selected_objects if o.type == "MESH"]
    return ctx


class DCCBRIDGE_OT_history_reapply(bpy.types.Operator):
    """Fetch this job's result (GetJob) and apply it like a fresh result: image, material or texture"""
    bl_idname = "dccbridge.history_reapply"
    bl_label = "Re-apply"

    job_id: bpy.props.StringProperty(name="Job id")

    def execute(self, context):
        if not common.check_ready(self):
            return {"CANCELLED"}
        try:
            row = history_host.row(self.job_id)
        except ValueError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        jobs.fetch(preferences.settings(context), self.job_id, _context_for(context, row), context.scene)
        return {"FINISHED"}


class DCCBRIDGE_OT_history_rerun(common.JobOperatorMixin, bpy.types.Operator):
    """Submit this job's stored task again, with its seed or a new one. Control maps are recaptured from the
    scene now; other input images (Depth2Img, upscale, extend) were not kept: load the settings and run again"""
    bl_idname = "dccbridge.history_rerun"
    bl_label = "Re-run"

    job_id: bpy.props.StringProperty(name="Job id")
    new_seed: bpy.props.BoolProperty(name="New seed", default=False)

    def start(self, context):
        row = history_host.row(self.job_id)
        seed = common.random_seed() if self.new_seed or row["seed"] < 0 else row["seed"]
        task = history.rerun_task(row["task"], seed, _recaptured_units(context, row["task"]))
        ctx = {**_context_for(context, row), "seed": seed, "rerun_of": row["job_id"]}
        if row["kind"] == "texture" and not ctx.get("objects"):
            raise ValueError("Re-run: select the mesh objects the material is for")
        return common.submit(context, task, ctx)


def _recaptured_units(context, task_bytes: bytes):
    """A Generate job's control units captured again from the scene as it is now (the server kept their type,
    weight and range, not their images); None for other jobs."""
    from .. import requests
    from ..proto import tasks_pb2

    stored = tasks_pb2.Task.FromString(task_bytes)
    wanted = history.control_units_wanted(stored)
    if not wanted:
        return None
    body, settings = stored.generate, context.scene.dccbridge
    units = []
    for unit in wanted:
        captured = common.capture_units(context, settings, body.width, body.height, only=unit["type"])
        units.append(requests.control_unit({**captured[0], **unit}))
    return units


class DCCBRIDGE_OT_history_use_settings(bpy.types.Operator):
    """Put this job's prompt, negative prompt, model, seed and steps into the scene's settings (Generate)"""
    bl_idname = "dccbridge.history_use_settings"
    bl_label = "Use settings"

    job_id: bpy.props.StringProperty(name="Job id")

    def execute(self, context):
        try:
            row = history_host.row(self.job_id)
        except ValueError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings = context.scene.dccbridge
        values = history.settings_of(row)
        settings.prompt, settings.negative_prompt = values["prompt"], values["negative_prompt"]
        settings.model = values["model"]
        if values["steps"]:
            settings.steps = values["steps"]
        if values["seed"] >= 0:
            settings.seed_mode, settings.seed = "FIXED", values["seed"]
        settings.workspace = "GENERATE" if row["kind"] == "generate" else settings.workspace
        return {"FINISHED"}


CLASSES = (DCCBRIDGE_OT_history_refresh, DCCBRIDGE_OT_history_reapply, DCCBRIDGE_OT_history_rerun,
           DCCBRIDGE_OT_history_use_settings)
