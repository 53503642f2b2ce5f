"""Textures: seamless tiling per axis (the roll test), shared components left unchanged, PBR maps (roles,
normal convention, wrap-around), projection from a camera, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionControlNetPipeline
from PIL import Image

from dccbridge.cli.common import write_results
from dccbridge.client import depth_pass_from_array
from dccbridge.domain import (CameraSpec, ControlType, NormalConvention, ProjectionView, Sampling, TextureRequest,
                              TilingAxes)
from dccbridge.models import Catalog, ModelManager
from dccbridge.models.tiling import seamless
from dccbridge.ops import common, texture
from dccbridge.ops.pbr import PBR_ROLES, pbr_maps
from dccbridge.v1 import control_pb2, jobs_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end
from test_cli import cli
from test_generate_modes import box_depth, control_units, gradient_image, png

ROLL_LATENT_PX = 2  # the tiny UNet downsamples once: shifts must be multiples of 2 latent pixels to commute
ROLL_TOLERANCE = 1e-4
AXIS_OF = {"x": 1, "y": 0}  # image array axis per tiling axis (H x W x C)


# -- the roll test ---------------------------------------------------------------------------------------
# It calls the pipeline directly: the wire has no way to pass initial latents (they come from the seed), and
# the test needs the same noise rolled. It uses the op's own pieces: texture.tiled_modules and seamless.


@pytest.fixture(scope="module")
def controlnet_pipeline():
    model = ModelManager(Catalog.preset("tiny"), device="cpu").load("tiny")
    plan = common.plan_sampling(Sampling(num_inference_steps=2, seed=1), model.entry)
    return common.pipeline_view(StableDiffusionControlNetPipeline, model, plan,
                                [model.controlnet(ControlType.DEPTH)])


def tiled_output(pipe, axes, latents, control):
    with seamless(texture.tiled_modules(pipe), axes), torch.inference_mode():
        return pipe("a brick wall", image=Image.fromarray(control), latents=latents, num_inference_steps=2,
                    height=control.shape[0], width=control.shape[1], output_type="np").images[0]


def roll_errors(pipe, axes) -> dict[str, float]:
    """Max |output(rolled inputs) - rolled output| per image axis, shifting by ROLL_LATENT_PX latent pixels."""
    height, width = 64, 96
    latents = torch.randn(1, 4, height // 8, width // 8, generator=torch.Generator().manual_seed(0))
    control = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    base = tiled_output(pipe, axes, latents, control)
    errors = {}
    for name, axis in AXIS_OF.items():
        shift = 8 * ROLL_LATENT_PX
        rolled = tiled_output(pipe, axes, torch.roll(latents, ROLL_LATENT_PX, dims=axis + 2),
                              np.roll(control, shift, axis=axis))
        errors[name] = float(np.abs(np.roll(base, shift, axis=axis) - rolled).max())
    return errors


@pytest.mark.parametrize("axes", [TilingAxes.X, TilingAxes.Y, TilingAxes.BOTH, TilingAxes.NONE])
def test_tiled_output_rolls_with_its_inputs_along_the_tiled_axes(controlnet_pipeline, axes):
    errors = roll_errors(controlnet_pipeline, axes)
    print(f"roll test {axes.value}: max error {errors}")
    for name, error in errors.items():
        if axes in (TilingAxes.BOTH, TilingAxes(name)):
            assert error < ROLL_TOLERANCE, f"{axes.value}: not periodic along {name}"
        else:
            assert error > 0.05, f"{axes.value}: the test cannot tell zero padding along {name} from wrapping"


def test_the_patch_is_removed_even_when_the_job_fails(controlnet_pipeline):
    modules = texture.tiled_modules(controlnet_pipeline)

    def patched() -> int:
        return sum("_conv_forward" in m.__dict__ for module in modules for m in module.modules())

    with pytest.raises(RuntimeError), seamless(modules, TilingAxes.BOTH):
        assert patched() > 0
        raise RuntimeError("cancelled mid-denoise")
    assert patched() == 0


# -- through the server -------------------------------------------------------------------------------------


def texture_task(seed=11, **fields) -> tasks_pb2.Task:
    sampling = tasks_pb2.Sampling(num_inference_steps=2, seed=seed)
    fields.setdefault("width", 64)
    fields.setdefault("height", 64)
    return tasks_pb2.Task(texture=tasks_pb2.TextureTask(prompt="mossy cobblestones", sampling=sampling, **fields))


def images_by_role(result) -> dict[str, np.ndarray]:
    return {image.role: pixels(image.image.data).astype(int) for image in result.images}


def test_a_tiled_texture_job_leaves_the_shared_model_unchanged(client):
    plain = generate_task(seed=3, control_units=[control_units()["depth_pass"]])
    before = pixels(result_of(run_to_end(client, plain)).images[0].image.data)
    tiled = texture_task(tiling=tasks_pb2.TILING_AXES_BOTH, pbr_maps=True,
                         control_units=[control_units()["depth_pass"]])
    result_of(run_to_end(client, tiled))
    after = pixels(result_of(run_to_end(client, plain)).images[0].image.data)
    assert (after == before).all()


def seam_and_interior(image: np.ndarray, axis: int) -> tuple[float, float]:
    """Mean |difference| across the wrap-around seam, and between neighbouring rows/columns inside."""
    last = image.shape[axis] - 1
    seam = np.abs(image.take(0, axis=axis) - image.take(last, axis=axis)).mean()
    return seam, np.abs(np.diff(image, axis=axis)).mean()


def test_pbr_maps_come_back_by_role_and_wrap_like_the_albedo(client):
    result = result_of(run_to_end(client, texture_task(tiling=tasks_pb2.TILING_AXES_BOTH, pbr_maps=True)))
    assert [(i.role, i.index) for i in result.images] == [(r, 0) for r in ("albedo", *PBR_ROLES)]
    assert "Tiling: both" in result.images[0].parameters
    assert json.loads(result.extra_json)["texture"] == {
        "tiling": "both", "roles": ["albedo", *PBR_ROLES], "normal_convention": "opengl"}
    for role, image in images_by_role(result).items():
        assert image.shape[:2] == (64, 64)
        for axis in (0, 1):
            seam, interior = seam_and_interior(image, axis)
            assert seam <= 1.5 * interior + 1.0, f"{role} has a seam along axis {axis}: {seam:.1f} vs {interior:.1f}"


def test_directx_normals_flip_green_only(client):
    opengl = images_by_role(result_of(run_to_end(client, texture_task(pbr_maps=True))))
    directx = images_by_role(result_of(run_to_end(client, texture_task(
        pbr_maps=True, normal_convention=tasks_pb2.NORMAL_CONVENTION_DIRECTX))))
    assert (opengl["albedo"] == directx["albedo"]).all()
    gl, dx = opengl["normal"], directx["normal"]
    assert (gl[:, :, [0, 2]] == dx[:, :, [0, 2]]).all()
    assert np.abs(gl[:, :, 1] + dx[:, :, 1] - 255).max() <= 1
    assert gl[:, :, 1].std() > 1, "a flat normal map cannot show the flip"


def camera_message(**overrides) -> tasks_pb2.Camera:
    fields = dict(camera_to_world=[1, 0, 0, 2, 0, 0, -1, -5, 0, 1, 0, 1.5, 0, 0, 0, 1], fov_y_degrees=39.6,
                  near=0.1, far=100.0, width=1920, height=1440, host="blender",
                  projection=tasks_pb2.CAMERA_PROJECTION_PERSPECTIVE)
    fields.update(overrides)
    return tasks_pb2.Camera(**fields)


def projection_view(camera=None, depth=True, view=True) -> tasks_pb2.ProjectionView:
    message = tasks_pb2.ProjectionView(camera=camera if camera is not None else camera_message())
    if depth:
        message.depth_pass.CopyFrom(depth_pass_from_array(box_depth()[:48], "linear", 0.1, 100.0))
    if view:
        message.view_image.CopyFrom(png(gradient_image()[:48] // 128 * 255))
    return message


def test_projection_texture_returns_the_camera_it_was_made_for(client):
    camera = camera_message()
    result = result_of(run_to_end(client, texture_task(width=64, height=48, projection=projection_view(camera))))
    (albedo,) = result.images
    assert (albedo.image.width, albedo.image.height) == (64, 48)
    assert 'ControlNet 0: "Module: DepthPass' in albedo.parameters
    assert 'ControlNet 1: "Module: Preprocess, Model: canny' in albedo.parameters
    projection = json.loads(result.extra_json)["projection"]
    assert (projection["image_width"], projection["image_height"]) == (64, 48)
    sent = camera_message()
    returned = projection["camera"]
    assert np.array_equal(np.float32(returned["camera_to_world"]), np.float32(sent.camera_to_world))
    assert returned["projection"] == "perspective" and returned["host"] == "blender"
    assert (returned["width"], returned["height"]) == (1920, 1440)
    for name in ("fov_y_degrees", "near", "far"):
        assert np.float32(returned[name]) == np.float32(getattr(sent, name))


def test_projection_size_defaults_to_the_models_pixel_count_at_the_cameras_aspect():
    entry = Catalog.preset("tiny").get("tiny")
    request = TextureRequest(prompt="x", projection=ProjectionView(camera=CameraSpec(width=1920, height=1080)))
    width, height = texture.resolve_size(request, entry)
    assert (width % 8, height % 8) == (0, 0)
    assert abs(width / height / (16 / 9) - 1) < texture.ASPECT_TOLERANCE
    assert abs(width * height / (512 * 512) - 1) < 0.05


def projection_task(camera=None, depth=True, view=True, **fields) -> tasks_pb2.Task:
    return texture_task(width=64, height=48, projection=projection_view(camera, depth, view), **fields)


ORTHOGRAPHIC = tasks_pb2.CAMERA_PROJECTION_ORTHOGRAPHIC
DEPTH_UNIT = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH, image=png(np.zeros((8, 8, 3), np.uint8)))


@pytest.mark.parametrize(("task", "field", "phrase"), [
    (projection_task(camera_message(camera_to_world=[1.0] * 15)), "projection.camera.camera_to_world",
     "16 numbers"),
    (projection_task(camera_message(fov_y_degrees=0.0)), "projection.camera.fov_y_degrees", "[1, 179]"),
    (projection_task(camera_message(projection=ORTHOGRAPHIC)), "projection.camera.ortho_height", "> 0"),
    (projection_task(camera_message(near=5.0, far=5.0)), "projection.camera.far", "greater than near"),
    (texture_task(projection=tasks_pb2.ProjectionView(depth_pass=depth_pass_from_array(box_depth()))),
     "projection.camera", "is required"),
    (projection_task(depth=False, view=False), "projection.depth_pass", "depth_pass"),
    (texture_task(width=64, height=64, projection=projection_view()), "width", "aspect"),
    (projection_task(view=False, control_units=[DEPTH_UNIT] * 4), "control_units", "at most 3"),
    (texture_task(tiling=9), "tiling", "unknown value"),
    (texture_task(init_image=png(gradient_image()), strength=1.5), "strength", "(0, 1]"),
], ids=["matrix of 15", "fov 0", "ortho without height", "far = near", "no camera", "no depth or view",
        "aspect mismatch", "too many units", "unknown tiling", "strength"])
def test_bad_texture_input_names_the_field(client, address, task, field, phrase):
    assert_invalid_argument(client, address, task, field, phrase)


def test_texture_cli_writes_pbr_maps_by_role_for_a_camera_json(address, tmp_path):
    camera = {"camera_to_world": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 5, 0, 0, 0, 1], "projection": "orthographic",
              "ortho_height": 4.0, "near": 0.1, "far": 50.0, "width": 640, "height": 480, "host": "unity"}
    (tmp_path / "camera.json").write_text(json.dumps(camera))
    np.save(tmp_path / "view.npy", box_depth()[:48])
    out = tmp_path / "wall.png"
    run = cli("texture", "--server", address, "--prompt", "a brick wall", "--steps", "1", "--width", "64",
              "--height", "48", "--tiling", "x", "--pbr", "--normal", "directx", "--projection-depth",
              tmp_path / "view.npy", "--depth-far", "100", "--camera", tmp_path / "camera.json", "-o", out)
    assert run.returncode == 0, run.stderr
    written = [out, *(tmp_path / f"wall-{role}.png" for role in PBR_ROLES)]
    assert run.stdout.split() == [str(path) for path in written]
    assert pixels(out.read_bytes()).shape == (48, 64, 3)


def test_results_are_named_by_batch_index_and_role(tmp_path):
    result = jobs_pb2.Result()
    for index in (0, 1):
        for role in ("albedo", "normal"):
            result.images.add(role=role, index=index).image.data = f"{role}{index}".encode()
    paths = write_results(result, tmp_path / "t.png")
    assert [p.name for p in paths] == ["t-1.png", "t-1-normal.png", "t-2.png", "t-2-normal.png"]
    assert paths[3].read_bytes() == b"normal1"


# -- PBR derivation, without a server ------------------------------------------------------------------------


def periodic_albedo(height=48, width=64) -> np.ndarray:
    """A colour texture that tiles exactly: a sum of sines whose periods divide the size, plus wrapped noise."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    rng = np.random.default_rng(5)
    noise = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((height, width))) * (rng.random((height, width)) < .1)))
    gray = 128 + 50 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y) + 40 * noise / noise.std()
    return np.clip(np.dstack([gray, gray * 0.8, gray * 0.6]), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("tiling", [TilingAxes.X, TilingAxes.Y, TilingAxes.BOTH])
def test_pbr_maps_roll_with_the_albedo_along_the_tiled_axes(tiling):
    albedo = periodic_albedo()
    maps = pbr_maps(albedo, tiling, NormalConvention.OPENGL)
    for name, axis in AXIS_OF.items():
        rolled = pbr_maps(np.roll(albedo, 13, axis=axis), tiling, NormalConvention.OPENGL)
        error = max(np.abs(np.roll(maps[r], 13, axis=axis).astype(int) - rolled[r]).max() for r in PBR_ROLES)
        if tiling in (TilingAxes.BOTH, TilingAxes(name)):
            assert error == 0, f"{tiling.value}: the maps do not wrap along {name}"


def test_normal_map_faces_up_the_image_above_a_bump_in_opengl():
    y, x = np.mgrid[0:64, 0:64]
    bump = 255 * np.exp(-((y - 32) ** 2 + (x - 32) ** 2) / (2 * 6.0**2))
    maps = pbr_maps(np.dstack([bump] * 3).astype(np.uint8), TilingAxes.NONE, NormalConvention.OPENGL)
    normal = maps["normal"].astype(int)
    assert normal[26, 32, 1] > 135 and normal[38, 32, 1] < 120  # above the bump its slope faces +Y (up)
    assert normal[32, 26, 0] < 120 and normal[32, 38, 0] > 135  # left of it the slope faces -X
    assert maps["height"][32, 32] == 255 and maps["ao"][32, 32] == 255
