"""txt2img / img2img / inpaint and each ControlNet source, through a real server."""

from __future__ import annotations

import numpy as np
import pytest

from dccbridge.client import Client, depth_pass_from_array
from dccbridge.imaging import encode_png
from dccbridge.v1 import control_pb2, media_pb2, tasks_pb2

from conftest import generate_task, pixels, result_of, run_to_end

SIZE = 64


def png(array: np.ndarray) -> media_pb2.Image:
    return media_pb2.Image(data=encode_png(array), mime_type="image/png")


def gradient_image(size=SIZE) -> np.ndarray:
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    return np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)), np.full((size, size), 128.0)],
                    axis=2).astype(np.uint8)


def box_depth(size=SIZE) -> np.ndarray:
    depth = np.full((size, size), 5.0, np.float32)
    depth[size // 4: size * 3 // 4, size // 4: size * 3 // 4] = 2.0
    depth[:8, :8] = np.inf
    return depth


def t_pose(size=SIZE) -> media_pb2.PoseRig:
    c = size / 2
    body = [(c, 10), (c, 16), (c - 8, 16), (c - 16, 16), (c - 24, 16), (c + 8, 16), (c + 16, 16), (c + 24, 16),
            (c - 5, 36), (c - 5, 48), (c - 5, 60), (c + 5, 36), (c + 5, 48), (c + 5, 60), (c - 2, 8), (c + 2, 8),
            (c - 4, 9), (c + 4, 9)]
    rig = media_pb2.PoseRig(canvas_width=size, canvas_height=size)
    rig.people.add(body=[media_pb2.Keypoint(x=x, y=y, visible=True) for x, y in body])
    return rig


def control_units():
    canny = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_CANNY)
    canny.preprocess.image.CopyFrom(png(gradient_image() // 128 * 255))
    canny.preprocess.canny.low_threshold = 50
    depth = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH,
                                    depth_pass=depth_pass_from_array(box_depth(), "linear", 0.1, 100.0))
    pose = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_OPENPOSE, pose_rig=t_pose())
    ready = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH, image=png(gradient_image()))
    return {"canny": canny, "depth_pass": depth, "pose_rig": pose, "ready_map": ready}


@pytest.fixture(scope="module")
def plain(address):
    with Client(address) as client:
        return pixels(result_of(run_to_end(client, generate_task(seed=3))).images[0].image.data)


@pytest.mark.parametrize("name", ["canny", "depth_pass", "pose_rig", "ready_map"])
def test_each_control_source_changes_the_image(client, plain, name):
    unit = control_units()[name]
    task = generate_task(seed=3, control_units=[unit])
    image = result_of(run_to_end(client, task)).images[0]
    controlled = pixels(image.image.data)
    assert np.abs(controlled.astype(int) - plain).mean() > 0.5, "the ControlNet had no effect"
    assert "ControlNet 0:" in image.parameters
    again = pixels(result_of(run_to_end(client, task)).images[0].image.data)
    assert (again == controlled).all()


def test_unit_weight_zero_equals_no_control(client, plain):
    unit = control_units()["depth_pass"]
    unit.controlnet_conditioning_scale = 0.0
    image = pixels(result_of(run_to_end(client, generate_task(seed=3, control_units=[unit]))).images[0].image.data)
    assert np.abs(image.astype(int) - plain).max() <= 1


def test_several_units_at_once(client, plain):
    units = control_units()
    task = generate_task(seed=3, control_units=[units["depth_pass"], units["pose_rig"]])
    result = result_of(run_to_end(client, task))
    assert "ControlNet 1:" in result.images[0].parameters
    assert np.abs(pixels(result.images[0].image.data).astype(int) - plain).mean() > 0.5


def test_img2img_strength_keeps_more_of_the_init_image_when_low(client):
    init = gradient_image()
    def run(strength):
        task = generate_task(seed=4, steps=4, init_image=png(init), strength=strength)
        return pixels(result_of(run_to_end(client, task)).images[0].image.data).astype(int)
    low, high = run(0.25), run(1.0)
    assert np.abs(low - init).mean() < np.abs(high - init).mean()


def test_img2img_size_defaults_to_the_init_image_rounded_to_8(client):
    init = np.zeros((70, 83, 3), np.uint8)
    task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
        prompt="x", init_image=png(init), sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=1)))
    image = result_of(run_to_end(client, task)).images[0].image
    assert (image.width, image.height) == (80, 64)


def test_inpaint_keeps_the_unmasked_area_closer_to_the_init(client):
    init = gradient_image()
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, SIZE // 2:] = 255
    task = generate_task(seed=5, steps=4, init_image=png(init), mask_image=png(mask), strength=1.0)
    out = pixels(result_of(run_to_end(client, task)).images[0].image.data).astype(int)
    kept = np.abs(out[:, : SIZE // 2 - 8] - init[:, : SIZE // 2 - 8]).mean()
    repainted = np.abs(out[:, SIZE // 2 + 8:] - init[:, SIZE // 2 + 8:]).mean()
    assert kept < repainted


def test_inpaint_with_controlnet(client):
    init = gradient_image()
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    task = generate_task(seed=6, init_image=png(init), mask_image=png(mask),
                         control_units=[control_units()["depth_pass"]])
    assert result_of(run_to_end(client, task)).images[0].image.width == SIZE


def test_img2img_with_controlnet(client):
    task = generate_task(seed=6, init_image=png(gradient_image()), strength=0.6,
                         control_units=[control_units()["canny"]])
    assert result_of(run_to_end(client, task)).images[0].image.width == SIZE


def test_preprocess_returns_the_control_map(client):
    unit = control_units()["depth_pass"]
    task = tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=unit))
    (image,) = result_of(run_to_end(client, task)).images
    depth_map = pixels(image.image.data)
    assert image.role == "control" and depth_map.shape == (SIZE, SIZE, 3)
    assert depth_map[SIZE // 2, SIZE // 2, 0] > depth_map[SIZE - 4, SIZE - 4, 0] > 0 == depth_map[2, 2, 0]
