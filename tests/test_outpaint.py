"""Outpainting: the image stages directly (layout, fill, feathered mask, composite) and the task through a real
server on the tiny preset -- the family's inpainting model and the base model's inpaint view, margins and aspect,
the exact placement, the original kept outside the feather band, bad inputs, cancel, determinism, the CLI."""

from __future__ import annotations

import json
import struct
import zlib

import grpc
import numpy as np
import pytest

from dccbridge.cli import main as cli_main
from dccbridge.client import Client, outpaint_task
from dccbridge.domain import Anchor, Margins, OutpaintFill
from dccbridge.imaging import encode_png, read_png_text
from dccbridge.ops import canvas
from dccbridge.v1 import jobs_pb2, service_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end, running_server


def photo(width=60, height=52) -> np.ndarray:
    """A smooth, colourful image whose borders differ from grey and from each other."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    rgb = np.stack([np.broadcast_to(40 + 200 * x, (height, width)), np.broadcast_to(220 - 180 * y, (height, width)),
                    60 + 120 * x * y], axis=2)
    return rgb.round().astype(np.uint8)


def sampling(seed=7, steps=2, **fields) -> tasks_pb2.Sampling:
    return tasks_pb2.Sampling(num_inference_steps=steps, seed=seed, **fields)


# -- the image stages, directly --------------------------------------------------------------------------------


def test_layout_pads_an_extended_side_up_to_a_multiple_of_8():
    lay = canvas.layout(60, 52, Margins(left=16, top=0, right=8, bottom=4))
    assert (lay.left, lay.top, lay.right, lay.bottom) == (16, 0, 12, 4)  # 84 -> 88 on the right; 56 already
    assert (lay.canvas_width, lay.canvas_height) == (88, 56)
    only_left = canvas.layout(60, 52, Margins(left=10))  # the right side was not asked to grow: it stays flush
    assert (only_left.left, only_left.right, only_left.top, only_left.bottom) == (12, 0, 0, 4)


@pytest.mark.parametrize(("anchor", "expected"), [
    (Anchor.CENTER, Margins(11, 0, 11, 0)), (Anchor.LEFT, Margins(0, 0, 22, 0)),
    (Anchor.BOTTOM_RIGHT, Margins(22, 0, 0, 0)),
])
def test_margins_for_an_aspect_follow_the_anchor(anchor, expected):
    assert canvas.margins_for_aspect(64, 48, (16, 9), anchor) == expected  # 48 x 16/9 = 85.3 -> 86 wide
    assert canvas.margins_for_aspect(64, 48, (1, 1), Anchor.TOP) == Margins(0, 0, 0, 16)


@pytest.mark.parametrize("mode", list(OutpaintFill))
def test_the_fill_continues_the_image_and_is_not_grey(mode):
    image = photo()
    lay = canvas.layout(60, 52, Margins(left=20, top=12, right=20, bottom=12))
    filled = canvas.fill(image, lay, mode)
    inner = filled[lay.top:lay.top + 52, lay.left:lay.left + 60]
    assert np.array_equal(inner, image), "the original's pixels are unchanged"
    # the first new column / row continues the image's edge, colour for colour
    for new, edge in ((filled[lay.top:lay.top + 52, lay.left - 1], image[:, 0]),
                      (filled[lay.top:lay.top + 52, lay.left + 60], image[:, -1]),
                      (filled[lay.top - 1, lay.left:lay.left + 60], image[0]),
                      (filled[lay.top + 52, lay.left:lay.left + 60], image[-1])):
        assert np.abs(new.astype(int) - edge.astype(int)).mean() < 6, mode
    # far out it is still the image's colours, not flat grey: the left and right margins keep their sides' hues
    left_far = filled[lay.top:lay.top + 52, :4].reshape(-1, 3).mean(axis=0)
    right_far = filled[lay.top:lay.top + 52, -4:].reshape(-1, 3).mean(axis=0)
    assert right_far[0] - left_far[0] > 100, (left_far, right_far)
    assert not np.all(np.abs(filled.astype(int) - 127) < 20)


def test_the_feathered_mask_ramps_only_into_extended_sides():
    lay = canvas.layout(64, 64, Margins(left=16, top=0, right=0, bottom=0))  # 80 wide: no padding needed
    mask = canvas.feather_mask(lay, feather=8)
    assert mask.shape == (64, 80) and mask.dtype == np.float32
    assert np.all(mask[:, :16] == 1.0)
    ramp = mask[32, 16:16 + 10]
    assert np.all(np.diff(ramp[:9]) < 0) and 0 < ramp[7] < ramp[0] < 1 and ramp[8] == 0  # 8 px band, then nothing
    assert np.all(mask[:, 16 + 8:] == 0), "no ramp from the sides that did not grow (top, right, bottom)"
    assert np.all(canvas.feather_mask(lay, feather=0)[:, 16:] == 0)


def test_the_composite_keeps_the_original_exactly_where_the_mask_is_zero():
    lay = canvas.layout(64, 64, Margins(left=16))
    original = canvas.fill(photo(64, 64), lay, OutpaintFill.EDGE)
    generated = np.random.default_rng(0).integers(0, 256, original.shape, dtype=np.uint8)
    mask = canvas.feather_mask(lay, 8)
    out = canvas.composite(original, generated, mask)
    assert np.array_equal(out[mask == 0], original[mask == 0])
    assert np.array_equal(out[mask == 1], generated[mask == 1])
    band = (mask > 0) & (mask < 1)
    assert band.any() and not np.array_equal(out[band], original[band])


# -- through a real server ----------------------------------------------------------------------------------


def run_outpaint(client, task):
    result = result_of(run_to_end(client, task))
    return pixels(result.images[0].image.data), json.loads(result.extra_json), json.loads(result.metadata_json), \
        result


def assert_original_kept(out, image, placement, feather, sides):
    """Pixels farther than `feather` from every extended side equal the original's exactly."""
    x0, y0 = placement["offset_x"], placement["offset_y"]
    h, w = image.shape[:2]
    left = feather if "left" in sides else 0
    right = feather if "right" in sides else 0
    top = feather if "top" in sides else 0
    bottom = feather if "bottom" in sides else 0
    kept = out[y0 + top:y0 + h - bottom, x0 + left:x0 + w - right]
    assert np.array_equal(kept, image[top:h - bottom, left:w - right])


