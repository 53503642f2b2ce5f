"""The Blender add-on's live mode without Blender: live.py (which changes touch which inputs, debounce,
fingerprints, counters), the wire builders in requests.py, and transport.LiveRunner against a real server.
In real Blender: tests/test_blender_addon.py::test_blender_live."""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

from blender_support import PACKAGE, load

live = load("dccbridge_blender_live", PACKAGE / "live.py")


def addon_module(name: str):
    """An add-on module that needs the package (relative imports of the vendored stubs) but not bpy."""
    if "dccbridge_blender_pkg" not in sys.modules:
        package_module = types.ModuleType("dccbridge_blender_pkg")
        package_module.__path__ = [str(PACKAGE)]
        sys.modules["dccbridge_blender_pkg"] = package_module
    return importlib.import_module(f"dccbridge_blender_pkg.{name}")


# -- live.py -----------------------------------------------------------------------------------------------


def test_live_size_keeps_the_render_aspect_at_the_long_side():
    assert live.live_size(1920, 1080, 384) == (384, 216)
    assert live.live_size(1080, 1920, 256) == (144, 256)
    assert live.live_size(100, 100, 64) == (64, 64)
    assert live.live_size(4000, 100, 256) == (256, 8)           # never below one multiple
    with pytest.raises(ValueError, match="both sides must be positive"):
        live.live_size(0, 100, 256)


def _update(kind, name="", object_type="", transform=False, geometry=False, shading=False):
    return (kind, name, object_type, transform, geometry, shading)


def test_classify_maps_scene_changes_to_the_inputs_they_touch():
    classify = live.classify
    every = {"depth", "openpose", "canny", "image"}
    assert classify([_update("OBJECT", "Cam", "CAMERA", transform=True)], "Cam") == every
    assert classify([_update("OBJECT", "Other", "CAMERA", transform=True)], "Cam") == set()   # not the view
    assert classify([_update("CAMERA", "CamData", transform=True, geometry=True)], "Cam", "CamData") == every
    assert classify([_update("CAMERA", "CamData")], "Cam", "CamData") == set()   # a background image added
    assert classify([_update("OBJECT", "Cam", "CAMERA", geometry=True)], "Cam") == set()   # render size changed
    assert classify([_update("OBJECT", "Rig2", "ARMATURE", geometry=True)], "Cam", "", ["Rig"]) == set()
    assert classify([_update("OBJECT", "Rig", "ARMATURE", geometry=True)], "Cam") == {"openpose"}
    assert classify([_update("OBJECT", "Cube", "MESH", transform=True)], "Cam") == {"depth", "canny", "image"}
    assert classify([_update("OBJECT", "Cube", "MESH", shading=True)], "Cam") == {"canny", "image"}
    assert classify([_update("MESH", "Cube", geometry=True)], "Cam") == {"depth", "canny", "image"}   # edit mode
    assert classify([_update("MESH", "Cube", shading=True)], "Cam") == {"canny", "image"}
    assert classify([_update("MATERIAL", "Mat")], "Cam") == {"canny", "image"}
    assert classify([_update("OBJECT", "Lamp", "LIGHT", transform=True)], "Cam") == {"canny", "image"}
    # What the add-on's own edits look like (render settings during a capture, the live image's pixels): nothing.
    assert classify([_update("SCENE", "Scene"), _update("IMAGE", "DCCBridge Live"), _update("TEXT", "notes")],
                    "Cam") == set()
    assert classify([_update("OBJECT", "Cube", "MESH")], "Cam") == set()      # tagged, nothing actually changed
    # Several updates add up.
    assert classify([_update("OBJECT", "Rig", "ARMATURE", transform=True),
                     _update("OBJECT", "Body", "MESH", geometry=True)], "Cam") == every


