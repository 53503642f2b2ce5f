"""Property-based fuzzing of both faces: requests generated from the proto schema (every field of every message the
service takes, walked through the descriptors) with hostile values -- out-of-range and huge/negative integers, NaN
and infinities, unknown enum values, weird and long strings, garbage and lying image bytes, empty and nested
oneofs -- sent to Submit and to GetJob / Cancel / ListJobs / Watch on gRPC and on Connect (binary protobuf and
JSON). Whatever comes in, no answer is INTERNAL or UNKNOWN, no message shows a host path, and the server stays
SERVING. At least MIN_EXAMPLES requests per face per run (more with DCCBRIDGE_FUZZ_EXAMPLES).

The dedicated server has small limits (64 x 64, 2 steps, batch 2), so any request that happens to be valid is cheap;
accepted jobs are cancelled at once. Raw bytes that are not a protobuf at all are another test's concern (the
safe-deserializer work of issue 14), so every request here is a well-formed message.
"""

from __future__ import annotations

import json
import os
import struct

import cv2
import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dccbridge.imaging import encode_jpeg, encode_png
from dccbridge.ops import Limits
from dccbridge.v1 import jobs_pb2, service_pb2, service_pb2_grpc

from lying_images import jpeg_claiming, png16_claiming, png_claiming
from conftest import SERVING, health_status, running_server

MIN_EXAMPLES = 200
EXAMPLES = max(MIN_EXAMPLES, int(os.environ.get("DCCBRIDGE_FUZZ_EXAMPLES", "0") or 0))
SERVICE = "dccbridge.v1.DccBridgeService"
BAD_CODES = {"INTERNAL", "UNKNOWN"}
FUZZ_LIMITS = Limits(max_width=64, max_height=64, max_pixels=64 * 64, max_batch=2, max_steps=2,
                     max_input_pixels=128 * 128, max_upscale_input_pixels=64 * 64)
ODDS = (2, 6, 20)
MAX_DEPTH = 6  # message nesting: Submit > Task > GenerateTask > ControlUnit > PreprocessSource > Image

# -- values ---------------------------------------------------------------------------------------

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
EDGE_INTS = (0, 1, -1, 2, 7, 8, 16, 32, 63, 64, 65, 100, 150, 151, 255, 256, 500, 501, 2048, 4096, 60_000, 60_001,
             2**31 - 1, -2**31, 2**32 - 1, 2**53, 2**63 - 1, -2**63, 2**64 - 1)
EDGE_FLOATS = (0.0, -0.0, 0.5, 1.0, -1.0, 2.0, 30.0, 1e-30, 1e30, 3.4e38, -3.4e38, float("nan"), float("inf"),
               float("-inf"))
EDGE_STRINGS = ("", "tiny", "canny", "depth", "openpose", "unipc", "euler_a", "esrgan", "builtin:tiny",
                "../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini", "x" * 5000, "\x00", "\n\r", "🙂" * 50,
                "NaN", "-1", "0", "99999999999999999999", "' OR 1=1 --", "%s%n", "<script>", " tiny ")






def png16(width: int, height: int) -> bytes:
    ok, buf = cv2.imencode(".png", (np.arange(width * height, dtype=np.uint16).reshape(height, width) * 97) + 1)
    assert ok
    return buf.tobytes()


def webp(side: int) -> bytes:
    ok, buf = cv2.imencode(".webp", np.full((side, side, 3), 90, np.uint8))
    assert ok
    return buf.tobytes()


def gradient(side: int, channels: int) -> np.ndarray:
    ramp = np.linspace(0, 255, side * side, dtype=np.float32).reshape(side, side).astype(np.uint8)
    return ramp if channels == 1 else np.dstack([ramp] * channels)


IMAGE_BYTES = (
    b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"GIF89a", b"\x00" * 64,
    encode_png(gradient(64, 3)), encode_png(gradient(8, 1)), encode_png(gradient(16, 4)), encode_png(gradient(128, 3)),
    encode_png(gradient(256, 3)), encode_png(gradient(64, 3))[:60], encode_jpeg(gradient(64, 3)), webp(32),
    png16(16, 16), png16(64, 64), png_claiming(100_000, 100_000), png_claiming(0, 0), png_claiming(2**31 - 1, 1),
    jpeg_claiming(60_000, 60_000), jpeg_claiming(0, 5), png_claiming(16, 16),
)


def lying_headers() -> st.SearchStrategy[bytes]:
    """A PNG, 16-bit PNG or JPEG whose header claims any size (the pixel data stays 8 x 8)."""
    sides = st.one_of(st.sampled_from((0, 1, 8, 4096, 4097, 16384, 16385, 65535, 100_000, 2**31 - 1)),
                      st.integers(0, 2**32 - 1))
    png_sized = st.tuples(sides, sides).map(lambda size: png_claiming(*size))
    png16_sized = st.tuples(sides, sides).map(lambda size: png16_claiming(*size))
    jpeg_sized = st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda size: jpeg_claiming(*size))
    return st.one_of(png_sized, png16_sized, jpeg_sized)




