"""The CLI end to end, and the server process: SIGTERM lets the running job finish, keeps the queue, exit 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from dccbridge.client import Client
from dccbridge.imaging import encode_png, read_png_text
from dccbridge.v1 import jobs_pb2

from conftest import generate_task, pixels
from test_generate_modes import box_depth, gradient_image

DCCBRIDGE = [sys.executable, "-m", "dccbridge.cli"]


def cli(*args, timeout=300):
    return subprocess.run([*DCCBRIDGE, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_generate_with_every_control_kind_writes_a_png(address, tmp_path):
    (tmp_path / "edges.png").write_bytes(encode_png(gradient_image()))
    np.save(tmp_path / "depth.npy", box_depth())
    pose = {"canvas_width": 64, "canvas_height": 64, "people": [{"pose_keypoints_2d": sum(
        ([20.0 + i, 10.0 + 2 * i, 1.0] for i in range(18)), [])}]}
    (tmp_path / "pose.json").write_text(json.dumps(pose))
    out = tmp_path / "out.png"
    run = cli("generate", "--server", address, "--prompt", "a castle", "--steps", "2", "--seed", "42",
              "--width", "64", "--height", "64", "--control", f"canny={tmp_path / 'edges.png'},low=50,high=150",
              "--control", f"depth={tmp_path / 'depth.npy'},weight=0.8", "--depth-far", "100",
              "--control", f"openpose={tmp_path / 'pose.json'}", "-o", out)
    assert run.returncode == 0, run.stderr
    assert str(out) in run.stdout and "seed 42" in run.stderr
    text = read_png_text(out.read_bytes())
    assert "ControlNet 2:" in text["parameters"] and "Seed: 42" in text["parameters"]
    assert pixels(out.read_bytes()).shape == (64, 64, 3)


def test_img2img_and_inpaint_from_the_cli(address, tmp_path):
    (tmp_path / "init.png").write_bytes(encode_png(gradient_image()))
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    (tmp_path / "mask.png").write_bytes(encode_png(mask))
    out = tmp_path / "inpaint.png"
    run = cli("generate", "--server", address, "--prompt", "x", "--steps", "2", "--init", tmp_path / "init.png",
              "--strength", "0.9", "--mask", tmp_path / "mask.png", "-o", out)
    assert run.returncode == 0, run.stderr
    assert "Denoising strength: 0.9" in read_png_text(out.read_bytes())["parameters"]


def test_errors_print_the_servers_message_and_exit_non_zero(address, tmp_path):
    run = cli("generate", "--server", address, "--prompt", "x", "--width", "100", "--height", "64",
              "-o", tmp_path / "x.png")
    assert run.returncode == 1
    assert "INVALID_ARGUMENT: width: must be a multiple of 8, got 100" in run.stderr
    run = cli("generate", "--server", address, "--prompt", "x", "--model", "nope", "-o", tmp_path / "x.png")
    assert run.returncode == 1 and "NOT_FOUND" in run.stderr and "tiny" in run.stderr


def test_models_lists_the_catalog(address):
    local = cli("models")
    assert local.returncode == 0 and local.stdout.startswith("tiny (default)")
    remote = cli("models", "--server", address)
    assert remote.returncode == 0 and "canny" in remote.stdout


def test_jobs_list_and_fetch(client, address, tmp_path):
    job = client.submit(generate_task(seed=8))
    client.wait_result(job.job_id)
    assert job.job_id in cli("jobs", "list", "--server", address).stdout
    out = tmp_path / "fetched.png"
    fetched = cli("jobs", "fetch", job.job_id, "--server", address, "-o", out)
    assert fetched.returncode == 0, fetched.stderr
    assert "Seed: 8" in read_png_text(out.read_bytes())["parameters"]


def start_server_process(data_dir, *extra):
    process = subprocess.Popen([*DCCBRIDGE, "serve", "--port", "0", "--http-port", "0", "--data-dir", str(data_dir),
                                "--device", "cpu", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, f"no listening line: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
    return process, f"127.0.0.1:{match.group(1)}"


def test_sigterm_finishes_the_running_job_then_exits_zero(tmp_path):
    # A generous grace: a loaded CI machine must not turn "finish the job" into "cancel it".
    process, address = start_server_process(tmp_path, "--grace", "300")
    try:
        with Client(address) as client:
            client.capabilities(timeout=60)
            running = client.submit(generate_task(size=64, steps=30))
            job = client.get_job(running.job_id, wait_ms=60_000, after_sequence=running.sequence)
            while job.progress.step < 1:
                job = client.get_job(running.job_id, wait_ms=60_000, after_sequence=job.sequence)
            queued = client.submit(generate_task(steps=1))
            process.send_signal(signal.SIGTERM)
            events = list(client.watch(running.job_id, after_sequence=job.sequence))
        assert events[-1].WhichOneof("event") == "result"
        assert os.path.exists(events[-1].result.images[0].path)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
    # the queued job stayed queued in the index, and the next start runs it
    process, address = start_server_process(tmp_path)
    try:
        with Client(address) as client:
            assert client.get_job(running.job_id).state == jobs_pb2.JOB_STATE_SUCCEEDED
            assert client.wait_result(queued.job_id, timeout_s=120).state == jobs_pb2.JOB_STATE_SUCCEEDED
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_refuses_to_start_on_a_bad_catalog(tmp_path):
    catalog = tmp_path / "bad.toml"
    catalog.write_text("[models.x]\nfamily = 'sd15'\n")  # no source
    run = cli("serve", "--port", "0", "--http-port", "0", "--data-dir", tmp_path, "--models", catalog, timeout=120)
    assert run.returncode == 2 and "source" in run.stderr


def test_depth_files_from_exr_npy_and_16bit_png_give_the_same_plane(tmp_path):
    import cv2
    import OpenEXR

    from dccbridge.client import depth_pass_from_file

    depth = box_depth()
    depth[np.isinf(depth)] = 0.0  # "no data" in every format
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"ViewLayer.Depth.Z": depth}) as exr:
        exr.write(str(tmp_path / "z.exr"))
    np.save(tmp_path / "z.npy", depth)
    cv2.imwrite(str(tmp_path / "z.png"), (depth * 1000).astype(np.uint16))  # millimetres
    planes = [depth_pass_from_file(tmp_path / "z.exr", far=100), depth_pass_from_file(tmp_path / "z.npy", far=100)]
    assert planes[0].float32_le == planes[1].float32_le and planes[0].width == 64
    png = depth_pass_from_file(tmp_path / "z.png", far=100, png16_scale=0.001)
    assert png.png16 and png.png16_scale == pytest.approx(0.001)
