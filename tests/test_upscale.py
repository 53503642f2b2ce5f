"""Upscaling through a real server (tiny preset): every method end to end, exact sizes, seams, tiled vs untiled,
progress and cancel per tile, the memory bound of ESRGAN tiles, bad inputs, pickle refusal, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dccbridge.cli import main as cli_main
from dccbridge.client import Client
from dccbridge.domain import ImageInput, Sampling, UpscaleMethod, UpscaleRequest
from dccbridge.errors import ModelUnavailable
from dccbridge.imaging import decode_image, encode_png, read_png_text
from dccbridge.models import Catalog, ModelManager
from dccbridge.models.tiny import build_tiny_esrgan_state_dict
from dccbridge.ops import Limits, OpEnv, upscale
from dccbridge.ops.context import NullContext
from dccbridge.ops.tiles import TileCanvas, plan_axis, plan_tiles
from dccbridge.v1 import jobs_pb2, media_pb2, service_pb2, tasks_pb2

from conftest import assert_invalid_argument, pixels, result_of, run_to_end, running_server

METHODS = {
    "lanczos": tasks_pb2.UPSCALE_METHOD_LANCZOS,
    "esrgan": tasks_pb2.UPSCALE_METHOD_ESRGAN,
    "sd_x4": tasks_pb2.UPSCALE_METHOD_SD_X4,
    "tiled": tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION,
    "auto": tasks_pb2.UPSCALE_METHOD_UNSPECIFIED,
}
FAST = tasks_pb2.Sampling(num_inference_steps=4, seed=5)  # tiled at strength 0.3: int(4 x 0.3) = 1 step a tile


def gradient(width: int, height: int) -> np.ndarray:
    x, y = np.meshgrid(np.linspace(0.0, 1.0, width), np.linspace(0.0, 1.0, height))
    return np.stack([255 * x, 255 * y, 128 + 100 * (x - y)], axis=2).clip(0, 255).astype(np.uint8)


def noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    return (np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8)


def upscale_task(image: np.ndarray, method: str = "esrgan", **fields) -> tasks_pb2.Task:
    if method in ("sd_x4", "tiled"):
        fields.setdefault("sampling", FAST)
    task = tasks_pb2.UpscaleTask(image=media_pb2.Image(data=encode_png(image), mime_type="image/png"),
                                 method=METHODS[method], **fields)
    return tasks_pb2.Task(upscale=task)


def upscaled(client, task) -> tuple[np.ndarray, dict, str]:
    """The result's pixels, its provenance JSON and its A1111 parameters text."""
    (image,) = result_of(run_to_end(client, task)).images
    return pixels(image.image.data).astype(int), json.loads(read_png_text(image.image.data)["dccbridge"]), \
        image.parameters


# -- every method, sizes, alpha -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "fields", "expected"), [
    ("lanczos", {}, dict(method="lanczos")),
    ("esrgan", {}, dict(method="esrgan", upscaler_id="tiny-esrgan-x4", upscaler_architecture="ESRGAN")),
    ("esrgan", dict(upscaler_id="tiny-esrgan-x2"),
     dict(upscaler_id="tiny-esrgan-x2", native_scale=2, upscaler_architecture="RealESRGAN Compact")),
    ("auto", {}, dict(method="esrgan", upscaler_id="tiny-esrgan-x4")),
    ("auto", dict(upscaler_id="tiny-sd-x4", sampling=FAST), dict(method="sd_x4", noise_level=20)),
    ("sd_x4", dict(prompt="sharp", strength=0.2), dict(upscaler_id="tiny-sd-x4", noise_level=70, seed=5)),
    ("tiled", dict(prompt="sharp", tile_size=64, tile_overlap=16),
     dict(model_id="tiny", pre_upscaler="tiny-esrgan-x4", strength=0.3, tile_controlnet=False)),
])
def test_each_method_upscales_end_to_end(client, method, fields, expected):
    source = gradient(24, 16)
    out, meta, parameters = upscaled(client, upscale_task(source, method, **fields))
    assert out.shape == (32, 48, 3)
    assert {key: meta[key] for key in expected} == expected
    assert meta["width"] == 48 and meta["request"]["scale"] is None
    if meta["method"] in ("lanczos", "esrgan"):
        assert parameters.startswith("Postprocess upscale by: 2, Postprocess upscaler: ")
    else:
        assert "Seed: 5" in parameters and "Size: 48x32" in parameters and "Steps: 4" in parameters


