"""What the job operators share: reading the panel's settings into plain data, capturing the control units,
submitting, and the Esc-to-cancel modal loop."""

from __future__ import annotations

import random

import bpy

from .. import capture, deps, jobs, preferences


def check_ready(operator) -> bool:
    missing = deps.missing()
    if missing:
        operator.report({"ERROR"}, "DCC Bridge needs " + ", ".join(missing) + " (see the add-on preferences)")
        return False
    return True


def resolve_seed(settings) -> int | None:
    """None = let the server pick (reported back)."""
    if settings.seed_mode == "FIXED":
        return settings.seed
    if settings.seed_mode == "REUSE" and settings.last_seed >= 0:
        return settings.last_seed
    return None


# Jobs that run an SD model the scene's LoRAs, embeddings and VAE apply to (upscale: tiled diffusion only).
ADAPTER_KINDS = ("generate", "depth2img", "animation", "texture", "projection", "outpaint")


def params(scene, settings, kind: str, seed="auto") -> dict:
    width, height = capture.request_size(scene, settings)
    takes_adapters = kind in ADAPTER_KINDS or (kind == "upscale" and settings.upscale_method == "TILED_DIFFUSION")
    return {"kind": kind, "model": settings.model.strip(), "prompt": settings.prompt,
            "negative_prompt": settings.negative_prompt, "width": width, "height": height,
            "steps": settings.steps, "guidance": settings.guidance, "scheduler": settings.scheduler.strip(),
            "seed": resolve_seed(settings) if seed == "auto" else seed, "strength": settings.strength,
            "adapters": chosen_adapters(settings) if takes_adapters else None,
            "restore_faces": restoration(settings) if kind in FACE_KINDS else None}


# Jobs whose results the server can finish with face restoration (FaceRestoration on their task).
FACE_KINDS = ("generate", "animation", "upscale", "outpaint")


def restoration(settings) -> dict | None:
    if not settings.restore_faces:
        return None
    return {"restorer_id": settings.face_restorer.strip(), "strength": settings.face_strength}


def chosen_adapters(settings) -> dict | None:
    """The LoRAs, embeddings and VAE to send; a choice the server no longer offers for the model stops the job
    with what to do (sending it would fail on the server, dropping it would change the image unnoticed)."""
    from .. import adapters
    from ..properties.adapters import chosen

    picked, problems = chosen(jobs.runtime(), settings)
    if problems:
        raise ValueError("LoRAs, embeddings and VAE: " + "; ".join(problems))
    return None if adapters.is_empty(picked) else picked


def capture_units(context, settings, width: int, height: int, only: str = "") -> list:
    """The enabled units (or just `only`), captured from the active camera: depth pass, armature pose, colour."""
    scene = context.scene
    wanted = [name for name, unit in (("depth", settings.unit_depth), ("openpose", settings.unit_pose),
                                      ("canny", settings.unit_canny)) if (unit.enabled if not only else name == only)]
    if not wanted:
        return reference_units(context, settings, width, height, only)
    camera = capture.active_camera(scene)
    units = []
    views = {}
    if "depth" in wanted or "canny" in wanted:
        views = capture.render_views(scene, camera, width, height, depth="depth" in wanted, color="canny" in wanted,
                                     engine=settings.capture_engine, samples=settings.capture_samples)
    for name in wanted:
        unit = {"depth": settings.unit_depth, "openpose": settings.unit_pose, "canny": settings.unit_canny}[name]
        data = {"type": name, "weight": unit.weight, "start": unit.start, "end": unit.end}
        if name == "depth":
            data["depth"] = depth_of(views, settings)
        elif name == "openpose":
            armatures = capture.pose_armatures(context)
            if not armatures:
                raise ValueError("Pose unit: select an armature (or have one visible)")
            data["pose"] = capture.capture_pose(scene, camera, armatures, width, height,
                                                capture.mapping_table(settings))
            data["armatures"] = [a.name for a in armatures]
        else:
            data["image"] = views["color_png"]
            data["low"], data["high"] = settings.canny_low, settings.canny_high
        units.append(data)
    return units + reference_units(context, settings, width, height, only)


