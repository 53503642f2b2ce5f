"""A texture task with a GIVEN albedo (TextureTask.albedo): no diffusion, the PBR maps of that albedo -- the same
maps pbr.pbr_maps computes, for any tiling and normal convention -- and clear errors for what cannot apply."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from dccbridge.domain import NormalConvention, TilingAxes
from dccbridge.ops.pbr import PBR_ROLES, pbr_maps
from dccbridge.v1 import media_pb2, tasks_pb2

from conftest import assert_invalid_argument, pixels, result_of, run_to_end
from test_generate_modes import png


def albedo_image(height=48, width=64) -> np.ndarray:
    """Non-square, with fine noise over a ramp: every map has structure (a flat albedo gives flat maps)."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(40, 200, width)[None, :, None]
    return np.clip(ramp + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)


def zero_size_png() -> media_pb2.Image:
    """A well-formed PNG whose header says 0 x 0 (encoders refuse to write one)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return media_pb2.Image(data=data, mime_type="image/png")


def albedo_task(albedo=None, **fields) -> tasks_pb2.Task:
    image = png(albedo_image() if albedo is None else albedo)
    return tasks_pb2.Task(texture=tasks_pb2.TextureTask(albedo=image, **fields))


@pytest.mark.parametrize(("tiling", "convention"), [
    (tasks_pb2.TILING_AXES_NONE, tasks_pb2.NORMAL_CONVENTION_OPENGL),
    (tasks_pb2.TILING_AXES_BOTH, tasks_pb2.NORMAL_CONVENTION_DIRECTX),
], ids=["none-opengl", "both-directx"])
def test_maps_of_a_given_albedo_equal_pbr_maps_of_it(client, tiling, convention):
    albedo = albedo_image()
    result = result_of(run_to_end(client, albedo_task(albedo, pbr_maps=True, tiling=tiling,
                                                      normal_convention=convention)))
    assert [(i.role, i.index) for i in result.images] == [(r, 0) for r in ("albedo", *PBR_ROLES)]
    got = {i.role: pixels(i.image.data) for i in result.images}
    assert (got["albedo"] == albedo).all()
    domain_tiling = {tasks_pb2.TILING_AXES_NONE: TilingAxes.NONE, tasks_pb2.TILING_AXES_BOTH: TilingAxes.BOTH}[tiling]
    domain_convention = (NormalConvention.DIRECTX if convention == tasks_pb2.NORMAL_CONVENTION_DIRECTX
                         else NormalConvention.OPENGL)
    expected = pbr_maps(albedo, domain_tiling, domain_convention)
    for role in PBR_ROLES:
        assert got[role].shape[:2] == (48, 64), role
        assert got[role].std() > 1, f"{role} is flat: the comparison would prove little"
        # gray maps come back as PNG "L"; pixels() decodes them as RGB with equal channels
        sent = got[role] if expected[role].ndim == 3 else got[role][..., 0]
        assert np.array_equal(sent, expected[role]), role
    texture = json.loads(result.extra_json)["texture"]
    assert texture["roles"] == ["albedo", *PBR_ROLES] and texture["given_albedo"] is True


def test_no_step_is_denoised(client):
    events = run_to_end(client, albedo_task(pbr_maps=True))
    stages = {e.progress.stage for e in events if e.WhichOneof("event") == "progress"}
    assert stages == {"pbr"}, stages            # a generated texture reports "denoise" (and "load") too


def test_without_pbr_maps_only_the_albedo_comes_back(client):
    result = result_of(run_to_end(client, albedo_task()))
    assert [i.role for i in result.images] == ["albedo"]
    assert json.loads(result.metadata_json)["mode"] == "given_albedo"


def test_the_feature_is_advertised(client):
    assert "texture_albedo" in client.capabilities().features


@pytest.mark.parametrize(("task", "field", "phrase"), [
    (tasks_pb2.Task(texture=tasks_pb2.TextureTask(albedo=media_pb2.Image(data=b""), pbr_maps=True)), "albedo", None),
    (tasks_pb2.Task(texture=tasks_pb2.TextureTask(albedo=zero_size_png(), pbr_maps=True)), "albedo", None),
    (albedo_task(pbr_maps=True, prompt="bricks"), "prompt", "must be unset with an albedo"),
    (albedo_task(pbr_maps=True, width=64, height=64), "width", "must be unset with an albedo"),
    (albedo_task(pbr_maps=True, sampling=tasks_pb2.Sampling(num_inference_steps=2)), "sampling", "unset"),
    (albedo_task(pbr_maps=True, tiling=9), "tiling", "unknown value"),
], ids=["empty bytes", "zero-size image", "prompt", "size", "sampling", "unknown tiling"])
def test_bad_albedo_input_names_the_field(client, address, task, field, phrase):
    assert_invalid_argument(client, address, task, field, phrase)