def test_tiled_diffusion_changes_the_pre_upscaled_image_and_repeats_with_a_seed(client):
    source = noise(24, 16)
    task = upscale_task(source, "tiled", tile_size=64, tile_overlap=16, strength=0.6)
    first, meta, parameters = upscaled(client, task)
    again, _, _ = upscaled(client, task)
    pre, _, _ = upscaled(client, upscale_task(source, "esrgan"))
    assert np.abs(first - pre).mean() > 1.0 and (first == again).all()
    assert "Denoising strength: 0.6" in parameters and "SD upscale upscaler: tiny-esrgan-x4" in parameters
    assert meta["model_hash"] and meta["upscaler_hash"] and meta["tiles"] > 1


@pytest.mark.parametrize(("method", "fields"), [
    ("lanczos", {}), ("esrgan", {}), ("esrgan", dict(upscaler_id="tiny-esrgan-x2")), ("sd_x4", {}),
    ("tiled", dict(tile_size=64)),
])
def test_non_integer_scales_give_exactly_the_rounded_size(client, method, fields):
    out, meta, _ = upscaled(client, upscale_task(noise(33, 21), method, scale=1.5, **fields))
    assert out.shape == (32, 50, 3)  # 21 x 1.5 = 31.5 -> 32, 33 x 1.5 = 49.5 -> 50: halves round up
    assert (meta["width"], meta["height"], meta["scale"]) == (50, 32, 1.5)


def test_scales_above_the_models_run_it_again(client):
    out, meta, _ = upscaled(client, upscale_task(noise(10, 6), "esrgan", upscaler_id="tiny-esrgan-x2", scale=5))
    assert out.shape == (30, 50, 3) and meta["passes"] == 3  # x2 three times = x8, then resized to x5


def test_alpha_is_resized_and_kept(client):
    rgba = np.dstack([gradient(20, 12), np.zeros((12, 20), np.uint8)])
    rgba[:, 10:, 3] = 255
    (image,) = result_of(run_to_end(client, upscale_task(rgba, "esrgan"))).images
    out = decode_image(image.image.data, "test", mode="RGBA")
    assert out.shape == (24, 40, 4)
    assert (out[:, :10, 3] == 0).all() and (out[:, 30:, 3] == 255).all()  # beyond Lanczos' reach of the edge


# -- tiles: seams, tiled == untiled, memory bound -------------------------------------------------


def seam_and_interior_steps(out: np.ndarray, tile_core: int, scale: int, axis: int, margin: int = 8):
    """Largest step between neighbouring columns (axis 1) or rows (axis 0) at tile boundaries, and the steps
    elsewhere (away from the image border, where the model's zero padding makes its own edge)."""
    steps = np.abs(np.diff(out, axis=axis)).max(axis=2).max(axis=1 - axis)
    length = out.shape[axis] // scale
    boundaries = [span.core_start * scale - 1 for span in plan_axis(length, tile_core, 1)[1:]]
    interior = np.ones_like(steps, bool)
    interior[boundaries] = False
    interior[:margin] = interior[-margin:] = False
    return steps[boundaries].max(), steps[interior]


def test_esrgan_tiles_leave_no_seams_on_a_smooth_gradient(client):
    out, meta, _ = upscaled(client, upscale_task(gradient(64, 48), "esrgan", scale=4, tile_size=64, tile_overlap=16))
    assert meta["tiles"] == 12  # 16-pixel cores on the 64 x 48 input: 4 x 3
    for axis in (0, 1):
        seam, interior = seam_and_interior_steps(out, 16, 4, axis)
        # Measured: 2 (rows) and 1 (columns) at boundaries; inside, median 1, 99th percentile 9 and 4, max 10.
        assert seam <= np.percentile(interior, 99), f"axis {axis}: step {seam} at tile boundaries"


@pytest.mark.parametrize(("tile", "overlap", "max_error"), [(64, 16, 2), (96, 96, 0)])
def test_esrgan_tiled_equals_untiled(client, tile, overlap, max_error):
    source = noise(64, 48)
    whole, meta, _ = upscaled(client, upscale_task(source, "esrgan", scale=4, tile_size=2048))
    tiled, tiled_meta, _ = upscaled(client, upscale_task(source, "esrgan", scale=4, tile_size=tile,
                                                         tile_overlap=overlap))
    assert meta["tiles"] == 1 and tiled_meta["tiles"] > 1
    # The tiny RRDB's receptive field is ~18 input pixels: 96 // 4 = 24 covers it, so only float noise remains.
    assert np.abs(tiled - whole).max() <= max_error