def reference_units(context, settings, width: int, height: int, only: str = "") -> list:
    """The Reference unit when enabled: its image datablock, or the active camera's render made now."""
    unit = getattr(settings, "unit_reference", None)
    if unit is None or not unit.enabled or only:
        return []
    if unit.source == "RENDER":
        views = capture.render_views(context.scene, capture.active_camera(context.scene), width, height,
                                     depth=False, color=True, engine=settings.capture_engine,
                                     samples=settings.capture_samples)
        png, name = views["color_png"], "render"
    else:
        if unit.image is None:
            raise ValueError("Reference unit: choose an image (or the current render)")
        png, name = capture.image_png(unit.image), unit.image.name
    return [{"type": "reference", "weight": unit.weight, "start": unit.start, "end": unit.end, "images": [png],
             "adapter": unit.adapter_id.strip(), "source": name}]


def depth_of(views: dict, settings) -> dict:
    """The captured depth pass as requests.depth_pass takes it, with the scene's normalisation choice."""
    depth = {k: v for k, v in views["depth"].items() if k != "plane"}
    depth["normalization"] = settings.depth_normalization
    return depth


def unit_summary(units: list) -> list:
    """Provenance of the units: no bytes, just what they were."""
    out = []
    for u in units:
        item = {"type": u["type"], "weight": round(u["weight"], 4), "start": round(u["start"], 4),
                "end": round(u["end"], 4)}
        if u["type"] == "depth":
            item.update(width=u["depth"]["width"], height=u["depth"]["height"], near=u["depth"]["near"],
                        far=u["depth"]["far"], encoding="linear",
                        normalization=u["depth"].get("normalization", "AUTO"))
        elif u["type"] == "openpose":
            item.update(armatures=u.get("armatures", []), people=len(u["pose"]["people"]))
        elif u["type"] == "reference":
            item.update(adapter=u.get("adapter", ""), source=u.get("source", ""), images=len(u["images"]))
        else:
            item.update(low=u.get("low"), high=u.get("high"))
        out.append(item)
    return out


def context_of(p: dict, units=()) -> dict:
    keys = ("kind", "model", "prompt", "negative_prompt", "width", "height", "steps", "guidance", "scheduler", "seed")
    ctx = {**{k: p.get(k) for k in keys}, "units": unit_summary(list(units))}
    if p.get("adapters"):
        ctx["adapters"] = p["adapters"]
    return ctx


def options(context, label: str):
    from .. import requests

    prefs = preferences.get(context)
    return requests.job_options(label=label, preview_every=prefs.preview_every if prefs else 1)


def submit(context, task, ctx: dict):
    return jobs.start(preferences.settings(context), task, options(context, _label(context, ctx)), ctx, context.scene)


def _label(context, ctx: dict) -> str:
    name = bpy.path.basename(bpy.data.filepath) or "untitled.blend"
    return f"blender:{name}:{ctx.get('kind', '')}"


def random_seed() -> int:
    return random.randint(0, 2**31 - 1)


class JobOperatorMixin:
    """execute() starts the job and returns at once (scripts, background mode); invoke() also stays modal so Esc
    cancels the server job while the UI keeps running."""

    _timer = None
    _job = None

    def start(self, context):  # returns a jobs.Handle or jobs.Sequence
        raise NotImplementedError

    def execute(self, context):
        if not check_ready(self):
            return {"CANCELLED"}
        try:
            self._job = self.start(context)
        except Exception as error:  # noqa: BLE001 - a user's mistake is reported, not raised
            self.report({"ERROR"}, str(error))
            rt = jobs.runtime()
            if rt is not None:
                rt.error = str(error)
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context, event):
        result = self.execute(context)
        if result != {"FINISHED"} or context.window is None:
            return result
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._job.cancel()
            self.report({"INFO"}, "DCC Bridge: cancelling…")
            self._end(context)
            return {"CANCELLED"}
        if event.type == "TIMER" and self._job.done:
            self._end(context)
            return {"FINISHED"}
        return {"PASS_THROUGH"}

    def _end(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