@pytest.mark.parametrize(("model_id", "ran", "inpainting"), [
    ("", "tiny-inpaint", True),          # the catalog names tiny-inpaint (9-channel UNet) for tiny
    ("tiny-sdxl", "tiny-sdxl", False),   # no inpainting model: the base model's inpaint view with the mask
])
def test_margins_give_the_size_the_offset_and_keep_the_original(client, model_id, ran, inpainting):
    image = photo()
    task = outpaint_task(encode_png(image), "a wider view", margins=(16, 0, 8, 4), feather=8, model_id=model_id,
                         sampling=sampling())
    out, placement, metadata, result = run_outpaint(client, task)
    assert out.shape == (56, 88, 3)
    assert placement == {"offset_x": 16, "offset_y": 0, "width": 88, "height": 56, "original_width": 60,
                         "original_height": 52, "margins": {"left": 16, "top": 0, "right": 12, "bottom": 4}}
    assert_original_kept(out, image, placement, 8, {"left", "right", "bottom"})
    # the new area was generated, not left as the fill
    filled = canvas.fill(image, canvas.layout(60, 52, Margins(16, 0, 8, 4)), OutpaintFill.EDGE)
    assert np.abs(out[:, :16].astype(int) - filled[:, :16].astype(int)).mean() > 5
    assert metadata["model_id"] == ran and metadata["mode"] == "outpaint"
    assert metadata["outpaint"]["inpainting_model"] is inpainting and metadata["outpaint"]["feather"] == 8
    assert metadata["strength"] == (1.0 if inpainting else 0.85)
    text = read_png_text(result.images[0].image.data)
    assert "Outpaint: 16,0,12,4" in text["parameters"] and "Fill: edge" in text["parameters"]