def float_planes() -> st.SearchStrategy[tuple[int, int, bytes]]:
    """A float32 depth plane whose byte count matches its size, with NaN/inf/negative values mixed in."""
    values = st.sampled_from((0.0, 1.0, 2.5, 10.0, 1e10, -1.0, float("nan"), float("inf"), float("-inf"), 65504.0))

    @st.composite
    def plane(draw):
        width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        base = draw(values)
        data = np.full((height, width), base, np.float32)
        data[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = draw(values)
        data[0, 0] = draw(st.floats(width=32, allow_nan=True, allow_infinity=True))
        return width, height, data.astype("<f4").tobytes()

    return plane()


def integers(kind: int) -> st.SearchStrategy[int]:
    low, high = INT_RANGES[kind]
    edges = [v for v in EDGE_INTS if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high), st.integers(max(low, -4), min(high, 70)))


# Plausible values per field name: mixed in with the hostile ones so that generated requests get past the first
# check and reach the deeper ones (decoding, control maps, adapters, planning).
PLAUSIBLE = {
    "width": (0, 32, 64), "height": (0, 32, 64), "canvas_width": (64,), "canvas_height": (64,),
    "num_inference_steps": (1, 2), "num_images_per_prompt": (1, 2), "guidance_scale": (0.0, 5.0), "seed": (-1, 7),
    "scheduler": ("", "unipc", "euler_a"), "model_id": ("",), "controlnet_id": ("",), "upscaler_id": ("",),
    "prompt": ("a cube",), "negative_prompt": ("", "blurry"), "strength": (0.5, 1.0),
    "controlnet_conditioning_scale": (1.0,), "control_guidance_start": (0.0,), "control_guidance_end": (1.0,),
    "scale": (1.0, 1.5), "tile_size": (0, 64), "tile_overlap": (0, 8), "page_size": (0, 5), "wait_ms": (0,),
    "near": (0.0, 0.1), "far": (0.0, 100.0), "fov_y_degrees": (50.0,), "ortho_height": (2.0,), "png16_scale": (0.0,),
    "x": (0.0, 10.0, 63.0), "y": (0.0, 20.0, 63.0), "low_threshold": (100,), "high_threshold": (200,),
    "preview_every_n_steps": (0, 1), "preview_max_size": (0, 64), "job_id": ("",), "page_token": ("", "5"),
    "after_sequence": (0,), "weight": (0.5, 1.0), "camera_to_world": (1.0, 0.0),
}
PLAUSIBLE_IMAGES = (encode_png(gradient(64, 3)), encode_png(gradient(32, 1)), png16(32, 32),
                    encode_jpeg(gradient(64, 3)))


def scalar(field: FieldDescriptor, odds: int) -> st.SearchStrategy:
    """A value for a scalar field: hostile one time in `odds`, else plausible. Requests drawn with long odds get
    past the first checks to the deep ones (decoding, control maps, planning), and some are valid altogether, so
    the accepted path is fuzzed too."""
    hostile = _hostile(field)
    if field.name in PLAUSIBLE:
        plausible = st.sampled_from(PLAUSIBLE[field.name])
    elif field.type == FieldDescriptor.TYPE_ENUM:
        plausible = st.sampled_from([v.number for v in field.enum_type.values if v.number])
    elif field.type == FieldDescriptor.TYPE_BYTES:
        plausible = st.sampled_from(PLAUSIBLE_IMAGES)
    else:
        return hostile
    return st.integers(0, odds - 1).flatmap(lambda n: hostile if n == odds - 1 else plausible)


def _hostile(field: FieldDescriptor) -> st.SearchStrategy:
    kind = field.type
    if kind in INT_RANGES:
        return integers(kind)
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        width = 32 if kind == FieldDescriptor.TYPE_FLOAT else 64
        return st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(width=width), st.floats(0, 1, width=width))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.sampled_from(known + [-1, max(known) + 1, 99, 2**31 - 1])
    if kind == FieldDescriptor.TYPE_STRING:
        edge = st.sampled_from(EDGE_STRINGS)
        return st.one_of(edge, edge, st.integers(-2**80, 2**80).map(str), st.text(max_size=40))
    if kind == FieldDescriptor.TYPE_BYTES:
        known = st.sampled_from(IMAGE_BYTES)
        return st.one_of(known, known, lying_headers(), st.binary(max_size=64))
    raise AssertionError(f"no strategy for {field.full_name} (type {kind})")


# -- messages from descriptors --------------------------------------------------------------------


