"""Main-thread side of jobs: a registry of running jobs, the bpy.app.timers pump that moves events from the
runner threads into Blender state, and sequences (animation). Panels read the state; nothing here blocks."""

from __future__ import annotations

import json
import queue
import time

import bpy

from . import apply

PUMP_INTERVAL_S = 0.1
_handles: list = []          # running Handle objects
_sequences: list = []        # running Sequence objects
_capability_queue: queue.Queue = queue.Queue()
_capability_threads: list = []


class Handle:
    """One server job as the UI sees it."""

    def __init__(self, runner, context: dict, scene_name: str):
        self.runner, self.context, self.scene_name = runner, context, scene_name
        self.state = "submitting"
        self.job_id = runner.job_id
        self.message = ""
        self.names: list = []
        self.done = False
        self.on_done = None

    def cancel(self):
        self.runner.cancel()


class Sequence:
    """Jobs one after the other (animation frames): next_task(index) is called on the main thread."""

    def __init__(self, count: int, next_task, label: str):
        self.count, self.next_task, self.label = count, next_task, label
        self.index = 0
        self.current = None
        self.cancelled = False
        self.done = False
        self.names: list = []
        self.error = ""
        self.on_finished = None  # called on the main thread once every job is done (not when cancelled/failed)

    def cancel(self):
        self.cancelled = True
        if self.current is not None and not self.current.done:
            self.current.cancel()


# -- state helpers ------------------------------------------------------------------------------------------


def runtime():
    return getattr(bpy.context.window_manager, "dccbridge", None)


def _scene(name):
    return bpy.data.scenes.get(name) or bpy.context.scene


def _record(handle: Handle):
    """The scene's job list: every job id with what its result is for, so Fetch can apply it again."""
    scene = _scene(handle.scene_name)
    jobs = scene.dccbridge.jobs
    item = next((j for j in jobs if j.job_id == handle.job_id), None)
    if item is None:
        item = jobs.add()
        item.job_id = handle.job_id
        item.kind = handle.context.get("kind", "")
        item.context_json = json.dumps(handle.context)
        while len(jobs) > 20:
            jobs.remove(0)
    item.state = handle.state
    item.message = handle.message
    if handle.names:
        item.applied = True
        item.result_names = ", ".join(handle.names)


def _set_status(text: str, progress: float | None = None, error: str | None = None):
    rt = runtime()
    if rt is None:
        return
    rt.status = text
    if progress is not None:
        rt.progress = progress
    if error is not None:
        rt.error = error
    rt.busy = active()


def active() -> bool:
    return any(not h.done for h in _handles) or any(not s.done for s in _sequences)


def _redraw():
    wm = bpy.context.window_manager
    for window in wm.windows if wm else []:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR", "STATUSBAR", "PREFERENCES"):
                area.tag_redraw()


# -- starting ---------------------------------------------------------------------------------------------


def start(settings, task, options, context: dict, scene) -> Handle:
    from .transport import JobRunner

    runner = JobRunner(settings, task=task, options=options)
    handle = Handle(runner, context, scene.name)
    _handles.append(handle)
    runner.start()
    _set_status(f"{context.get('kind', 'job')}: submitting…", 0.0, "")
    rt = runtime()
    if rt is not None:
        rt.retry_job_id = ""
    ensure_pump()
    return handle


def fetch(settings, job_id: str, context: dict, scene) -> Handle:
    """Pick up an existing job by id (GetJob, then Watch if it still runs) and apply its result."""
    from .transport import JobRunner

    runner = JobRunner(settings, job_id=job_id)
    handle = Handle(runner, context, scene.name)
    _handles.append(handle)
    runner.start()
    _set_status(f"fetching {job_id}…", 0.0, "")
    ensure_pump()
    return handle


def start_sequence(sequence: Sequence) -> Sequence:
    _sequences.append(sequence)
    _advance(sequence)
    ensure_pump()
    return sequence


def _advance(sequence: Sequence):
    if sequence.cancelled or sequence.index >= sequence.count:
        if not sequence.cancelled and sequence.on_finished is not None:
            try:
                sequence.on_finished(sequence)
            except Exception as error:  # noqa: BLE001 - shown to the user
                sequence.error = str(error)
                sequence.done = True
                _set_status(f"{sequence.label}: failed", None, str(error))
                import traceback

                traceback.print_exc()
                return
        sequence.done = True
        _set_status(f"{sequence.label}: {'cancelled' if sequence.cancelled else 'done'} "
                    f"({len(sequence.names)} images)", 1.0 if not sequence.cancelled else None)
        return
    try:
        handle = sequence.next_task(sequence.index)
    except Exception as error:  # noqa: BLE001 - shown to the user
        sequence.error = str(error)
        sequence.done = True
        _set_status(f"{sequence.label}: failed", None, str(error))
        return
    sequence.current = handle

    def finished(h, seq=sequence):
        seq.names.extend(h.names)
        if h.state != "done":
            seq.cancelled = seq.cancelled or h.state == "cancelled"
            seq.error = h.message
            seq.done = True
            return
        seq.index += 1
        _advance(seq)

    handle.on_done = finished


def cancel_all():
    for sequence in _sequences:
        if not sequence.done:
            sequence.cancel()
    for handle in _handles:
        if not handle.done:
            handle.cancel()


def test_connection(settings):
    from . import transport

    _capability_threads.append(transport.test_connection(settings, _capability_queue))
    _set_status(f"connecting to {settings.address}…", None, "")
    ensure_pump()


# -- the pump ---------------------------------------------------------------------------------------------