def test_debounce_several_rapid_changes_give_one_capture_after_they_settle():
    d = live.Debouncer(0.25)
    assert not d.due(0.0) and not d.pending
    for t in (0.0, 0.05, 0.1, 0.15, 0.2):             # a burst of changes 50 ms apart
        d.poke(t)
        assert not d.due(t + 0.01)
    assert not d.due(0.44)                             # 240 ms after the last change: still waiting
    assert d.due(0.45) and not d.pending               # 250 ms after it: once
    assert not d.due(0.5) and not d.due(5.0)
    d.poke(10.0)
    assert d.due(10.3)


def test_debounce_fires_every_max_wait_while_changes_keep_coming():
    d = live.Debouncer(0.2)                            # max wait 4 x 0.2 = 0.8 s
    fired = []
    t = 0.0
    while t < 2.0:                                     # dragging: a change every 50 ms for 2 s
        d.poke(t)
        if d.due(t):
            fired.append(round(t, 2))
        t += 0.05
    assert fired == [0.8, 1.65], fired                 # the image follows the drag, not every change
    assert d.due(2.2)                                  # and once more when it stops


def test_unchanged_inputs_are_left_out_of_the_next_frame():
    tracker = live.InputTracker()
    plane = np.linspace(1, 9, 64, dtype="<f4")
    depth = {"data": plane.tobytes(), "width": 8, "height": 8, "near": 0.1, "far": 100.0, "normalization": "AUTO"}
    pose = {"width": 8, "height": 8, "people": [[(1.0, 2.0, True)] * 18]}
    first = tracker.changed({"depth": depth, "openpose": pose, "canny": b"png-1"})
    assert set(first) == {"depth", "openpose", "canny"}
    tracker.mark_sent(first)
    moved = {"width": 8, "height": 8, "people": [[(1.5, 2.0, True)] * 18]}
    same_depth = dict(depth, data=plane.copy().tobytes())   # equal values, another bytes object
    assert set(tracker.changed({"depth": same_depth, "openpose": moved, "canny": b"png-1"})) == {"openpose"}
    assert set(tracker.changed({"depth": dict(depth, far=50.0)})) == {"depth"}            # near/far count
    plane[3] += 0.001
    assert set(tracker.changed({"depth": dict(depth, data=plane.tobytes())})) == {"depth"}
    assert live.fingerprint(b"abc") != live.fingerprint(b"abd")


def test_a_renders_metadata_does_not_make_it_new():
    """Blender writes the render time into each saved PNG: the same pixels must count as unchanged."""
    import io

    from PIL import Image, PngImagePlugin

    def png(pixels, render_time):
        info = PngImagePlugin.PngInfo()
        info.add_text("RenderTime", render_time)
        info.add_text("Date", "2026/12/03 09:" + render_time)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG", pnginfo=info)
        return out.getvalue()

    pixels = np.zeros((8, 8, 3), np.uint8)
    first, again = png(pixels, "00:00.12"), png(pixels, "00:00.31")
    assert first != again and live.fingerprint(first) == live.fingerprint(again)
    pixels[3, 4] = 1
    assert live.fingerprint(png(pixels, "00:00.12")) != live.fingerprint(first)
    kept = live.png_content(first)
    assert b"RenderTime" not in kept and np.array_equal(np.asarray(Image.open(io.BytesIO(kept))), np.zeros((8, 8, 3)))
    tracker = live.InputTracker()
    tracker.mark_sent({"canny": first})
    assert tracker.changed({"canny": again}) == {}


