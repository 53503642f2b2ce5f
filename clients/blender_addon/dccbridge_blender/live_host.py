"""Live mode on Blender's main thread: the depsgraph handler that notices changes, the timer that captures a frame
once they settle and applies the server's answers, and starting / stopping a session.

live.py decides (which inputs a change touches, debounce, fingerprints, counters); capture.py reads the scene;
apply.py writes the image; transport.LiveRunner streams in its thread. Nothing here waits on the network.
"""

from __future__ import annotations

import time
import traceback

import bpy
from bpy.app.handlers import persistent

from . import apply, capture, compat, live, preferences

TICK_S = 0.05            # how often the timer looks for due captures and answers while live
CLOSE_WAIT_S = 5.0       # after Stop, how long the timer keeps draining for the server's "closed"
# An artist who stops to think must not find Live switched off: the longest idle time live.proto allows (the
# server's default is a minute). Stop, a file load, disabling the add-on or quitting end the session at once.
IDLE_TIMEOUT_MS = 600_000
_session = None          # the running Session, or None
_closing: list = []      # sessions stopped from the panel, drained until the server confirms


class Session:
    def __init__(self, runner, scene_name: str, camera_name: str, armatures: list, slots: list, wanted: frozenset,
                 size: tuple, debounce_s: float, prompt: str):
        self.runner, self.scene_name, self.camera_name = runner, scene_name, camera_name
        self.armatures, self.slots, self.wanted, self.size = armatures, slots, wanted, size
        self.state = live.LiveState()
        self.tracker = live.InputTracker()
        self.debouncer = live.Debouncer(debounce_s)
        self.dirty = set(wanted)           # the first frame carries every input
        self.capture_now = True
        self.capturing = False             # our own captures change the scene: the handler ignores them
        self.prompt = prompt
        self.skipped = 0
        self.capture_ms = 0.0
        self.shown = False                 # the image was put in an Image Editor once
        self.background = False            # the image is on the camera's background images
        self.ended = False
        self.stopped_at = None


# -- starting and stopping ----------------------------------------------------------------------------------


def active() -> bool:
    return _session is not None


def session():
    return _session


def start(context) -> Session:
    """Open a session with the panel's settings (raises ValueError with what to fix) and begin following."""
    from . import requests, transport
    from .operators import common

    stop(final=True)
    scene = context.scene
    settings = scene.dccbridge
    prefs = preferences.get(context)
    camera = capture.active_camera(scene)
    r = scene.render
    size = live.live_size(r.resolution_x * r.resolution_percentage / 100.0,
                          r.resolution_y * r.resolution_percentage / 100.0, prefs.live_resolution)
    p = common.params(scene, settings, "live")
    p["adapters"] = common.chosen_adapters(settings)   # LoRAs, embeddings, VAE: refused here when stale
    if p["seed"] is None:
        p["seed"] = common.random_seed()        # one seed for the whole session: frames stay comparable
    if settings.live.steps:
        p["steps"] = settings.live.steps
    else:
        p.update(steps=None, guidance=None, scheduler="")   # the server's live default (few-step when it can)
    slots = _slots(settings)
    armatures = []
    if any(slot["type"] == "openpose" for slot in slots):
        armatures = [a.name for a in capture.pose_armatures(context)]
        if not armatures:
            raise ValueError("Live: the Pose unit needs an armature (select one, or have one visible)")
        capture.mapping_table(settings)                  # a broken custom mapping fails now, not per frame
    wanted = frozenset(s["type"] for s in slots) | ({live.IMAGE} if settings.live.use_render else frozenset())
    if not wanted:
        raise ValueError("Live needs an enabled control unit (Control units) or 'Render as init image'")
    label = "blender:" + (bpy.path.basename(bpy.data.filepath) or "untitled.blend")
    config = requests.live_config(p, slots, *size, jpeg=settings.live.jpeg, label=label,
                                  strength=settings.live.strength if settings.live.use_render else None,
                                  idle_timeout_ms=IDLE_TIMEOUT_MS)
    runner = transport.LiveRunner(preferences.settings(context), config)
    global _session
    _session = Session(runner, scene.name, camera.name, armatures, slots, wanted, size,
                       prefs.live_debounce_ms / 1000.0, settings.prompt)
    runner.start()
    if _on_depsgraph not in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.append(_on_depsgraph)
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.0)
    _publish(_session, status=f"live: opening ({size[0]}×{size[1]})", error="")
    return _session