def _apply_capabilities(event: dict):
    rt = runtime()
    if event["type"] == "error":
        _set_status("connection failed", None, event["message"])
        if rt is not None:
            rt.server_version = ""
        return
    if rt is not None:
        rt.server_version, rt.device = event["server_version"], event["device"]
        rt.models.clear()
        for model in event["models"]:
            item = rt.models.add()
            item.name, item.family = model["id"], model["family"]
        rt.schedulers.clear()
        for scheduler in event["schedulers"]:
            rt.schedulers.add().name = scheduler
        rt.default_model = event["default_model"]
        for kind in ("loras", "embeddings", "vaes"):
            listing = getattr(rt, kind)
            listing.clear()
            for adapter in event[kind]:
                item = listing.add()
                item.name, item.family, item.description = adapter["id"], adapter["family"], adapter["description"]
    models = ", ".join(m["id"] for m in event["models"])
    _set_status(f"connected: dccbridge {event['server_version']} on {event['device']}; models: {models}", None, "")


def _handle_event(handle: Handle, event: dict):
    kind = event["type"]
    label = handle.context.get("label") or handle.context.get("kind", "job")
    if kind == "submitted":
        handle.job_id = event["job_id"]
        handle.state = "queued"
        _record(handle)
        _set_status(f"{label}: queued ({event.get('position', 0)} ahead)")
    elif kind == "queued":
        _set_status(f"{label}: queued ({event['position']} ahead)")
    elif kind == "started":
        handle.state = "running"
        _set_status(f"{label}: started", 0.0)
    elif kind == "progress":
        handle.state = "running"
        total = max(1, event["total"])
        _set_status(f"{label}: {event['stage']} {event['step']}/{event['total']}", min(1.0, event["step"] / total))
        if event.get("preview"):
            try:
                apply.update_preview(event["preview"])
            except Exception as error:  # noqa: BLE001 - a preview is never worth failing for
                print("dccbridge: preview failed:", error)
    elif kind == "reconnecting":
        _set_status(f"{label}: connection interrupted, retrying ({event['attempt']})…")
    elif kind == "warning":
        _set_status(event["message"])
    elif kind == "result":
        handle.job_id = event.get("job_id") or handle.job_id
        try:
            handle.names = apply.apply_result(event, handle.context, handle.job_id)
            handle.state = "done"
            seeds = sorted({i["seed"] for i in event.get("images", [])})
            if seeds and handle.context.get("kind") in ("generate", "depth2img", "animation", "texture", "projection"):
                _scene(handle.scene_name).dccbridge.last_seed = int(seeds[0])
            _set_status(f"{label}: done — {', '.join(handle.names)}", 1.0, "")
        except Exception as error:  # noqa: BLE001
            handle.state = "error"
            handle.message = f"Applying the result failed: {error}"
            _set_status(f"{label}: failed", None, handle.message)
            import traceback

            traceback.print_exc()
        _finish(handle)
    elif kind == "failed":
        handle.state = "failed"
        field = f" ({event['field']})" if event.get("field") else ""
        handle.message = f"{event['code'].removeprefix('ERROR_CODE_')}: {event['message']}{field}"
        _set_status(f"{label}: failed", None, handle.message)
        _finish(handle)
    elif kind == "cancelled":
        handle.state = "cancelled"
        handle.message = event.get("reason", "")
        _set_status(f"{label}: cancelled", 0.0, "")
        _finish(handle)
    elif kind == "abandoned":
        handle.state = "abandoned"
        _set_status(f"{label}: stopped watching {handle.job_id} (Fetch gets it later)")
        _finish(handle)
    elif kind == "error":
        handle.state = "lost" if event.get("retryable") else "error"
        handle.message = event["message"]
        rt = runtime()
        if rt is not None and handle.job_id:
            rt.retry_job_id = handle.job_id
        _set_status(f"{label}: connection lost" if handle.job_id else f"{label}: failed", None, handle.message)
        _finish(handle)


def _finish(handle: Handle):
    handle.done = True
    if handle.job_id:
        _record(handle)
    if handle.on_done is not None:
        handle.on_done(handle)


def drain() -> int:
    """Move every queued event into Blender state. Returns the number handled."""
    count = 0
    while True:
        try:
            event = _capability_queue.get_nowait()
        except queue.Empty:
            break
        _apply_capabilities(event)
        count += 1
    for handle in list(_handles):
        while True:
            try:
                event = handle.runner.events.get_nowait()
            except queue.Empty:
                break
            _handle_event(handle, event)
            count += 1
    _handles[:] = [h for h in _handles if not h.done]
    _sequences[:] = [s for s in _sequences if not s.done]
    rt = runtime()
    if rt is not None:
        rt.busy = active()
    if count:
        _redraw()
    return count


def _pump():
    try:
        drain()
    except Exception as error:  # noqa: BLE001 - a timer that raises is unregistered; keep pumping
        print("dccbridge: pump error:", error)
    return PUMP_INTERVAL_S if (active() or _capability_threads_alive()) else 0.5


def _capability_threads_alive() -> bool:
    _capability_threads[:] = [t for t in _capability_threads if t.is_alive()]
    return bool(_capability_threads) or not _capability_queue.empty()


def ensure_pump():
    if not bpy.app.timers.is_registered(_pump):
        bpy.app.timers.register(_pump, first_interval=PUMP_INTERVAL_S, persistent=True)


def stop_pump():
    if bpy.app.timers.is_registered(_pump):
        bpy.app.timers.unregister(_pump)


def wait_idle(timeout_s: float = 120.0) -> bool:
    """Drain until nothing runs — for scripts and background mode, where timers do not fire. True if idle."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        drain()
        if not active() and not _capability_threads_alive():
            drain()
            return True
        time.sleep(0.05)
    return False


def handles() -> list:
    return list(_handles)
