"""Live mode's scenarios, run INSIDE real Blender by tests/blender/scenarios.py (SCENARIO "live"): they use its
helpers and RESULT through `h` (scenarios.py's globals), and write what they measured into h.RESULT."""

import math
import time

import bpy


def bind(name: str, helpers):
    """scenarios.py's dispatcher: the scenario `name` with its helpers bound."""
    scenario = globals()["scenario_" + name]
    return lambda addon: scenario(addon, helpers)


def scenario_live(addon, h):
    """Live against a real server: start; a burst of cube moves gives one frame; a move there and back gives none
    (the depth pass is the same); a pose change sends only the pose; a camera move sends both; answers land in
    image "DCCBridge Live"; Stop closes the session (the server says so) and removes the handler and timer;
    loading a file and disabling the add-on end a running session too."""
    import numpy as np

    live_host = h.addon_module("live_host")
    h.addon_utils.enable("rigify", default_set=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    arm = h.metarig("Rig", (0, 0, -1))
    bpy.ops.object.select_all(action="DESELECT")
    arm.select_set(True)
    bpy.context.view_layer.objects.active = arm
    s = h.settings()
    rt = bpy.context.window_manager.dccbridge.live
    try:                                   # nothing to send: refused with what to do, nothing opened
        outcome = str(bpy.ops.dccbridge.live(action="START"))
    except RuntimeError as error:          # bpy.ops raises on an ERROR report
        outcome = str(error)
    h.RESULT["no_inputs"] = {"outcome": outcome, "error": rt.error, "active": live_host.active(),
                           "handler": live_host._on_depsgraph in bpy.app.handlers.depsgraph_update_post}
    rt.error = ""
    s.unit_depth.enabled = s.unit_pose.enabled = s.unit_canny.enabled = True
    s.live.use_render, s.live.strength = True, 0.7       # the render as img2img init image too
    s.live.steps = 2
    prefs = bpy.context.preferences.addons[h.ADDON_MODULE].preferences
    prefs.live_resolution, prefs.live_debounce_ms = 64, 300
    cube = bpy.data.objects["Cube"]

    def settle(timeout=60):
        """Until every frame sent has its answer (and no capture is pending)."""
        session = live_host.session()
        ok = live_host.wait(lambda: session.ended or (not session.debouncer.pending and not session.dirty
                                                      and session.state.outstanding == 0), timeout)
        assert ok and not session.ended, f"live did not settle: {rt.status} {rt.error} {session.state.summary()}"
        h.RESULT.setdefault("timings", []).append({"frame": session.state.last_result_frame,
                                                 "latency_ms": round(rt.last_latency_ms, 1),
                                                 "server_ms": round(session.state.last_server_ms, 1),
                                                 "capture_ms": round(rt.capture_ms, 1)})
        return session

    def change(step, times=1):
        for _ in range(times):
            step()
            bpy.context.view_layer.update()       # the depsgraph evaluates: depsgraph_update_post runs
            live_host.pump()
            time.sleep(0.03)                      # well inside the 300 ms debounce

    t = time.monotonic()
    assert bpy.ops.dccbridge.live(action="START") == {"FINISHED"}
    h.RESULT["start_seconds"] = round(time.monotonic() - t, 3)
    session = live_host.session()
    h.RESULT["handler_on"] = live_host._on_depsgraph in bpy.app.handlers.depsgraph_update_post
    h.RESULT["timer_on"] = bpy.app.timers.is_registered(live_host._tick)
    settle()
    image = bpy.data.images.get("DCCBridge Live")
    assert image is not None, [i.name for i in bpy.data.images]
    pointer = image.as_pointer()

    def pixels():
        px = np.empty(image.size[0] * image.size[1] * 4, np.float32)
        image.pixels.foreach_get(px)
        return px

    first_pixels = pixels()
    h.RESULT["first"] = {"size": list(image.size), "latency_ms": rt.last_latency_ms, "session_id": rt.session_id,
                       "lit": float(first_pixels.reshape(-1, 4)[:, :3].max()), "opened": session.state.opened}
    sent = session.state.sent
    change(lambda: setattr(cube.location, "x", cube.location.x + 0.2), times=6)
    settle()
    h.RESULT["burst"] = {"changes": 6, "frames": session.state.sent - sent}
    sent, skipped = session.state.sent, session.skipped
    change(lambda: setattr(cube.location, "x", cube.location.x + 0.5))
    change(lambda: setattr(cube.location, "x", cube.location.x - 0.5))
    settle()
    h.RESULT["there_and_back"] = {"frames": session.state.sent - sent,
                                  "captures_unchanged": session.skipped - skipped}
    bone = arm.pose.bones["upper_arm.L"]
    bone.rotation_mode = "XYZ"
    change(lambda: setattr(bone, "rotation_euler", (0, 0, math.radians(-40))))
    settle()
    camera = scene.camera
    change(lambda: setattr(camera.location, "z", camera.location.z + 0.3))
    settle()
    # A new prompt: no capture, a LiveUpdate; the server computes the last frame again.
    answered, sent = session.state.answered, session.state.sent
    s.prompt = "a test scene at night"
    assert live_host.wait(lambda: session.state.answered > answered, 60), rt.status
    h.RESULT["prompt_update"] = {"frames": session.state.sent - sent, "answers": session.state.answered - answered,
                               "frame": session.state.last_result_frame}
    h.RESULT["capture_ms"] = rt.capture_ms
    h.RESULT["log"] = session.state.log
    h.RESULT["counts"] = {k: getattr(rt, k)
                          for k in ("sent", "answered", "superseded", "reused", "failed", "skipped")}
    h.RESULT["same_image"] = bpy.data.images.get("DCCBridge Live").as_pointer() == pointer
    h.RESULT["images_named_live"] = sorted(i.name for i in bpy.data.images if "Live" in i.name)
    h.RESULT["changed_pixels"] = bool(np.abs(pixels() - first_pixels).max() > 0)
    h.RESULT["ui_live"] = h.draw_every_panel(addon, h.ADDON_MODULE)
    h.RESULT["error"] = rt.error
    # Stop: the handler goes at once; the server answers "closed" with what it received.
    assert bpy.ops.dccbridge.live(action="STOP") == {"FINISHED"}
    h.RESULT["handler_after_stop"] = live_host._on_depsgraph in bpy.app.handlers.depsgraph_update_post
    assert live_host.wait(lambda: session.state.closed is not None, 30), "no 'closed' from the server"
    live_host.wait(lambda: not live_host._closing, 10)
    h.RESULT["closed"] = session.state.closed
    h.RESULT["timer_after_stop"] = bpy.app.timers.is_registered(live_host._tick)
    h.RESULT["active_after_stop"] = rt.active
    # Shown on the camera too; the background image it adds is no scene change. Loading another file ends the
    # session (load_pre).
    bpy.context.scene.dccbridge.live.camera_background = True
    bpy.context.scene.dccbridge.unit_canny.enabled = bpy.context.scene.dccbridge.live.use_render = False
    assert bpy.ops.dccbridge.live(action="START") == {"FINISHED"}
    runner = live_host.session().runner
    settle()
    live_host.wait(lambda: False, 0.5)                    # the debounce time passes: nothing more is captured
    h.RESULT["camera_background"] = {
        "images": [b.image.name for b in camera.data.background_images if b.image is not None],
        "shown": camera.data.show_background_images, "frames": live_host.session().state.sent}
    bpy.context.scene.dccbridge.live.camera_background = False          # off again while live: removed
    live_host.pump()
    h.RESULT["camera_background_off"] = [b.image.name for b in camera.data.background_images
                                         if b.image is not None]
    path = h.OUT + ".blend"
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert runner.finished.wait(30), "the stream stayed open after loading a file"
    events = []
    while not runner.events.empty():
        events.append(runner.events.get_nowait()["type"])
    h.RESULT["after_load"] = {"active": live_host.active(), "events": events,
                            "handler": live_host._on_depsgraph in bpy.app.handlers.depsgraph_update_post,
                            "timer": bpy.app.timers.is_registered(live_host._tick)}
    # Disabling the add-on ends a running session and leaves no handler or timer behind.
    bpy.context.scene.dccbridge.unit_depth.enabled = True
    assert bpy.ops.dccbridge.live(action="START") == {"FINISHED"}
    runner = live_host.session().runner
    live_host.wait(lambda: live_host.session().state.answered >= 1, 60)
    bpy.ops.preferences.addon_disable(module=h.ADDON_MODULE)
    assert runner.finished.wait(30), "the stream stayed open after disabling the add-on"
    h.RESULT["after_disable"] = {"handler": any(getattr(handler, "__module__", "").endswith("live_host")
                                                for handler in bpy.app.handlers.depsgraph_update_post),
                                 "timer": bpy.app.timers.is_registered(live_host._tick)}
    # Enabled again and Live left on: Blender quits with the stream open and the timer registered (the test
    # checks that it exits, and that the server ends the session).
    bpy.ops.preferences.addon_enable(module=h.ADDON_MODULE)
    prefs = bpy.context.preferences.addons[h.ADDON_MODULE].preferences
    prefs.address, prefs.live_resolution = h.ADDRESS, 64
    live_host = h.addon_module("live_host")
    assert bpy.ops.dccbridge.live(action="START") == {"FINISHED"}
    assert live_host.wait(lambda: live_host.session().state.answered >= 1, 60), rt.status
    h.RESULT["live_on_at_exit"] = live_host.active() and bpy.app.timers.is_registered(live_host._tick)



def adapters_sent(h) -> dict:
    """For scenarios.py's adapters scenario (its LoRA, embedding and VAE chosen): one live frame; the LoRAs and VAE
    as the server resolved the session's settings."""
    live_host = h.addon_module("live_host")
    s = bpy.context.scene.dccbridge
    s.unit_depth.enabled = True
    s.live.steps = 2
    bpy.context.preferences.addons[h.ADDON_MODULE].preferences.live_resolution = 64
    assert bpy.ops.dccbridge.live(action="START") == {"FINISHED"}
    session = live_host.session()
    live_host.wait(lambda: session.ended or session.state.answered >= 1, 60)
    opened = session.state.opened or {}
    sent = {"loras": [[i, round(w, 4)] for i, w in opened.get("loras", [])], "vae_id": opened.get("vae_id"),
            "answered": session.state.answered, "error": bpy.context.window_manager.dccbridge.live.error}
    assert bpy.ops.dccbridge.live(action="STOP") == {"FINISHED"}
    live_host.wait(lambda: not live_host._closing, 10)
    s.unit_depth.enabled = False
    return sent