def _slots(settings) -> list:
    """The enabled control units as the session's slots, in a fixed order (a frame's inputs name them by index)."""
    units = (("depth", settings.unit_depth), ("openpose", settings.unit_pose), ("canny", settings.unit_canny))
    slots = [{"type": name, "weight": unit.weight, "start": unit.start, "end": unit.end} for name, unit in units
             if unit.enabled]
    for slot in slots:
        if slot["type"] == "canny":
            slot["low"], slot["high"] = settings.canny_low, settings.canny_high
    return slots


def stop(final: bool = False, reason: str = "stopped") -> None:
    """End the session: the stream is closed (the server ends the session and answers "closed"), handlers go at
    once. final (add-on disabled, another file loading): the timer goes too, nothing is drained any more."""
    global _session
    s, _session = _session, None
    if s is not None:
        s.runner.close()
        s.stopped_at = time.monotonic()
        if not final:
            _closing.append(s)
        if s.background:
            _camera_background(s, False)
        _publish(s, status=f"live: {reason}, closing…", active=False)
    _detach(final)


def _detach(final: bool) -> None:
    if _on_depsgraph in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.remove(_on_depsgraph)
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    if final:
        _closing.clear()
        if bpy.app.timers.is_registered(_tick):
            bpy.app.timers.unregister(_tick)


@persistent
def _on_load_pre(*_args):
    stop(final=True, reason="another file loads")


# -- noticing changes -----------------------------------------------------------------------------------------


def _on_depsgraph(scene, depsgraph=None):
    s = _session
    if s is None or s.capturing or scene.name != s.scene_name or depsgraph is None:
        return
    updates = []
    for update in depsgraph.updates:
        ident = update.id
        kind = compat.id_kind(ident)
        updates.append((kind, ident.name, ident.type if kind == "OBJECT" else "", update.is_updated_transform,
                        update.is_updated_geometry, update.is_updated_shading))
    camera = scene.camera
    if camera is not None and camera.name != s.camera_name:    # another camera became active
        s.camera_name = camera.name
        s.dirty |= s.wanted
        s.debouncer.poke(time.monotonic())
    camera_data = camera.data.name if camera is not None and camera.data is not None else ""
    dirty = live.classify(updates, s.camera_name, camera_data, s.armatures) & s.wanted
    if dirty:
        s.dirty |= dirty
        s.debouncer.poke(time.monotonic())


# -- the timer: capture when due, apply answers --------------------------------------------------------------


def _tick():
    try:
        pump()
    except Exception as error:  # noqa: BLE001 - a timer that raises is dropped: report and keep going
        traceback.print_exc()
        if _session is not None:
            _publish(_session, error=f"Live: {error}")
    return TICK_S if (_session is not None or _closing) else None


def pump() -> None:
    """One step: answers into the image and counters, then a capture if one is due. The timer calls it; scripts
    and background mode (no timers) call it through wait()."""
    global _session
    for closing in list(_closing):
        _drain(closing)
        if closing.ended or time.monotonic() - closing.stopped_at > CLOSE_WAIT_S:
            _closing.remove(closing)
    s = _session
    if s is None:
        return
    _drain(s)
    if s.ended:                 # the stream ended without a Stop (server gone, refused, idle timeout): show why
        _session = None
        if s.background:
            _camera_background(s, False)
        _publish(s, active=False)
        _detach(final=False)
        return
    settings = _scene(s).dccbridge
    if settings.prompt != s.prompt:                # a new prompt: the server re-encodes it and recomputes
        s.prompt = settings.prompt
        s.runner.update(prompt=s.prompt)
    wanted = settings.live.camera_background and bpy.data.images.get(apply.LIVE_NAME) is not None
    if wanted != s.background:                     # the toggle stays live: on and off during a session
        _camera_background(s, wanted)
    if s.capture_now or s.debouncer.due(time.monotonic()):
        s.capture_now = False
        capture_and_send(s)


def capture_and_send(s: Session) -> int:
    """Capture the inputs the changes touched; send those whose fingerprint changed as the next frame. Returns
    the frame number, or 0 when nothing changed (no frame)."""
    from . import requests

    _notice_pending()
    kinds, s.dirty = set(s.dirty), set()
    if not kinds:
        return 0
    s.capturing = True
    began = time.perf_counter()
    try:
        captured = _capture(s, kinds)
        # The capture changed render settings and put them back; let the depsgraph see that now, while the
        # handler ignores it — later it would look like a scene change and capture again, forever.
        bpy.context.view_layer.update()
    finally:
        s.capturing = False
    s.capture_ms = (time.perf_counter() - began) * 1000.0     # the main thread's time: what Live costs the UI
    changed = s.tracker.changed(captured)
    if not changed:
        s.skipped += 1
        _publish(s)
        return 0
    number = s.state.next_frame(changed)
    s.runner.send_frame(requests.live_frame(number, changed, s.slots))
    s.tracker.mark_sent(changed)
    _publish(s, status=f"live: frame {number} sent ({', '.join(sorted(changed))})")
    return number