@pytest.fixture(scope="module")
def base_only_address(tmp_path_factory):
    """A server whose sd15 model names no inpainting model: outpaint runs its own inpaint view."""
    folder = tmp_path_factory.mktemp("base-only")
    catalog = folder / "models.toml"
    catalog.write_text('[models.plain]\nfamily = "sd15"\nsource = "builtin:tiny"\n')
    with running_server(folder, models=catalog) as srv:
        yield f"127.0.0.1:{srv.port}"


def test_the_base_model_path_without_an_inpainting_model(base_only_address):
    image = photo()
    with Client(base_only_address) as client:
        caps = client.capabilities()
        assert service_pb2.TASK_TYPE_OUTPAINT in caps.models[0].tasks
        task = outpaint_task(encode_png(image), "sky", margins=(0, 16, 0, 12), feather=4, fill="telea",
                             sampling=sampling())
        out, placement, metadata, _ = run_outpaint(client, task)
    assert out.shape == (80, 64, 3) and (placement["offset_x"], placement["offset_y"]) == (0, 16)
    assert placement["margins"] == {"left": 0, "top": 16, "right": 4, "bottom": 12}  # 60 wide -> 64: pad right
    assert metadata["model_id"] == "plain" and metadata["outpaint"]["inpainting_model"] is False
    assert metadata["outpaint"]["fill"] == "inpaint_telea"
    assert_original_kept(out, image, placement, 4, {"top", "bottom", "right"})


def test_aspect_mode_places_the_original_by_the_anchor(client):
    image = photo(64, 48)
    task = outpaint_task(encode_png(image), "", aspect=(16, 9), anchor="left", feather=6, sampling=sampling())
    out, placement, _, _ = run_outpaint(client, task)
    assert out.shape == (48, 88, 3)  # 48 x 16/9 -> 86, padded to 88
    assert (placement["offset_x"], placement["offset_y"]) == (0, 0)
    assert placement["margins"] == {"left": 0, "top": 0, "right": 24, "bottom": 0}
    assert_original_kept(out, image, placement, 6, {"right"})
    centred = outpaint_task(encode_png(image), "", aspect=(16, 9), sampling=sampling())
    assert run_outpaint(client, centred)[1]["offset_x"] == 11


def test_a_seed_gives_the_same_image_and_another_seed_another(client):
    task = outpaint_task(encode_png(photo()), "x", margins=(8, 8, 8, 8), sampling=sampling(seed=99))
    first, second = run_outpaint(client, task)[0], run_outpaint(client, task)[0]
    assert np.array_equal(first, second)
    other = run_outpaint(client, outpaint_task(encode_png(photo()), "x", margins=(8, 8, 8, 8),
                                               sampling=sampling(seed=100)))[0]
    assert not np.array_equal(first[:8], other[:8])