@st.composite
def messages(draw, descriptor, depth: int = 0, odds: int | None = None):
    """A message of `descriptor` with a random subset of its fields set, each to a plausible or a hostile value
    (see scalar); per oneof, none or one member; repeated fields get 0..3 elements (repeated numbers 0..17, around
    a 4x4 matrix)."""
    message = message_factory.GetMessageClass(descriptor)()
    if odds is None:  # per request: wild (every other value hostile), picky (1 in 6) or calm (1 in 20)
        odds = draw(st.sampled_from(ODDS))
    # Some oneofs are left empty; "_x" oneofs are proto3 `optional` fields, drawn like any field. (Hypothesis
    # favours small draws, so "skip" is the largest value.)
    chosen = {oneof.name: None if draw(st.integers(0, 7)) == 7 else draw(st.sampled_from(list(oneof.fields)))
              for oneof in descriptor.oneofs if not oneof.name.startswith("_")}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in chosen:
            if chosen[oneof.name] != field:
                continue
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
            if depth and draw(st.integers(0, 4)) == 4:  # mostly there, so the checks inside are reached
                continue
        elif draw(st.integers(0, 3)) == 3:  # a scalar left at its default (0, "", an enum's UNSPECIFIED)
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= MAX_DEPTH:
                continue
            sub = messages(field.message_type, depth + 1, odds)
            if field.message_type.name == "DepthPass":
                sub = st.one_of(sub, coherent_depth_passes(field.message_type))
            if field.is_repeated:
                for item in draw(st.lists(sub, max_size=2 if depth > 2 else 3)):
                    getattr(message, field.name).add().CopyFrom(item)
            else:
                getattr(message, field.name).CopyFrom(draw(sub))
                getattr(message, field.name).SetInParent()  # present even when empty (a set, empty oneof member)
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(scalar(field, odds), max_size=17)))
        else:
            setattr(message, field.name, draw(scalar(field, odds)))
    return message


@st.composite
def coherent_depth_passes(draw, descriptor):
    """A DepthPass whose float plane matches its size (so the checks behind the byte count are reached too)."""
    message = message_factory.GetMessageClass(descriptor)()
    width, height, data = draw(float_planes())
    message.width, message.height, message.float32_le = width, height, data
    message.encoding = draw(st.sampled_from([0, 1, 2, 3, 7]))
    message.near = draw(st.sampled_from([0.0, 0.1, 5.0, -1.0, float("nan"), float("inf")]))
    message.far = draw(st.sampled_from([0.0, 100.0, 0.05, float("inf"), float("nan")]))
    return message


SUBMITS = messages(service_pb2.SubmitRequest.DESCRIPTOR)
OTHER_CALLS = st.one_of(
    st.tuples(st.just("GetJob"), messages(service_pb2.GetJobRequest.DESCRIPTOR)),
    st.tuples(st.just("Cancel"), messages(service_pb2.CancelRequest.DESCRIPTOR)),
    st.tuples(st.just("ListJobs"), messages(service_pb2.ListJobsRequest.DESCRIPTOR)),
    st.tuples(st.just("Watch"), messages(service_pb2.WatchRequest.DESCRIPTOR)),
)
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                         suppress_health_check=list(HealthCheck))


def harmless(method: str, request):
    """Keep a generated call from blocking: GetJob's long-poll waits at most a moment (its limit is still probed:
    above 60000 it is refused at once)."""
    if method == "GetJob" and 0 < request.wait_ms <= 60_000:
        request.wait_ms = min(request.wait_ms, 50)
    return request


# -- the faces --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("fuzz"), http_port=0, limits=FUZZ_LIMITS, max_queue=64) as srv:
        yield srv


@pytest.fixture(scope="module")
def stub(fuzz_server):
    with grpc.insecure_channel(f"127.0.0.1:{fuzz_server.port}") as channel:
        yield service_pb2_grpc.DccBridgeServiceStub(channel)


@pytest.fixture(scope="module")
def http(fuzz_server):
    with httpx.Client(base_url=f"http://127.0.0.1:{fuzz_server.http_port}/{SERVICE}/", timeout=60) as c:
        yield c


