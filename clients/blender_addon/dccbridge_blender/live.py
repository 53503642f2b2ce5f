"""Live mode's state, without bpy or grpc: which scene changes matter to which inputs, the debounce, the inputs'
fingerprints (so an unchanged depth pass or pose is not resent), frame numbers and the counters the panel shows.

live_host.py feeds it from Blender (depsgraph updates, the timer) and transport.LiveRunner's events; everything
here is plain data, so tests/test_blender_addon_live_units.py checks it without Blender.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time

# The inputs a live frame can carry: the control units' sources and the render as img2img init image.
DEPTH, POSE, CANNY, IMAGE = "depth", "openpose", "canny", "image"
ALL_INPUTS = frozenset((DEPTH, POSE, CANNY, IMAGE))
RENDERED = frozenset((DEPTH, CANNY, IMAGE))          # what a change of the rendered scene can alter
COLOUR = frozenset((CANNY, IMAGE))                   # what a material / shading change can alter
GEOMETRY_IDS = frozenset(("MESH", "CURVE", "CURVES", "METABALL", "VOLUME", "POINTCLOUD", "GREASEPENCIL",
                          "GREASEPENCIL_V3", "LATTICE"))   # ID.id_type of data that renders


def live_size(width: float, height: float, long_side: int, multiple: int = 8) -> tuple[int, int]:
    """The render's aspect at `long_side` pixels on its longer side, both sides multiples of `multiple`."""
    if width <= 0 or height <= 0:
        raise ValueError(f"render size {width}x{height}: both sides must be positive")
    scale = long_side / max(width, height)

    def r(v):
        return max(multiple, int(round(v * scale / multiple)) * multiple)
    return r(width), r(height)


def classify(updates, camera: str, camera_data: str = "", armatures=()) -> set:
    """Which inputs a depsgraph update may have changed. `updates`: (id_kind, name, object_type, transform,
    geometry, shading) per DepsgraphUpdate — id_kind is the ID's `id_type`: "OBJECT" (object_type MESH, ARMATURE,
    CAMERA, ...), "CAMERA" (camera data), "MESH", "MATERIAL", "SCENE", "IMAGE", ...; camera / camera_data: the
    active camera object's and its data's names; armatures: the Pose unit's armature objects (empty: any).

    Scene, image, world, text... updates change nothing here, nor does a camera data update without a flag (a
    background image added) or the camera object's "geometry" alone (a render-resolution change): the add-on's
    own edits look like that and must not start another capture."""
    dirty = set()
    for id_kind, name, object_type, transform, geometry, shading in updates:
        if id_kind == "OBJECT":
            if object_type == "CAMERA":
                if name == camera and transform:
                    dirty |= ALL_INPUTS              # the view itself moved: everything looks different
            elif object_type == "ARMATURE":
                if (transform or geometry) and (not armatures or name in armatures):
                    dirty.add(POSE)                  # the meshes it deforms come as their own updates
            elif object_type in ("LIGHT", "LIGHT_PROBE", "LIGHTPROBE"):
                if transform or geometry:
                    dirty |= COLOUR
            else:                                    # meshes, curves, text, empties with instances...
                if transform or geometry:
                    dirty |= RENDERED
                if shading:
                    dirty |= COLOUR
        elif id_kind == "CAMERA":                     # lens, clip range, sensor
            if name == (camera_data or camera) and (transform or geometry or shading):
                dirty |= ALL_INPUTS
        elif id_kind in GEOMETRY_IDS:                 # edit-mode changes of object data
            if transform or geometry:
                dirty |= RENDERED
            if shading:
                dirty |= COLOUR
        elif id_kind in ("MATERIAL", "NODETREE", "LIGHT", "WORLD"):
            dirty |= COLOUR
    return dirty


class Debouncer:
    """Trailing-edge debounce: fires once `delay_s` after the last poke; during a long run of pokes (dragging) it
    also fires every `max_wait_s` so the image keeps following."""

    def __init__(self, delay_s: float, max_wait_s: float | None = None):
        self.delay_s = delay_s
        self.max_wait_s = max_wait_s if max_wait_s is not None else 4 * delay_s
        self.first = None      # when the current run of pokes began
        self.last = None       # the latest poke

    def poke(self, now: float) -> None:
        if self.first is None:
            self.first = now
        self.last = now

    @property
    def pending(self) -> bool:
        return self.last is not None

    def due(self, now: float) -> bool:
        """True once per run of pokes, when it is time to act (the run is then over)."""
        if self.last is None:
            return False
        if now - self.last >= self.delay_s or now - self.first >= self.max_wait_s:
            self.first = self.last = None
            return True
        return False


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_METADATA = (b"tEXt", b"zTXt", b"iTXt", b"tIME")