def test_esrgan_never_sees_more_than_a_tile_plus_its_overlap(client, server, monkeypatch):
    network = server.manager.upscaler("tiny-esrgan-x4").model.model
    seen = []
    original = network.forward

    def recording_forward(x):
        seen.append(tuple(x.shape[-2:]))
        return original(x)

    monkeypatch.setattr(network, "forward", recording_forward)
    tile, overlap = 64, 32
    out, meta, _ = upscaled(client, upscale_task(noise(80, 72), "esrgan", scale=4, tile_size=tile,
                                                 tile_overlap=overlap))
    assert out.shape == (288, 320, 3) and len(seen) == meta["tiles"] == 25
    bound = (tile + 2 * overlap) // 4  # input pixels
    assert max(max(shape) for shape in seen) <= bound, seen


def test_feathered_tiles_cross_fade_instead_of_stepping():
    """A stand-in model that brightens each tile differently: cropping would leave a 40-level step at every
    boundary; feathering spreads it over the 2 x overlap band."""
    width, height, tile, overlap = 96, 40, 32, 8
    source = np.tile(np.linspace(0.2, 0.6, width, dtype=np.float32), (height, 1))[:, :, None].repeat(3, axis=2)
    canvas = TileCanvas(width, height, 1, feather=True, overlap=overlap)
    tiles = plan_tiles(width, height, tile, overlap)
    for index, t in enumerate(tiles):
        canvas.add(t, source[t.window] + (40 / 255) * (index % 2))
    out = canvas.image().astype(int)
    steps = np.abs(np.diff(out, axis=1)).max()
    assert len(tiles) == 6 and steps <= math.ceil(40 / (2 * overlap)) + 2
    identity = TileCanvas(width, height, 1, feather=True, overlap=overlap)
    for t in tiles:
        identity.add(t, source[t.window])
    assert np.abs(identity.image().astype(int) - np.round(source * 255)).max() <= 1  # weights sum to one


# -- progress and cancel ---------------------------------------------------------------------------


def progress_of(events):
    return [e.progress for e in events if e.WhichOneof("event") == "progress" and e.progress.stage == "tiles"]


def test_progress_is_reported_per_tile(client):
    events = run_to_end(client, upscale_task(noise(48, 32), "tiled", tile_size=64, tile_overlap=16))
    progress = progress_of(events)
    total = progress[0].total
    assert total == json.loads(result_of(events).metadata_json)["tiles"] > 4
    assert [p.step for p in progress] == list(range(total + 1)) and {p.total for p in progress} == {total}


@pytest.mark.parametrize(("method", "size", "cancel_after"), [
    ("esrgan", (256, 192), 1),  # 16 x 12 tiles of the x4 model
    ("tiled", (128, 96), 8 * 6 + 1),  # 8 x 6 ESRGAN pre-upscale tiles, then the first of 4 x 3 diffusion tiles
])
def test_cancel_stops_between_tiles(client, method, size, cancel_after):
    task = upscale_task(noise(*size), method, tile_size=64, tile_overlap=16,
                        sampling=tasks_pb2.Sampling(num_inference_steps=10, seed=1))
    events = []
    for event in client.run(task):
        events.append(event)
        if event.WhichOneof("event") == "progress" and event.progress.step == cancel_after:
            client.cancel(event.job_id)
    assert events[-1].WhichOneof("event") == "cancelled"
    progress = progress_of(events)
    assert cancel_after <= progress[-1].step <= cancel_after + 2 < progress[-1].total, "ran on after the cancel"
    assert client.get_job(events[-1].job_id).state == jobs_pb2.JOB_STATE_CANCELLED


# -- bad inputs --------------------------------------------------------------------------------------