def test_state_numbers_frames_and_counts_answers():
    now = [100.0]
    state = live.LiveState(clock=lambda: now[0])
    assert [state.next_frame(["depth"]), state.next_frame(["openpose"]), state.next_frame(["depth"])] == [1, 2, 3]
    assert state.log == [(1, ["depth"]), (2, ["openpose"]), (3, ["depth"])] and state.outstanding == 3
    state.on_event({"type": "opened", "session_id": "s1", "width": 64, "height": 64})
    state.on_event({"type": "result", "frame": 1, "received_at": 100.120, "total_ms": 80.0})
    assert state.last_latency_ms == pytest.approx(120.0) and state.last_server_ms == 80.0
    state.on_event({"type": "superseded", "frame": 2, "by_frame": 3})
    state.on_event({"type": "result", "frame": 3, "reused": True, "received_at": 100.5})
    state.on_event({"type": "frame_failed", "frame": 4, "code": "INVALID_ARGUMENT", "message": "bad",
                    "field": "frame.controls[0]"})
    assert (state.session_id, state.sent, state.answered, state.superseded, state.reused, state.failed) == \
        ("s1", 3, 2, 1, 1, 1)
    assert state.outstanding == 0 and state.last_result_frame == 3
    assert state.last_error == "frame 4: INVALID_ARGUMENT: bad (frame.controls[0])"
    assert state.summary() == "3 sent · 2 answered · 1 superseded · 1 reused · 1 failed · 500 ms"
    state.on_event({"type": "closed", "reason": "client closed", "frames_received": 3})
    assert state.closed["reason"] == "client closed"


# -- the wire ----------------------------------------------------------------------------------------------


SLOTS = [{"type": "depth", "weight": 0.9, "start": 0.0, "end": 1.0},
         {"type": "openpose", "weight": 0.7, "start": 0.1, "end": 0.8},
         {"type": "canny", "weight": 0.5, "start": 0.0, "end": 1.0, "low": 50, "high": 150}]


def test_live_config_and_frames_carry_only_what_changed():
    # The server's own stubs: the add-on's messages must read back the same.
    from dccbridge.v1 import control_pb2, live_pb2

    requests = addon_module("requests")
    params = {"model": "tiny", "prompt": "a room", "negative_prompt": "blurry", "steps": None, "guidance": None,
              "scheduler": "", "seed": 7, "adapters": {"loras": [{"id": "style", "weight": 0.5}]}}
    config = live_pb2.LiveConfig.FromString(requests.live_config(params, SLOTS, 96, 64, strength=0.6,
                                                                 label="blender:x").SerializeToString())
    assert (config.model_id, config.prompt, config.width, config.height, config.jpeg_results) == \
        ("tiny", "a room", 96, 64, True)
    assert config.sampling.seed == 7 and not config.sampling.HasField("num_inference_steps")   # server's default
    assert [control_pb2.ControlType.Name(c.control_type) for c in config.controls] == \
        ["CONTROL_TYPE_DEPTH", "CONTROL_TYPE_OPENPOSE", "CONTROL_TYPE_CANNY"]
    assert config.controls[1].controlnet_conditioning_scale == pytest.approx(0.7)
    assert config.controls[1].control_guidance_end == pytest.approx(0.8)
    assert config.strength == pytest.approx(0.6) and config.adapters.loras[0].id == "style"
    assert not requests.live_config(params, SLOTS, 96, 64).HasField("strength")

    depth = {"data": np.ones(96 * 64, "<f4").tobytes(), "width": 96, "height": 64, "near": 0.1, "far": 100.0}
    pose = {"width": 96, "height": 64, "people": [[(10.0, 20.0, True)] * 18]}
    full = live_pb2.LiveFrame.FromString(requests.live_frame(
        1, {"depth": depth, "openpose": pose, "canny": b"\x89PNG-colour", "image": b"\x89PNG-init"},
        SLOTS).SerializeToString())
    assert full.frame == 1 and full.image.data == b"\x89PNG-init"
    assert [(c.slot, c.WhichOneof("source")) for c in full.controls] == \
        [(0, "depth_pass"), (1, "pose_rig"), (2, "preprocess")]
    assert full.controls[0].depth_pass.far == 100.0 and full.controls[0].depth_pass.width == 96
    assert len(full.controls[1].pose_rig.people[0].body) == 18
    assert full.controls[2].preprocess.canny.low_threshold == 50 and full.controls[2].preprocess.image.data == \
        b"\x89PNG-colour"
    only_pose = requests.live_frame(2, {"openpose": pose}, SLOTS)
    assert [(c.slot, c.WhichOneof("source")) for c in only_pose.controls] == [(1, "pose_rig")]
    assert not only_pose.HasField("image")                      # the server keeps the previous inputs