def png_content(data: bytes) -> bytes:
    """A PNG without its metadata chunks: Blender writes the render time (and date) into every saved render, so
    two renders of the same pixels differ in their bytes. Anything that is not a PNG comes back as it is."""
    data = bytes(data)
    if not data.startswith(PNG_SIGNATURE):
        return data
    kept, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind not in PNG_METADATA:
            kept.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return b"".join(kept)


def _digest(data) -> str:
    return hashlib.blake2b(png_content(data), digest_size=16).hexdigest()


def fingerprint(value) -> str:
    """A digest of an input: bytes as they are (a PNG without its metadata); anything else (a depth dict with its
    float bytes, near and far; pose keypoints) as canonical JSON with each bytes value replaced by its digest."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _digest(value)
    return _digest(json.dumps(value, sort_keys=True, default=_digest).encode())


class InputTracker:
    """The fingerprint of each input as last sent: an input whose fingerprint is unchanged is left out of the
    next frame (the server keeps the previous one)."""

    def __init__(self):
        self.sent: dict = {}

    def changed(self, captured: dict) -> dict:
        """captured: {input: value}; returns the entries that differ from what was last sent."""
        return {key: value for key, value in captured.items() if self.sent.get(key) != fingerprint(value)}

    def mark_sent(self, inputs: dict) -> None:
        for key, value in inputs.items():
            self.sent[key] = fingerprint(value)


class LiveState:
    """One session as the panel sees it: frame numbers, counters and the latency of the last answer."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.session_id = ""
        self.frame = 0                 # the last frame number sent
        self.sent_at: dict = {}        # frame -> clock() when it was handed to the network thread
        self.log: list = []            # (frame, sorted input names) per frame sent: what each carried
        self.sent = self.answered = self.superseded = self.reused = self.failed = 0
        self.last_latency_ms = 0.0
        self.last_server_ms = 0.0
        self.last_result_frame = 0
        self.last_error = ""
        self.closed: dict | None = None    # the server's LiveClosed, once it came
        self.opened: dict | None = None

    def next_frame(self, inputs) -> int:
        self.frame += 1
        self.sent += 1
        self.sent_at[self.frame] = self.clock()
        self.log.append((self.frame, sorted(inputs)))
        return self.frame

    @property
    def outstanding(self) -> int:
        """Frames sent and not answered yet (result, superseded or failed)."""
        return len(self.sent_at)

    def on_event(self, event: dict) -> str:
        """Count one event from transport.live_event_dict; returns its type."""
        kind = event["type"]
        if kind == "opened":
            self.session_id = event["session_id"]
            self.opened = event
        elif kind == "result":
            self.answered += 1
            self.reused += bool(event.get("reused"))
            sent = self.sent_at.pop(event["frame"], None)
            if sent is not None:
                self.last_latency_ms = (event.get("received_at", self.clock()) - sent) * 1000.0
            self.last_server_ms = event.get("total_ms", 0.0)
            self.last_result_frame = max(self.last_result_frame, event["frame"])
            self._forget_older(event["frame"])
        elif kind == "superseded":
            self.superseded += 1
            self.sent_at.pop(event["frame"], None)
        elif kind == "frame_failed":
            self.failed += 1
            self.sent_at.pop(event["frame"], None)
            field = f" ({event['field']})" if event.get("field") else ""
            self.last_error = f"frame {event['frame']}: {event.get('code', '')}: {event.get('message', '')}{field}"
        elif kind == "closed":
            self.closed = event
        elif kind == "error":
            self.last_error = event.get("message", "")
        return kind

    def _forget_older(self, frame: int) -> None:
        # Every frame gets exactly one answer; one that never did (a lost answer) must not pin the counter.
        for older in [f for f in self.sent_at if f < frame - 64]:
            del self.sent_at[older]

    def summary(self) -> str:
        text = (f"{self.sent} sent · {self.answered} answered · {self.superseded} superseded · "
                f"{self.reused} reused")
        if self.failed:
            text += f" · {self.failed} failed"
        if self.answered:
            text += f" · {self.last_latency_ms:.0f} ms"
        return text