class Outcomes:
    """What a face answered: counts per code, for the assertion messages and the summary."""

    def __init__(self):
        self.codes: dict[str, int] = {}

    def add(self, code: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


def check_answer(code: str, message: str, data_dir: str, what) -> None:
    assert code not in BAD_CODES, f"{code}: {message}\nrequest: {what}"
    assert data_dir not in message, f"a host path in: {message}"


def grpc_call(stub, method: str, request, data_dir: str) -> tuple[str, object]:
    try:
        call = getattr(stub, method)
        response = list(call(request, timeout=30)) if method == "Watch" else call(request, timeout=30)
        return "OK", response
    except grpc.RpcError as error:
        check_answer(error.code().name, error.details() or "", data_dir, (method, request))
        return error.code().name, None


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def http_call(http, method: str, request, data_dir: str, use_json: bool) -> tuple[str, object]:
    """One call over Connect: unary as binary protobuf or JSON; Watch as a Connect stream (binary frames)."""
    response_type = {"Submit": service_pb2.SubmitResponse, "GetJob": service_pb2.GetJobResponse,
                     "Cancel": service_pb2.CancelResponse, "ListJobs": service_pb2.ListJobsResponse}.get(method)
    if method == "Watch":
        response = http.post(method, content=envelope(request.SerializeToString()),
                             headers={"content-type": "application/connect+proto"})
        assert response.status_code == 200, response.text[:300]
        body, end = response.content, None
        while body:
            flags, length = struct.unpack(">BI", body[:5])
            if flags & 0x02:
                end = json.loads(body[5:5 + length] or b"{}")
            body = body[5 + length:]
        assert end is not None, "a Connect stream without its end message"
        error = end.get("error")
        if error is None:
            return "OK", None
        code = error["code"].upper()
        check_answer(code, error.get("message", ""), data_dir, (method, request))
        return code, None
    if use_json:
        response = http.post(method, content=json_format.MessageToJson(request),
                             headers={"content-type": "application/json"})
    else:
        response = http.post(method, content=request.SerializeToString(),
                             headers={"content-type": "application/proto"})
    if response.status_code == 200:
        parsed = response_type()
        if use_json:
            json_format.Parse(response.text, parsed)
        else:
            parsed.ParseFromString(response.content)
        return "OK", parsed
    body = response.json()  # a Connect error is JSON whatever the request's codec
    code = "CANCELLED" if body["code"] == "canceled" else body["code"].upper()
    check_answer(code, body.get("message", ""), data_dir, (method, request))
    return code, None


def cancel_if_accepted(cancel, code: str, response) -> None:
    if code == "OK" and response is not None and response.job.job_id:
        cancel(response.job.job_id)


def assert_no_job_failed_internally(stub) -> None:
    """Jobs that started before their cancel landed ran the ops: none may have failed as INTERNAL / UNKNOWN."""
    failed, token = [], ""
    while True:
        page = stub.ListJobs(service_pb2.ListJobsRequest(page_size=500, page_token=token), timeout=30)
        failed += [job.failure for job in page.jobs if job.HasField("failure")]
        token = page.next_page_token
        if not token:
            break
    bad = [f for f in failed if f.code in (jobs_pb2.ERROR_CODE_INTERNAL, jobs_pb2.ERROR_CODE_UNKNOWN)]
    assert not bad, bad


# -- the properties -----------------------------------------------------------------------------


def test_grpc_face_answers_every_generated_request_without_internal(fuzz_server, stub):
    data_dir = str(fuzz_server.config.data_dir)
    outcomes = Outcomes()

    @FUZZ_SETTINGS
    @given(submit=SUBMITS, other=OTHER_CALLS)
    def one(submit, other):
        code, response = grpc_call(stub, "Submit", submit, data_dir)
        outcomes.add(code)
        cancel_if_accepted(lambda job_id: stub.Cancel(service_pb2.CancelRequest(job_id=job_id), timeout=30),
                           code, response)
        method, request = other
        outcomes.add(grpc_call(stub, method, harmless(method, request), data_dir)[0])

    one()
    assert sum(outcomes.codes.values()) >= 2 * MIN_EXAMPLES, outcomes.codes
    assert health_status(f"127.0.0.1:{fuzz_server.port}") == SERVING
    assert_no_job_failed_internally(stub)
    print("gRPC outcomes:", outcomes.codes)


def test_http_face_answers_every_generated_request_without_internal(fuzz_server, http, stub):
    data_dir = str(fuzz_server.config.data_dir)
    outcomes = Outcomes()

    def cancel(job_id):
        assert http.post("Cancel", json={"jobId": job_id}).status_code == 200

    @FUZZ_SETTINGS
    @given(submit=SUBMITS, other=OTHER_CALLS, use_json=st.booleans())
    def one(submit, other, use_json):
        code, response = http_call(http, "Submit", submit, data_dir, use_json)
        outcomes.add(code)
        cancel_if_accepted(cancel, code, response)
        method, request = other
        outcomes.add(http_call(http, method, harmless(method, request), data_dir, use_json)[0])

    one()
    assert sum(outcomes.codes.values()) >= 2 * MIN_EXAMPLES, outcomes.codes
    assert health_status(f"127.0.0.1:{fuzz_server.port}") == SERVING
    assert http.post("GetCapabilities", json={}).status_code == 200
    assert_no_job_failed_internally(stub)
    print("HTTP outcomes:", outcomes.codes)