# -- the network thread against a real server ------------------------------------------------------------------


def _drain_until(runner, kinds, timeout_s=60.0):
    import queue
    import time

    events, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = runner.events.get(timeout=0.1)
        except queue.Empty:
            continue
        events.append(event)
        if event["type"] in kinds:
            return events
    raise AssertionError(f"no {kinds} within {timeout_s} s: {[e['type'] for e in events]}")


def test_live_runner_streams_frames_and_closes(address, server):
    """transport.LiveRunner (the add-on's network thread) over the real `Live` stream: opened, one answer per
    frame, a frame that only brings the pose keeps the depth, close ends the session on the server."""
    requests, transport = addon_module("requests"), addon_module("transport")
    slots = SLOTS[:2]
    params = {"model": "", "prompt": "a room", "steps": 2, "seed": 3}
    runner = transport.LiveRunner(transport.Settings(address=address), requests.live_config(params, slots, 64, 64))
    runner.start()
    yy, xx = np.mgrid[0:64, 0:64]
    depth = {"data": (2.0 + xx / 16.0).astype("<f4").tobytes(), "width": 64, "height": 64, "near": 0.1, "far": 50.0}
    pose = {"width": 64, "height": 64, "people": [[(20.0 + i, 10.0 + 2 * i, True) for i in range(18)]]}
    runner.send_frame(requests.live_frame(1, {"depth": depth, "openpose": pose}, slots))
    events = _drain_until(runner, ("result", "frame_failed", "error"))
    assert [e["type"] for e in events] == ["opened", "result"], events
    opened, first = events
    assert opened["session_id"] and (opened["width"], opened["height"]) == (64, 64)
    assert first["frame"] == 1 and first["data"][:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    assert first["received_at"] > 0 and server.engine.live.open_count() == 1
    moved = {"width": 64, "height": 64, "people": [[(40.0 - i, 10.0 + 2 * i, True) for i in range(18)]]}
    runner.send_frame(requests.live_frame(2, {"openpose": moved}, slots))      # depth: kept from frame 1
    second = _drain_until(runner, ("result", "frame_failed", "error"))[-1]
    assert second["type"] == "result" and second["frame"] == 2, second
    runner.close()
    closed = _drain_until(runner, ("closed",))[-1]
    assert closed["reason"] == "client closed" and closed["frames_received"] == 2
    assert _drain_until(runner, ("ended",))[-1]["type"] == "ended" and runner.finished.wait(10)
    assert server.engine.live.open_count() == 0


def test_live_runner_reports_a_refused_session_and_ends(address):
    requests, transport = addon_module("requests"), addon_module("transport")
    config = requests.live_config({"model": "no-such-model", "seed": 1}, SLOTS[:1], 64, 64)
    runner = transport.LiveRunner(transport.Settings(address=address), config)
    runner.start()
    events = _drain_until(runner, ("ended",), 30)
    assert [e["type"] for e in events] == ["error", "ended"], events
    assert "no-such-model" in events[0]["message"], events[0]


def test_live_runner_reports_an_unreachable_server():
    import socket

    requests, transport = addon_module("requests"), addon_module("transport")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = transport.LiveRunner(transport.Settings(address=f"127.0.0.1:{port}"),
                                  requests.live_config({"seed": 1}, SLOTS[:1], 64, 64))
    runner.start()
    events = _drain_until(runner, ("ended",), 30)
    assert [e["type"] for e in events] == ["error", "ended"] and "Cannot reach the server" in events[0]["message"]