def _notice_pending() -> None:
    """Let the depsgraph evaluate what changed so far while the handler listens: the guarded update after one of
    our own edits would otherwise swallow a change made just before it (a camera moved in the same moment)."""
    bpy.context.view_layer.update()


def _scene(s: Session):
    return bpy.data.scenes.get(s.scene_name) or bpy.context.scene


def _capture(s: Session, kinds: set) -> dict:
    from .operators import common

    scene = _scene(s)
    settings = scene.dccbridge
    camera = capture.active_camera(scene)
    width, height = s.size
    out = {}
    if kinds & live.RENDERED:
        views = capture.render_views(scene, camera, width, height, depth=live.DEPTH in kinds,
                                     color=bool(kinds & live.COLOUR), engine=settings.capture_engine,
                                     samples=settings.live.samples)
        if live.DEPTH in kinds:
            out[live.DEPTH] = common.depth_of(views, settings)
        for key in kinds & live.COLOUR:
            out[key] = views["color_png"]
    if live.POSE in kinds:
        armatures = [bpy.data.objects[n] for n in s.armatures if n in bpy.data.objects]
        if not armatures:
            raise ValueError("Live: the armatures of the Pose unit are gone: " + ", ".join(s.armatures))
        out[live.POSE] = capture.capture_pose(scene, camera, armatures, width, height, capture.mapping_table(settings))
    return out


def _drain(s: Session) -> int:
    import queue

    count = 0
    while True:
        try:
            event = s.runner.events.get_nowait()
        except queue.Empty:
            break
        count += 1
        kind = s.state.on_event(event)
        if kind == "result" and event["data"]:
            image = apply.update_live_image(event["data"])
            runtime = _runtime()
            if runtime is not None:
                runtime.image = image
            if not s.shown:                        # once: later answers must not take an editor back
                apply.show_in_image_editor(image)
                s.shown = True
            _publish(s, status=f"live: frame {event['frame']}" + (" (reused)" if event.get("reused") else ""))
        elif kind == "opened":
            _publish(s, status=f"live: open ({event['width']}×{event['height']})")
        elif kind in ("frame_failed", "error"):
            _publish(s, error=s.state.last_error)
        elif kind == "closed":
            _publish(s, status=f"live: closed ({event['reason']})")
        elif kind == "ended":
            s.ended = True
    return count


def _camera_background(s: Session, show: bool) -> None:
    """The live image on (or off) the active camera's background images."""
    s.background = show
    scene = bpy.data.scenes.get(s.scene_name)
    image = bpy.data.images.get(apply.LIVE_NAME)
    if scene is None or image is None:
        return
    _notice_pending()
    s.capturing = True                    # the camera data changes: not a reason to capture again
    try:
        apply.live_camera_background(scene.camera, image, show)
        if show:
            bpy.context.view_layer.update()
    finally:
        s.capturing = False


def _runtime():
    rt = getattr(bpy.context.window_manager, "dccbridge", None)
    return rt.live if rt is not None else None


def _publish(s: Session, status: str | None = None, error: str | None = None, active: bool | None = None) -> None:
    """The session's counters into the window manager's properties the panel draws."""
    rt = _runtime()
    if rt is None:
        return
    st = s.state
    rt.active = (s is _session) if active is None else active
    rt.session_id = st.session_id
    rt.width, rt.height = s.size
    rt.sent, rt.answered, rt.superseded = st.sent, st.answered, st.superseded
    rt.reused, rt.failed = st.reused, st.failed
    rt.skipped = s.skipped
    rt.last_latency_ms = st.last_latency_ms
    rt.capture_ms = s.capture_ms
    if status is not None:
        rt.status = status
    if error is not None:
        rt.error = error
    apply._tag_redraw(("VIEW_3D", "IMAGE_EDITOR"))


def wait(predicate, timeout_s: float = 60.0) -> bool:
    """Pump until predicate() — for scripts and background mode, where timers do not fire. True if it came."""
    deadline = time.monotonic() + timeout_s
    came = False
    while time.monotonic() < deadline:
        pump()
        if predicate():
            came = True
            break
        time.sleep(0.01)
    if _session is None and not _closing and bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)     # what the timer's own None would do, had it run
    return came
