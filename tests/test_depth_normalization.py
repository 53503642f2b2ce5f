"""Depth normalisation per unit (percentile, min..max, near/far) through a real server on the tiny preset: the maps
preprocess returns, the family default a generate job uses, what provenance records, the CLI option and the errors.
The numeric rules themselves are held in test_control.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dccbridge.client import depth_pass_from_array
from dccbridge.control.depth import BACKGROUND_GAP
from dccbridge.imaging import read_png_text
from dccbridge.v1 import control_pb2, media_pb2, tasks_pb2

from conftest import assert_invalid_argument, generate_task, pixels, result_of, run_to_end
from test_cli import cli
from test_control import receding_plane

SIZE = 64
NORMS = {"percentile": media_pb2.DEPTH_NORMALIZATION_PERCENTILE, "min_max": media_pb2.DEPTH_NORMALIZATION_MIN_MAX,
         "near_far": media_pb2.DEPTH_NORMALIZATION_NEAR_FAR}


def plane_with_box(scale: float = 1.0) -> np.ndarray:
    """The 62-level receding plane (1..20), a box in front of all of it at depth 0.8 and a background corner."""
    depth = receding_plane(SIZE) * scale
    depth[24:40, 24:40] = 0.8 * scale
    depth[:8, :8] = np.inf
    return depth


def depth_unit(depth, norm=None, near=0.1, far=100.0) -> control_pb2.ControlUnit:
    depth_pass = depth_pass_from_array(depth, "linear", near, far)
    if norm is not None:
        depth_pass.normalization = NORMS[norm]
    return control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH, depth_pass=depth_pass)


def preprocess(client, unit) -> tuple[np.ndarray, dict]:
    task = tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=unit, width=SIZE, height=SIZE))
    result = result_of(run_to_end(client, task))
    return pixels(result.images[0].image.data)[:, :, 0].astype(int), json.loads(result.metadata_json)


@pytest.mark.parametrize("norm", ["percentile", "min_max", "near_far"])
def test_each_mode_keeps_near_bright_and_background_black(client, norm):
    control, meta = preprocess(client, depth_unit(plane_with_box(), norm, near=0.5, far=25.0))
    assert meta["depth_normalization"] == {"unit.depth_pass": norm}
    box, plane_near, plane_far, background = control[32, 32], control[60, 32], control[10, 32], control[2, 2]
    assert background == 0
    assert box > plane_near > plane_far >= round(BACKGROUND_GAP * 255)
    if norm == "near_far":  # fixed: only depth at near is white; the box at 0.8 is not, though it is the nearest
        assert box == round(255 * (BACKGROUND_GAP + (1 - BACKGROUND_GAP) * (1 / 0.8 - 1 / 25.0) / (2 - 1 / 25.0)))
    else:  # relative: the nearest foreground is white, whatever its depth, and scaling the scene changes nothing
        assert box == 255
        scaled, _ = preprocess(client, depth_unit(plane_with_box(scale=9.0), norm, near=4.5, far=225.0))
        assert np.abs(scaled - control).max() <= 1


def test_the_modes_differ_on_the_plane_and_near_far_is_exact(client):
    maps = {norm: preprocess(client, depth_unit(receding_plane(SIZE), norm, near=1.0, far=25.0))[0]
            for norm in NORMS}
    assert np.abs(maps["percentile"] - maps["min_max"]).max() == 62
    rows = np.linspace(0.0, 1.0, SIZE)
    depth = 20.0 - 19.0 * rows
    expected = BACKGROUND_GAP + (1 - BACKGROUND_GAP) * (1 / depth - 1 / 25.0) / (1 / 1.0 - 1 / 25.0)
    column = maps["near_far"][:, 5]
    assert np.abs(column[:-1] - np.rint(expected[:-1] * 255)).max() <= 1
    assert column[-1] == 255  # at near


def generate_with(client, unit, model_id="tiny"):
    task = generate_task(seed=5, model_id=model_id, control_units=[unit])
    result = result_of(run_to_end(client, task))
    image = result.images[0]
    return pixels(image.image.data).astype(int), json.loads(result.metadata_json), image.parameters


def stray_pixel_plane() -> np.ndarray:
    """The plane with one stray pixel far nearer than the rest: min..max crushes the plane towards black, the
    percentiles ignore the pixel, so the two maps differ everywhere."""
    depth = receding_plane(SIZE)
    depth[5, 5] = 0.05
    return depth


@pytest.mark.parametrize("model_id", ["tiny", "tiny-sdxl"])
def test_unset_is_the_family_default_and_provenance_records_it(client, model_id):
    default, meta, parameters = generate_with(client, depth_unit(stray_pixel_plane()), model_id)
    assert meta["depth_normalization"] == {"control_units[0].depth_pass": "min_max"}
    assert "Depth Normalization: min_max" in parameters
    explicit, _, _ = generate_with(client, depth_unit(stray_pixel_plane(), "min_max"), model_id)
    assert np.array_equal(default, explicit)  # the default is min..max, not merely recorded as such
    percentile, meta, parameters = generate_with(client, depth_unit(stray_pixel_plane(), "percentile"), model_id)
    assert meta["depth_normalization"] == {"control_units[0].depth_pass": "percentile"}
    assert "Depth Normalization: percentile" in parameters
    # Random-weight ControlNets respond only faintly to the map's levels, but deterministically: any change shows.
    assert not np.array_equal(percentile, default), "the normalisation did not reach the ControlNet"


@pytest.mark.parametrize("near, far, field", [(0.0, 20.0, "near"), (1.0, 0.0, "far"), (5.0, 2.0, "far")])
def test_near_far_without_a_valid_range_is_refused_naming_the_field(client, address, near, far, field):
    task = generate_task(control_units=[depth_unit(receding_plane(SIZE), "near_far", near=near, far=far)])
    assert_invalid_argument(client, address, task, f"control_units[0].depth_pass.{field}")


def test_unknown_normalisation_value_is_refused(client, address):
    unit = depth_unit(receding_plane(SIZE))
    unit.depth_pass.normalization = 7
    assert_invalid_argument(client, address, generate_task(control_units=[unit]),
                            "control_units[0].depth_pass.normalization", "DEPTH_NORMALIZATION_MIN_MAX")


def test_cli_norm_option(address, tmp_path):
    np.save(tmp_path / "z.npy", receding_plane(SIZE))
    maps = {}
    for norm in ("minmax", "percentile"):
        out = tmp_path / f"{norm}.png"
        run = cli("preprocess", "--server", address, "--control", f"depth={tmp_path / 'z.npy'},norm={norm}",
                  "-o", out)
        assert run.returncode == 0, run.stderr
        maps[norm] = pixels(out.read_bytes())[:, :, 0].astype(int)
        provenance = json.loads(read_png_text(out.read_bytes())["dccbridge"])
        assert provenance["depth_normalization"] == {"unit.depth_pass": {"minmax": "min_max"}.get(norm, norm)}
    assert np.abs(maps["minmax"] - maps["percentile"]).max() == 62
    run = cli("preprocess", "--server", address, "--control", f"depth={tmp_path / 'z.npy'},norm=median",
              "-o", tmp_path / "bad.png")
    assert run.returncode == 2 and "median" in run.stderr and "minmax" in run.stderr


@pytest.mark.parametrize("model_id, norm", [("tiny-depth2img", None), ("tiny", "near_far")])
def test_depth2img_records_the_normalisation_of_its_depth_pass(client, model_id, norm):
    from test_depth2img import depth2img_task

    task = depth2img_task(model_id=model_id, depth=plane_with_box())
    if norm is not None:
        task.depth2img.depth_pass.normalization = NORMS[norm]
    result = result_of(run_to_end(client, task))
    expected = norm or "min_max"  # sd2-depth's default: its pipeline rescales depth min..max itself
    assert json.loads(result.metadata_json)["depth_normalization"] == {"depth_pass": expected}
    parameters = result.images[0].parameters
    assert f"Depth normalization: {expected}" in parameters or f"Depth Normalization: {expected}" in parameters