BAD = {
    "bad image bytes": (tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=media_pb2.Image(data=b"nope"))),
                        "image", "not a PNG, JPEG or WebP"),
    "no image": (tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask()), "image", "required"),
    "scale below 1": (upscale_task(noise(8, 8), scale=0.5), "scale", "[1, 8]"),
    "scale above 8": (upscale_task(noise(8, 8), scale=9), "scale", "[1, 8]"),
    "scale NaN": (upscale_task(noise(8, 8), scale=float("nan")), "scale", "finite"),
    "output too large": (upscale_task(noise(1024, 600), scale=2.5), "scale",
                         "the output would be 2560x1500; outputs are limited to 2048x2048"),
    "tile too small": (upscale_task(noise(8, 8), tile_size=16), "tile_size", "between 64 and 2048"),
    "overlap above the tile": (upscale_task(noise(8, 8), tile_size=64, tile_overlap=65), "tile_overlap",
                               "between 1 and tile_size (64)"),
    "steps out of range": (upscale_task(noise(8, 8), "tiled", sampling=tasks_pb2.Sampling(num_inference_steps=999)),
                           "sampling.num_inference_steps", "between 1 and 150"),
    "strength zero (tiled)": (upscale_task(noise(8, 8), "tiled", strength=0.0), "strength", "(0, 1]"),
    "no step per tile": (upscale_task(noise(8, 8), "tiled", sampling=tasks_pb2.Sampling(num_inference_steps=3)),
                         "sampling.num_inference_steps", "with strength 0.3 each tile would get no denoising step"),
    "strength above 1 (sd_x4)": (upscale_task(noise(8, 8), "sd_x4", strength=1.5), "strength", "[0, 1]"),
    "batch": (upscale_task(noise(8, 8), "sd_x4", sampling=tasks_pb2.Sampling(num_images_per_prompt=2)),
              "sampling.num_images_per_prompt", "one image"),
    "unknown scheduler": (upscale_task(noise(8, 8), "sd_x4", sampling=tasks_pb2.Sampling(scheduler="warp")),
                          "sampling.scheduler", "unipc"),
    "upscaler of the wrong kind": (upscale_task(noise(8, 8), "esrgan", upscaler_id="tiny-sd-x4"), "upscaler_id",
                                   "takes one of kind esrgan: tiny-esrgan-x4, tiny-esrgan-x2"),
    "upscaler with lanczos": (upscale_task(noise(8, 8), "lanczos", upscaler_id="tiny-esrgan-x4"), "upscaler_id",
                              "uses no model"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_invalid_argument_naming_the_field(client, address, name):
    task, field, phrase = BAD[name]
    assert_invalid_argument(client, address, task, field, phrase)


@pytest.mark.parametrize(("fields", "code", "phrases"), [
    (dict(upscaler_id="real-esrgan-x4plus"), grpc.StatusCode.NOT_FOUND,
     ("unknown upscaler 'real-esrgan-x4plus'", "tiny-esrgan-x2, tiny-esrgan-x4, tiny-sd-x4")),
    (dict(method=tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION, model_id="nope"), grpc.StatusCode.NOT_FOUND,
     ("'nope'", "tiny")),
    (dict(method=tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION, model_id="tiny-depth2img"), grpc.StatusCode.UNIMPLEMENTED,
     ("sd2-depth", "sd15")),
])
def test_unknown_ids_are_not_found_and_unsuitable_models_unimplemented(client, fields, code, phrases):
    task = upscale_task(noise(8, 8), "auto")
    for key, value in fields.items():
        setattr(task.upscale, key, value)
    with pytest.raises(grpc.RpcError) as error:
        client.submit(task)
    assert error.value.code() == code, error.value.details()
    assert all(phrase in error.value.details() for phrase in phrases), error.value.details()


# -- catalogs: pickle refusal, missing kinds, file loading -------------------------------------------


def test_pickled_upscalers_are_refused_and_missing_kinds_say_what_exists(tmp_path):
    torch.save({"params_ema": build_tiny_esrgan_state_dict("tiny-esrgan-x4")}, tmp_path / "esrgan.pth")
    (tmp_path / "catalog.toml").write_text(
        '[models.tiny]\nsource = "builtin:tiny"\n[upscalers.pickled]\nkind = "esrgan"\nsource = "esrgan.pth"\n')
    with running_server(tmp_path / "data", models=tmp_path / "catalog.toml") as srv, \
            Client(f"127.0.0.1:{srv.port}") as client:
        failed = run_to_end(client, upscale_task(noise(8, 8), "esrgan"))[-1]
        assert failed.WhichOneof("event") == "failed"
        assert failed.failed.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION
        assert "esrgan.pth" in failed.failed.message and "--allow-pickle" in failed.failed.message
        with pytest.raises(grpc.RpcError) as error:
            client.submit(upscale_task(noise(8, 8), "sd_x4"))
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "pickled (esrgan)" in error.value.details() and "lanczos" in error.value.details()


@pytest.mark.parametrize(("table", "expected"), [
    ('kind = "gan"\nsource = "x.safetensors"', "upscalers.u.kind: must be one of esrgan, sd_x4, got 'gan'"),
    ('kind = "esrgan"', "upscalers.u.source: must be a non-empty string"),
    ('kind = "esrgan"\nsource = "x.safetensors"\nscale = 4', "upscalers.u: unknown key(s) ['scale']"),
])
def test_upscaler_catalog_errors_name_the_key(tmp_path, table, expected):
    path = tmp_path / "catalog.toml"
    path.write_text(f'[models.tiny]\nsource = "builtin:tiny"\n[upscalers.u]\n{table}\n')
    with pytest.raises(ValueError) as caught:
        Catalog.from_toml(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


class _MakesAFolderWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def test_allowed_pickles_load_with_weights_only_and_safetensors_files_load_through_spandrel(tmp_path):
    state = build_tiny_esrgan_state_dict("tiny-esrgan-x2")
    torch.save(state, tmp_path / "compact.pth")
    save_file(state, tmp_path / "compact.safetensors")
    marker = tmp_path / "code-ran"
    torch.save({"params_ema": {"x": _MakesAFolderWhenUnpickled(marker)}}, tmp_path / "evil.pth")
    (tmp_path / "catalog.toml").write_text('[models.tiny]\nsource = "builtin:tiny"\n' + "".join(
        f'[upscalers.{name}]\nkind = "esrgan"\nsource = "{name}.{suffix}"\n'
        for name, suffix in (("compact", "pth"), ("evil", "pth"))) +
        '[upscalers.file]\nkind = "esrgan"\nsource = "compact.safetensors"\n'
        '[upscalers.builtin]\nkind = "esrgan"\nsource = "builtin:tiny-esrgan-x2"\n')
    manager = ModelManager(Catalog.from_toml(tmp_path / "catalog.toml"), device="cpu", allow_pickle=True)
    probe = torch.rand(1, 3, 12, 10)
    expected = manager.upscaler("builtin").model(probe)
    for upscaler_id in ("compact", "file"):
        loaded = manager.upscaler(upscaler_id)
        assert loaded.model.scale == 2 and torch.equal(loaded.model(probe), expected)
    assert manager.upscaler("file").weights_hash != manager.upscaler("builtin").weights_hash
    with pytest.raises(ModelUnavailable, match="evil.pth"):
        manager.upscaler("evil")
    assert not marker.exists()


def test_a_tile_controlnet_in_the_catalog_conditions_each_tile(tmp_path):
    (tmp_path / "catalog.toml").write_text(
        '[models.plain]\nsource = "builtin:tiny"\n'
        '[models.with-tile]\nsource = "builtin:tiny"\n[models.with-tile.controlnets]\ntile = "builtin:tiny-tile"\n')
    env = OpEnv(ModelManager(Catalog.from_toml(tmp_path / "catalog.toml"), device="cpu"), Limits())

    def run(model_id):
        req = UpscaleRequest(ImageInput(encode_png(noise(24, 16))), UpscaleMethod.TILED_DIFFUSION, model_id=model_id,
                             sampling=Sampling(num_inference_steps=4, seed=3), tile_size=64, tile_overlap=16)
        upscale.check_inputs(req, env)
        output = upscale.run(req, env, NullContext())
        return output.images[0].pixels.astype(int), output.metadata

    plain, plain_meta = run("plain")
    tiled, tiled_meta = run("with-tile")
    assert (plain_meta["tile_controlnet"], tiled_meta["tile_controlnet"]) == (False, True)
    assert plain_meta["pre_upscaler"] == "Lanczos"  # this catalog has no ESRGAN
    assert np.abs(plain - tiled).mean() > 0.5


# -- discovery and the CLI ---------------------------------------------------------------------------


def test_capabilities_list_the_upscalers_and_which_models_upscale(client):
    caps = client.capabilities()
    assert [(u.id, u.label) for u in caps.upscalers] == [
        ("tiny-esrgan-x4", "tiny-esrgan-x4 (ESRGAN)"), ("tiny-esrgan-x2", "tiny-esrgan-x2 (ESRGAN)"),
        ("tiny-sd-x4", "tiny-sd-x4 (SD x4)")]
    assert all(u.description for u in caps.upscalers)
    tasks = {m.id: set(m.tasks) for m in caps.models}
    assert service_pb2.TASK_TYPE_UPSCALE in tasks["tiny"]
    assert service_pb2.TASK_TYPE_UPSCALE not in tasks["tiny-depth2img"]


def test_cli_upscale_writes_the_png(address, tmp_path, capsys):
    (tmp_path / "in.png").write_bytes(encode_png(gradient(20, 10)))
    out = tmp_path / "out.png"
    code = cli_main(["upscale", "--server", address, "--input", str(tmp_path / "in.png"), "--method", "tiled",
                     "--scale", "1.5", "--steps", "4", "--seed", "9", "--tile", "64", "--overlap", "8",
                     "--prompt", "crisp", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert pixels(out.read_bytes()).shape == (15, 30, 3)
    assert "SD upscale overlap: 8" in read_png_text(out.read_bytes())["parameters"]
    code = cli_main(["upscale", "--server", address, "--input", str(tmp_path / "in.png"), "--scale", "20",
                     "-o", str(out)])
    assert code == 1 and "INVALID_ARGUMENT: scale: must be in [1, 8], got 20" in capsys.readouterr().err
