"""What a hostile client found (issue 14), each through a real server and, where the defect was on both, on both
faces: images whose header claims more pixels than the budget (refused from the header, never decoded), a valid
but huge PNG, ListJobs page tokens that overflow SQLite, result files removed from disk, unknown or path-like
model/ControlNet/adapter ids, and the clear-text token warning. None of it may end INTERNAL or show a host path."""

from __future__ import annotations

import functools
import logging
import struct
import zlib

import cv2
import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format

from dccbridge.api.security import clear_text_token_warning
from dccbridge.client import depth_pass_from_array
from dccbridge.imaging import encode_png
from dccbridge.ops import Limits
from dccbridge.serve import ServeConfig, Server
from dccbridge.v1 import control_pb2, jobs_pb2, media_pb2, service_pb2, tasks_pb2

from lying_images import jpeg_claiming, png16_claiming, png_claiming
from conftest import SERVING, generate_task, health_status, running_server

SERVICE = "dccbridge.v1.DccBridgeService"
FIELD = "dccbridge-field"
BOMB_SIDE = 100_000


# -- inputs ---------------------------------------------------------------------------------------








@functools.lru_cache(maxsize=1)
def huge_valid_png(side: int = 16000) -> bytes:
    """A real, decodable side x side greyscale PNG of a few hundred KiB (rows deflated one at a time, so making it
    costs no memory either)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + a black row
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def image(data: bytes) -> media_pb2.Image:
    return media_pb2.Image(data=data)


def ok_png(size: int = 64) -> media_pb2.Image:
    return image(encode_png(np.zeros((size, size, 3), np.uint8)))


def unit(control_type=control_pb2.CONTROL_TYPE_CANNY, **source) -> control_pb2.ControlUnit:
    return control_pb2.ControlUnit(control_type=control_type, **source)


CAMERA = tasks_pb2.Camera(camera_to_world=[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], fov_y_degrees=50,
                          near=0.1, far=100)


def image_fields(bomb: bytes, bomb16: bytes) -> dict[str, tasks_pb2.Task]:
    """Every image-carrying field of every task, holding `bomb` (`bomb16` for 16-bit depth): field -> task."""
    return {
        "init_image": generate_task(init_image=image(bomb)),
        "mask_image": generate_task(init_image=ok_png(), mask_image=image(bomb)),
        "control_units[0].image": generate_task(control_units=[unit(image=image(bomb))]),
        "control_units[0].preprocess.image": generate_task(control_units=[
            unit(preprocess=control_pb2.PreprocessSource(image=image(bomb)))]),
        "control_units[0].reference.images[1]": generate_task(control_units=[unit(
            control_pb2.CONTROL_TYPE_REFERENCE, reference=control_pb2.ReferenceImages(images=[ok_png(), image(bomb)]))]),
        "control_units[0].depth_pass.png16": generate_task(control_units=[unit(
            control_pb2.CONTROL_TYPE_DEPTH,
            depth_pass=media_pb2.DepthPass(png16=bomb16, encoding=media_pb2.DEPTH_ENCODING_LINEAR))]),
        "depth_pass.png16": tasks_pb2.Task(depth2img=tasks_pb2.Depth2ImgTask(
            prompt="x", width=64, height=64, init_image=ok_png(),
            depth_pass=media_pb2.DepthPass(png16=bomb16, encoding=media_pb2.DEPTH_ENCODING_LINEAR))),
        "projection.view_image": tasks_pb2.Task(texture=tasks_pb2.TextureTask(
            prompt="x", width=64, height=64, projection=tasks_pb2.ProjectionView(camera=CAMERA,
                                                                                 view_image=image(bomb)))),
        "unit.image": tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(
            unit=unit(image=image(bomb)), width=64, height=64)),
        "image": tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=image(bomb))),
    }


# -- calling both faces ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}/{SERVICE}/", timeout=60) as c:
        yield c


def refusals(client, http, method: str, request) -> list[tuple[str, str, str, str | None]]:
    """The same request on gRPC and on Connect JSON (images as base64): [(face, code, message, field trailer)].
    Both must fail."""
    with pytest.raises(grpc.RpcError) as error:
        getattr(client.stub, method)(request, timeout=60)
    found = [("grpc", error.value.code().name, error.value.details(),
              dict(error.value.trailing_metadata() or ()).get(FIELD))]
    response = http.post(method, json=json_format.MessageToDict(request))
    assert response.status_code >= 400, response.text[:200]
    body = response.json()
    found.append(("http", body["code"].upper(), body["message"], response.headers.get(f"trailer-{FIELD}")))
    return found


def assert_refused(client, http, method, request, code: str, field: str | None, phrase: str = "") -> list[str]:
    messages = []
    for face, got_code, message, got_field in refusals(client, http, method, request):
        assert (got_code, got_field) == (code, field), (face, got_code, message, got_field)
        if field:
            assert message.startswith(f"{field}:"), (face, message)
        assert phrase in message, (face, message)
        messages.append(message)
    return messages


def submit(task) -> service_pb2.SubmitRequest:
    return service_pb2.SubmitRequest(task=task)


# -- images above the pixel budget are refused from the header ------------------------------------


@pytest.mark.parametrize("field", list(image_fields(b"", b"")))
def test_a_header_claiming_100000_squared_pixels_is_invalid_argument_in_every_image_field(
        client, http, address, field, monkeypatch):
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: decoded.append(len(buf)) or real_imdecode(buf, flags))
    bomb, bomb16 = png_claiming(BOMB_SIDE, BOMB_SIDE), png16_claiming(BOMB_SIDE, BOMB_SIDE)
    task = image_fields(bomb, bomb16)[field]
    expected_phrase = "8192" if field.endswith("png16") else f"{BOMB_SIDE}x{BOMB_SIDE}"
    assert_refused(client, http, "Submit", submit(task), "INVALID_ARGUMENT", field, expected_phrase)
    assert len(bomb) not in decoded and len(bomb16) not in decoded  # never handed to the decoder
    assert health_status(address) == SERVING


def test_jpeg_headers_are_read_too(client, http):
    assert_refused(client, http, "Submit", submit(generate_task(init_image=image(jpeg_claiming(60000, 60000)))),
                   "INVALID_ARGUMENT", "init_image", "60000x60000 = 3600000000 pixels")


def test_a_valid_16000_squared_png_is_refused_before_it_is_decoded(client, http, monkeypatch):
    png = huge_valid_png()
    assert len(png) < 1024 * 1024  # tiny on the wire, 256 MB (grey) to 1 GB (RGBA) once decoded
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda buf, flags: decoded.append(len(buf)) or real_imdecode(buf, flags))
    for field, task in image_fields(png, png).items():
        if field.endswith("png16"):
            continue  # a depth PNG has its own side limit (8192), checked from the header as well
        phrase = "16000x16000 = 256000000 pixels" if field != "image" else "the output would be 32000x32000"
        assert_refused(client, http, "Submit", submit(task), "INVALID_ARGUMENT",
                       field if field != "image" else "scale", phrase)
    assert len(png) not in decoded


def test_the_budget_is_configurable_and_a_real_image_above_it_is_refused(tmp_path):
    limits = Limits(max_input_pixels=32 * 32, max_upscale_input_pixels=48 * 48)
    with running_server(tmp_path, limits=limits) as srv:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            from dccbridge.v1 import service_pb2_grpc

            stub = service_pb2_grpc.DccBridgeServiceStub(channel)
            for task, field, budget in ((generate_task(init_image=ok_png(64)), "init_image", 1024),
                                        (tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=ok_png(64))), "image",
                                         2304)):
                with pytest.raises(grpc.RpcError) as error:
                    stub.Submit(submit(task), timeout=30)
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert error.value.details() == (f"{field}: is 64x64 = 4096 pixels; this server decodes inputs of at "
                                                 f"most {budget} pixels (about {int(budget ** 0.5)}x"
                                                 f"{int(budget ** 0.5)})")
            job = stub.Submit(submit(generate_task(init_image=ok_png(32), strength=0.5, steps=2)), timeout=30).job
            assert job.job_id  # at the budget: accepted
            stub.Cancel(service_pb2.CancelRequest(job_id=job.job_id), timeout=30)


def test_budgets_above_the_decoders_own_limit_are_refused_at_start():
    with pytest.raises(ValueError, match="max_input_pixels must be between 1 and 1073741824"):
        Limits(max_input_pixels=1 << 31)


def test_serve_takes_the_budgets_as_counts_or_sizes():
    from dccbridge.cli.serve import _pixel_count

    assert _pixel_count("4096x4096") == _pixel_count("16777216") == 4096 * 4096
    with pytest.raises(Exception, match="WIDTHxHEIGHT"):
        _pixel_count("big")


# -- ListJobs page tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["99999999999999999999", "-1", "1e3", "abc", "١٢"])
def test_list_jobs_page_token_out_of_range_is_invalid_argument_on_both_faces(client, http, address, token):
    assert_refused(client, http, "ListJobs", service_pb2.ListJobsRequest(page_token=token), "INVALID_ARGUMENT",
                   "page_token", "previous ListJobs response")
    assert health_status(address) == SERVING


# -- results removed from disk ----------------------------------------------------------------------


def test_a_removed_result_file_is_data_loss_without_a_host_path_on_both_faces(client, http, server):
    job_id = client.submit(generate_task(steps=2, seed=77)).job_id
    job = client.wait_result(job_id, timeout_s=120)
    files = [item.path for item in job.result.images]
    from pathlib import Path

    for path in files:
        Path(path).unlink()
    messages = assert_refused(client, http, "GetJob", service_pb2.GetJobRequest(job_id=job_id), "DATA_LOSS", None,
                              "result image 0 (image) is no longer in the server's storage")
    with pytest.raises(grpc.RpcError) as error:
        list(client.watch(job_id))
    assert error.value.code() == grpc.StatusCode.DATA_LOSS
    for message in [*messages, error.value.details()]:
        assert str(server.config.data_dir) not in message and "/" not in message, message
    # what is left (state, metadata) stays readable without the image bytes
    assert client.get_job(job_id, omit_image_data=True).result.metadata_json


# -- ids: unknown ones are NOT_FOUND at Submit naming the field, echoed short ----------------------


def test_a_path_like_controlnet_id_is_refused_at_submit_naming_the_field(client, http):
    task = generate_task(control_units=[unit(image=ok_png(), controlnet_id="../../etc/passwd")])
    (message, _) = assert_refused(client, http, "Submit", submit(task), "NOT_FOUND",
                                  "control_units[0].controlnet_id", "unknown canny ControlNet '../../etc/passwd'")
    assert "available: builtin:tiny-canny, canny" in message


def test_the_control_types_name_is_a_controlnet_id(client):
    job = client.submit(generate_task(control_units=[unit(image=ok_png(), controlnet_id="canny")]))
    client.cancel(job.job_id)


def test_a_controlnet_id_cannot_add_a_control_type_the_model_lacks(client, http):
    task = generate_task(control_units=[unit(control_pb2.CONTROL_TYPE_TILE, image=ok_png(), controlnet_id="x/y")])
    assert_refused(client, http, "Submit", submit(task), "UNIMPLEMENTED", None, "has no ControlNet for 'tile'")


def test_a_local_controlnet_path_is_never_listed(tmp_path):
    from dccbridge.domain import ControlType
    from dccbridge.errors import ModelNotFound
    from dccbridge.models.catalog import ModelEntry

    local = str(tmp_path / "controlnet-depth")
    entry = ModelEntry("m", "sd15", "builtin:tiny", controlnets={ControlType.DEPTH: local})
    entry.check_controlnet_id(ControlType.DEPTH, local, "f")  # the operator's own path still works
    with pytest.raises(ModelNotFound) as error:
        entry.check_controlnet_id(ControlType.DEPTH, "other", "control_units[0].controlnet_id")
    assert error.value.field == "control_units[0].controlnet_id" and str(tmp_path) not in error.value.message
    assert error.value.message.endswith("available: depth")


LONG_ID = "x" * 10_000


@pytest.mark.parametrize("field, task", [
    ("model_id", generate_task(model_id=LONG_ID)),
    ("control_units[0].controlnet_id", generate_task(control_units=[unit(image=ok_png(), controlnet_id=LONG_ID)])),
    ("adapters.loras[0].id", generate_task(adapters=tasks_pb2.Adapters(loras=[tasks_pb2.LoraRef(id=LONG_ID)]))),
    ("adapters.embeddings[0]", generate_task(adapters=tasks_pb2.Adapters(embeddings=[LONG_ID]))),
    ("adapters.vae_id", generate_task(adapters=tasks_pb2.Adapters(vae_id=LONG_ID))),
    ("upscaler_id", tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=ok_png(), upscaler_id=LONG_ID))),
])
def test_unknown_ids_are_not_found_naming_the_field_and_echoed_short(client, http, field, task):
    for message in assert_refused(client, http, "Submit", submit(task), "NOT_FOUND", field, "x" * 64 + "..."):
        assert len(message) < 600, message


def test_echoed_ids_in_invalid_arguments_are_short_too(client, http):
    (message, _) = assert_refused(client, http, "Submit", submit(generate_task(scheduler=LONG_ID)),
                                  "INVALID_ARGUMENT", "sampling.scheduler", "x" * 64 + "...")
    assert len(message) < 400
    (message, _) = assert_refused(client, http, "GetJob", service_pb2.GetJobRequest(job_id=LONG_ID + "\n"),
                                  "NOT_FOUND", "job_id", "no job with id")
    assert len(message) < 200 and "\n" not in message


# -- messages never carry a host path -----------------------------------------------------------------


def test_a_failure_naming_a_server_file_is_reported_without_the_path(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(f'default = "tiny"\n[models.tiny]\nsource = "builtin:tiny"\n'
                       f'[models.gone]\nfamily = "sd15"\nsource = "{tmp_path / "weights" / "gone"}"\n')
    with running_server(tmp_path / "data", models=catalog) as srv:
        from dccbridge.client import Client

        with Client(f"127.0.0.1:{srv.port}") as c:
            events = list(c.run(generate_task(model_id="gone", steps=1)))
    failed = events[-1].failed
    assert failed.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION, failed
    assert "'.../gone'" in failed.message and str(tmp_path) not in failed.message, failed.message


def test_an_internal_error_shows_its_type_but_not_its_text():
    from dccbridge.api.status import error_status

    status = error_status(FileNotFoundError(2, "No such file", "/srv/dccbridge/results/x.png"))
    assert status.code == "INTERNAL" and "/srv" not in status.message and "FileNotFoundError" in status.message


# -- depth value errors name one field ------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nan_and_negative_infinity_name_the_same_field(client, http, bad):
    depth = np.full((64, 64), 3.0, np.float32)
    depth[1, 1] = bad
    task = generate_task(control_units=[control_pb2.ControlUnit(
        control_type=control_pb2.CONTROL_TYPE_DEPTH, depth_pass=depth_pass_from_array(depth))])
    assert_refused(client, http, "Submit", submit(task), "INVALID_ARGUMENT",
                   "control_units[0].depth_pass.float32_le", "(1 pixels); mark background with +inf")


# -- operators see a token sent in clear text --------------------------------------------------------


def test_serve_warns_when_a_token_travels_in_clear_text(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="dccbridge")
    # Built, never started: nothing listens on 0.0.0.0.
    server = Server(ServeConfig(host="0.0.0.0", token="secret", port=0, http_port=0, data_dir=tmp_path,
                                device="cpu"))
    server.store.close()
    assert any("token travels in clear text" in record.getMessage() for record in caplog.records)
    assert "secret" not in caplog.text
    assert clear_text_token_warning("0.0.0.0", "t", tls=True) == ""
    assert clear_text_token_warning("127.0.0.1", "t", tls=False) == ""
    assert clear_text_token_warning("render-box.local", None, tls=False) == ""
