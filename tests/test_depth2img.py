"""depth2img through a real server: the sd2-depth pipeline (tiny-depth2img) fed with a host depth pass or with
the model's own depth estimate, depth-preserving img2img on sd15 (ControlNet depth + img2img), and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dccbridge.client import depth_pass_from_array
from dccbridge.imaging import encode_png, read_png_text
from dccbridge.v1 import tasks_pb2

from conftest import assert_invalid_argument, pixels, result_of, run_to_end
from test_cli import cli
from test_generate_modes import SIZE, box_depth, gradient_image, png

DEPTH2IMG_MODEL = "tiny-depth2img"


def depth2img_task(model_id=DEPTH2IMG_MODEL, depth=None, seed=7, **fields) -> tasks_pb2.Task:
    task = tasks_pb2.Depth2ImgTask(model_id=model_id, prompt="a stone tower", init_image=png(gradient_image()),
                                   sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=seed), **fields)
    if depth is not None:
        task.depth_pass.CopyFrom(depth_pass_from_array(depth, "linear", 0.1, 100.0))
    return tasks_pb2.Task(depth2img=task)


def run_depth2img(client, task):
    result = result_of(run_to_end(client, task))
    (image,) = result.images
    return pixels(image.image.data).astype(int), json.loads(result.metadata_json), image


def test_sd2_depth_with_a_depth_pass_follows_the_depth(client):
    image, meta, result_image = run_depth2img(client, depth2img_task(depth=box_depth()))
    assert image.shape == (SIZE, SIZE, 3)
    assert (meta["mode"], meta["method"], meta["depth_source"]) == ("depth2img", "sd2_depth", "depth_pass")
    assert "Model: tiny-depth2img" in result_image.parameters and "Denoising strength: 0.75" in result_image.parameters
    again, _, _ = run_depth2img(client, depth2img_task(depth=box_depth()))
    assert (again == image).all()
    # Random weights: the depth channel moves a one-step img2img result only slightly, but deterministically.
    other_depth, _, _ = run_depth2img(client, depth2img_task(depth=np.flipud(box_depth()) * 3.0 + 1.0))
    assert np.abs(other_depth - image).mean() > 0.1, "the depth pass had no effect"


def test_sd2_depth_estimates_depth_when_only_an_image_is_sent(client):
    image, meta, result_image = run_depth2img(client, depth2img_task())
    assert image.shape == (SIZE, SIZE, 3)
    assert (meta["method"], meta["depth_source"]) == ("sd2_depth", "estimated")
    assert "Depth: estimated" in result_image.parameters


def test_depth_preserving_img2img_on_sd15_uses_the_depth_controlnet(client):
    plain_task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(
        prompt="a stone tower", init_image=png(gradient_image()),
        sampling=tasks_pb2.Sampling(num_inference_steps=2, seed=7)))
    plain = pixels(result_of(run_to_end(client, plain_task)).images[0].image.data).astype(int)
    with_pass, meta, result_image = run_depth2img(client, depth2img_task(model_id="tiny", depth=box_depth()))
    assert (meta["mode"], meta["method"], meta["depth_source"]) == ("depth2img", "controlnet_depth", "depth_pass")
    assert 'ControlNet 0: "Module: DepthPass, Model: depth' in result_image.parameters
    estimated, meta, result_image = run_depth2img(client, depth2img_task(model_id="tiny"))
    assert meta["depth_source"] == "estimated" and "Module: Preprocess" in result_image.parameters
    for controlled in (with_pass, estimated):
        assert np.abs(controlled - plain).mean() > 0.5, "img2img without the depth ControlNet"


def test_depth2img_cli_with_a_depth_file(address, tmp_path):
    (tmp_path / "render.png").write_bytes(encode_png(gradient_image()))
    np.save(tmp_path / "z.npy", box_depth())
    out = tmp_path / "out.png"
    run = cli("depth2img", "--server", address, "--model", DEPTH2IMG_MODEL, "--prompt", "ruins", "--steps", "2",
              "--init", tmp_path / "render.png", "--depth", tmp_path / "z.npy", "--depth-far", "100", "-o", out)
    assert run.returncode == 0, run.stderr
    assert "Model: tiny-depth2img" in read_png_text(out.read_bytes())["parameters"]


def flat_depth():
    return np.full((SIZE, SIZE), np.inf, np.float32)  # all background: nothing to keep


def nan_depth():
    depth = box_depth()
    depth[3, 3] = np.nan
    return depth


@pytest.mark.parametrize(("task", "field", "phrase"), [
    (tasks_pb2.Task(depth2img=tasks_pb2.Depth2ImgTask(model_id=DEPTH2IMG_MODEL, prompt="x")), "init_image",
     "is required"),
    (depth2img_task(depth=nan_depth()), "depth_pass.float32_le", "NaN"),
    (depth2img_task(depth=flat_depth()), "depth_pass", "flat"),
    (depth2img_task(strength=0.0), "strength", "(0, 1]"),
    (depth2img_task(width=100, height=64), "width", "multiple of 8"),
    (depth2img_task(model_id="tiny", depth=flat_depth()), "depth_pass", "flat"),
], ids=["no init image", "NaN depth", "flat depth", "strength zero", "size", "flat depth on sd15"])
def test_bad_depth2img_input_names_the_field(client, address, task, field, phrase):
    assert_invalid_argument(client, address, task, field, phrase)