def fake_png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height; no pixel data (the budget is checked from the header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


@pytest.mark.parametrize(("changes", "field", "phrase"), [
    (dict(margins=(-8, 0, 16, 0)), "margins.left", "0 or more"),
    (dict(margins=(0, 0, 0, 0)), "margins", "at least one side"),
    (dict(margins=(0, 0, 2100, 0)), "margins", "at most 2048x2048"),
    (dict(aspect=(100, 1), margins=None), "aspect", "the result would be 5200x56"),
    (dict(aspect=(0, 9), margins=None), "aspect.width", "between 1 and 100"),
    (dict(aspect=(60, 52), margins=None), "aspect", "nothing to extend"),
    (dict(anchor="top"), "anchor", "only with aspect"),
    (dict(feather=300), "feather", "between 0 and 26"),
    (dict(feather=27), "feather", "half the image's shorter side"),
    (dict(strength=0.0), "strength", "(0, 1]"),
    (dict(image=fake_png_header(5000, 5000)), "image", "at most"),
    (dict(image=b"not an image"), "image", None),
])
def test_bad_inputs_are_invalid_argument_naming_the_field(client, address, changes, field, phrase):
    fields = dict(image=encode_png(photo()), margins=(8, 0, 8, 0), sampling=sampling())
    fields.update(changes)
    assert_invalid_argument(client, address, outpaint_task(fields.pop("image"), "x", **fields), field, phrase)


def test_a_task_without_image_or_extent_names_the_field(client, address):
    assert_invalid_argument(client, address, tasks_pb2.Task(outpaint=tasks_pb2.OutpaintTask()), "image")
    no_extent = tasks_pb2.OutpaintTask()
    no_extent.image.data = encode_png(photo())
    assert_invalid_argument(client, address, tasks_pb2.Task(outpaint=no_extent), "margins", "aspect")


def test_the_inpainting_model_is_listed_for_inpaint_and_outpaint_only(client):
    models = {m.id: m for m in client.capabilities().models}
    assert list(models["tiny-inpaint"].tasks) == [service_pb2.TASK_TYPE_INPAINT, service_pb2.TASK_TYPE_OUTPAINT]
    assert service_pb2.TASK_TYPE_OUTPAINT in models["tiny"].tasks
    with pytest.raises(grpc.RpcError) as error:
        client.submit(generate_task(model_id="tiny-inpaint"))
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "inpainting model" in error.value.details()


def test_cancel_stops_an_outpaint(client):
    task = outpaint_task(encode_png(photo()), "x", margins=(32, 32, 32, 32), sampling=sampling(steps=150))
    events, job_id = [], None
    for event in client.run(task):
        events.append(event)
        job_id = event.job_id
        if event.WhichOneof("event") == "progress" and event.progress.stage == "denoise" and event.progress.step >= 1:
            client.cancel(job_id)
    assert events[-1].WhichOneof("event") == "cancelled"
    steps = [e.progress.step for e in events if e.WhichOneof("event") == "progress" and e.progress.stage == "denoise"]
    assert max(steps) <= 4
    assert client.get_job(job_id).state == jobs_pb2.JOB_STATE_CANCELLED


def test_cli_outpaint_writes_the_png_and_prints_the_offset(address, tmp_path, capsys):
    source = tmp_path / "in.png"
    source.write_bytes(encode_png(photo()))
    out = tmp_path / "out.png"
    code = cli_main(["outpaint", "--server", address, "--input", str(source), "--margins", "8,0,8,0",
                     "--feather", "4", "--fill", "telea", "--prompt", "wider", "--steps", "2", "--seed", "3",
                     "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert pixels(out.read_bytes()).shape == (52 + 4, 80, 3) and str(out) in captured.out
    assert "offset 8,0 in the 80x56 result" in captured.err
    code = cli_main(["outpaint", "--server", address, "--input", str(source), "--margins=-8,0,8,0", "-o",
                     str(out)])
    assert code == 1 and "margins.left" in capsys.readouterr().err


def test_outpaint_over_connect_json_as_the_uxp_and_unity_clients_send_it(server):
    """The HTTP face: margins, fill and anchor-free JSON in, the PNG and the placement (extra_json) out."""
    import base64

    import httpx

    task = {"outpaint": {"prompt": "x", "image": {"data": base64.b64encode(encode_png(photo())).decode()},
                         "margins": {"left": 8, "bottom": 4}, "feather": 4, "fill": "OUTPAINT_FILL_INPAINT_NS",
                         "sampling": {"numInferenceSteps": 2, "seed": 5}}}
    url = f"http://127.0.0.1:{server.http_port}/dccbridge.v1.DccBridgeService/"
    with httpx.Client(base_url=url, timeout=120) as http:
        job = http.post("Submit", json={"task": task}).json()["job"]
        while job["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"):
            job = http.post("GetJob", json={"jobId": job["jobId"], "waitMs": 10_000,
                                            "afterSequence": job["sequence"]}).json()["job"]
        bad = http.post("Submit", json={"task": {"outpaint": {**task["outpaint"], "margins": {"top": -1}}}})
    assert job["state"] == "JOB_STATE_SUCCEEDED", job
    placement = json.loads(job["result"]["extraJson"])
    # only the left side grows: 68 -> 72 pads the left margin, the right edge stays flush
    assert (placement["offset_x"], placement["width"], placement["height"]) == (12, 72, 56)
    assert pixels(base64.b64decode(job["result"]["images"][0]["image"]["data"])).shape == (56, 72, 3)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_argument"
    assert bad.json()["message"].startswith("margins.top:")
