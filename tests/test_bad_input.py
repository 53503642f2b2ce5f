"""Every class of user mistake gets INVALID_ARGUMENT (or NOT_FOUND) naming the field and the allowed
range, never INTERNAL, and the server stays SERVING."""

from __future__ import annotations

import numpy as np
import pytest
import grpc

from dccbridge.client import depth_pass_from_array
from dccbridge.domain import TaskType
from dccbridge.imaging import encode_png
from dccbridge.ops import OP_MODULES
from dccbridge.v1 import control_pb2, media_pb2, tasks_pb2

from conftest import SERVING, assert_invalid_argument, generate_task, health_status
from test_generate_modes import t_pose


def png(array):
    return media_pb2.Image(data=encode_png(array))


def with_unit(unit):
    return generate_task(control_units=[unit])


def nan_depth():
    depth = np.full((64, 64), 3.0, np.float32)
    depth[5, 5] = np.nan
    return control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH,
                                   depth_pass=depth_pass_from_array(depth))


def off_canvas_pose():
    rig = t_pose()
    rig.people[0].body[4].x = 500.0
    return control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_OPENPOSE, pose_rig=rig)


def short_depth_bytes():
    unit = nan_depth()
    unit.depth_pass.float32_le = b"\x00" * 100
    return unit


def init_and_mask(init_size, mask_size):
    return generate_task(init_image=png(np.zeros((init_size, init_size, 3), np.uint8)),
                         mask_image=png(np.zeros((mask_size, mask_size), np.uint8)))


CASES = {
    "bad image bytes": (generate_task(init_image=media_pb2.Image(data=b"not an image")), "init_image",
                        "not a PNG, JPEG or WebP"),
    "truncated png": (generate_task(init_image=media_pb2.Image(data=encode_png(np.zeros((8, 8, 3), np.uint8))[:40])),
                      "init_image", "corrupt"),
    "size not a multiple of 8": (generate_task(size=100), "width", "multiple of 8"),
    "size above the limit": (generate_task(size=4096), "width", "between 8 and 2048"),
    "only width": (tasks_pb2.Task(generate=tasks_pb2.GenerateTask(prompt="x", width=64)), "height", "both"),
    "steps out of range": (generate_task(steps=500), "sampling.num_inference_steps", "between 1 and 150"),
    "steps zero": (generate_task(steps=0), "sampling.num_inference_steps", "between 1 and 150"),
    "guidance NaN": (generate_task(guidance_scale=float("nan")), "sampling.guidance_scale", "finite"),
    "guidance too high": (generate_task(guidance_scale=99.0), "sampling.guidance_scale", "[0, 30]"),
    "unknown scheduler": (generate_task(scheduler="warp_drive"), "sampling.scheduler", "unipc"),
    "batch too large": (generate_task(num_images_per_prompt=99), "sampling.num_images_per_prompt", "between 1 and 8"),
    "seed below -1": (generate_task(seed=-5), "sampling.seed", "-1"),
    "strength without init": (generate_task(strength=0.5), "strength", "init_image"),
    "strength zero": (generate_task(init_image=png(np.zeros((64, 64, 3), np.uint8)), strength=0.0), "strength",
                      "(0, 1]"),
    "img2img with no step": (generate_task(init_image=png(np.zeros((64, 64, 3), np.uint8)), steps=1, strength=0.5),
                             "sampling.num_inference_steps", "with strength 0.5 img2img would get no denoising step; "
                             "use at least 2 steps"),
    "texture img2img with no step": (
        tasks_pb2.Task(texture=tasks_pb2.TextureTask(prompt="x", width=64, height=64,
                                                     sampling=tasks_pb2.Sampling(num_inference_steps=1),
                                                     init_image=png(np.zeros((64, 64, 3), np.uint8)))),
        "sampling.num_inference_steps", "with strength 0.75 img2img would get no denoising step"),
    "mask size mismatch": (init_and_mask(64, 32), "mask_image", "same size as init_image (64x64), got 32x32"),
    "mask without init": (generate_task(mask_image=png(np.zeros((64, 64), np.uint8))), "mask_image", "init_image"),
    "NaN depth": (with_unit(nan_depth()), "control_units[0].depth_pass.float32_le", "NaN"),
    "depth byte count": (with_unit(short_depth_bytes()), "control_units[0].depth_pass.float32_le", "bytes"),
    "keypoint off canvas": (with_unit(off_canvas_pose()), "control_units[0].pose_rig.people[0].body[4]", "canvas"),
    "unit without source": (with_unit(control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_CANNY)),
                            "control_units[0].source", "one of"),
    "unit without type": (with_unit(control_pb2.ControlUnit(image=png(np.zeros((64, 64, 3), np.uint8)))),
                          "control_units[0].control_type", "CONTROL_TYPE_CANNY"),
    "unit weight": (with_unit(control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH,
                                                      controlnet_conditioning_scale=3.0,
                                                      image=png(np.zeros((64, 64, 3), np.uint8)))),
                    "control_units[0].controlnet_conditioning_scale", "[0, 2]"),
    "guidance start after end": (with_unit(control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH,
                                                                   control_guidance_start=0.8,
                                                                   control_guidance_end=0.2,
                                                                   image=png(np.zeros((64, 64, 3), np.uint8)))),
                                 "control_units[0].control_guidance_end", "greater than"),
    "depth pass on a canny unit": (with_unit(control_pb2.ControlUnit(
        control_type=control_pb2.CONTROL_TYPE_CANNY, depth_pass=nan_depth().depth_pass)),
        "control_units[0].depth_pass", None),
    "empty task": (tasks_pb2.Task(), "task", "generate"),
    "canny threshold": (with_unit(control_pb2.ControlUnit(
        control_type=control_pb2.CONTROL_TYPE_CANNY,
        preprocess=control_pb2.PreprocessSource(image=png(np.zeros((64, 64, 3), np.uint8)),
                                                canny=control_pb2.CannyParams(low_threshold=300)))),
        "control_units[0].preprocess.canny.low_threshold", "255"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_invalid_argument_naming_the_field(client, address, name):
    task, field, phrase = CASES[name]
    assert_invalid_argument(client, address, task, field, phrase)


def test_unknown_model_is_not_found_listing_the_ids(client, address):
    task = generate_task()
    task.generate.model_id = "sdxl-turbo-9000"
    with pytest.raises(grpc.RpcError) as error:
        client.submit(task)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "sdxl-turbo-9000" in error.value.details() and "tiny" in error.value.details()
    assert health_status(address) == SERVING


def test_task_types_of_later_versions_are_unimplemented_not_internal(client, monkeypatch):
    # Every v1 task type is served now; take one away as a server of an earlier version would lack it.
    monkeypatch.delitem(OP_MODULES, TaskType.UPSCALE)
    task = tasks_pb2.Task(upscale=tasks_pb2.UpscaleTask(image=png(np.zeros((8, 8, 3), np.uint8))))
    with pytest.raises(grpc.RpcError) as error:
        client.submit(task)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED and "upscale" in error.value.details()


def test_list_jobs_page_size_and_get_job_wait_limits(client):
    with pytest.raises(grpc.RpcError) as error:
        client.list_jobs(page_size=10_000)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        client.get_job("x", wait_ms=3_600_000)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "wait_ms" in error.value.details()
