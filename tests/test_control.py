"""Control maps: depth passes, pose rigs, canny and the unit dispatcher, checked numerically.

The OpenPose and Canny outputs are compared with controlnet_aux, whose drawings and edge maps
are what ControlNet models were trained on.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from dccbridge.control import prepare_control_map, source_size
from dccbridge.control.canny import canny_map
from dccbridge.control.depth import BACKGROUND_GAP, decode_depth_pass, depth_to_control_map
from dccbridge.control.openpose import draw_pose_rig
from dccbridge.domain import (
    ControlType,
    ControlUnitSpec,
    DepthEncoding,
    DepthNormalization,
    DepthPassInput,
    ImageInput,
    Keypoint,
    PosePerson,
    PoseRigInput,
    PreprocessInput,
    Preprocessor,
)
from dccbridge.errors import InvalidInput, Unsupported
from dccbridge.imaging import encode_png

W, H = 64, 48


# ---------------------------------------------------------------- depth

def box_scene(background: float = np.inf) -> np.ndarray:
    """A far plane at 5, a near box at 2 covering a quarter of the frame, background in a corner."""
    depth = np.full((H, W), 5.0, np.float32)
    depth[12:36, 16:48] = 2.0
    depth[:8, :8] = background
    return depth


PERCENTILE = DepthNormalization.PERCENTILE


def linear_map(depth, near=0.0, far=0.0, width=W, height=H, normalization=PERCENTILE):
    return depth_to_control_map(depth, DepthEncoding.LINEAR, near, far, width, height, "unit.depth_pass",
                                normalization)


def float_pass(depth: np.ndarray, **kwargs) -> DepthPassInput:
    h, w = depth.shape
    kwargs.setdefault("encoding", DepthEncoding.LINEAR)
    return DepthPassInput(width=w, height=h, float32_le=depth.astype("<f4").tobytes(), **kwargs)


def test_linear_depth_near_is_bright_background_black():
    control = linear_map(box_scene())
    assert control.shape == (H, W, 3) and control.dtype == np.uint8
    assert (control[..., 0] == control[..., 1]).all() and (control[..., 1] == control[..., 2]).all()
    box, plane, background = control[20, 30, 0], control[40, 60, 0], control[2, 2, 0]
    assert box == 255
    assert plane == round(BACKGROUND_GAP * 255)  # the farthest foreground stays above black
    assert background == 0
    assert (control[8:, 8:, 0] > 0).all()


def test_linear_depth_is_scale_invariant():
    assert np.array_equal(
        linear_map(box_scene(), near=0.5, far=50.0), linear_map(box_scene() * 7, near=3.5, far=350.0)
    )
    # A slanted plane gives many distinct levels, so rounding differences would show.
    slanted = box_scene() + np.linspace(0, 3, W, dtype=np.float32)[None, :]
    base = linear_map(slanted, near=0.5, far=50.0)
    scaled = linear_map(slanted * 7, near=3.5, far=350.0)
    assert len(np.unique(base)) > 20
    assert np.abs(base.astype(int) - scaled.astype(int)).max() <= 1


@pytest.mark.parametrize("sentinel, far", [(1e10, 100.0), (65504.0, 1000.0)])
def test_host_background_sentinel_beyond_far_is_black(sentinel, far):
    control = linear_map(box_scene(background=sentinel), far=far)
    assert np.array_equal(control, linear_map(box_scene()))
    assert control[2, 2, 0] == 0


def test_inverse_encoding_matches_linear():
    # Same scene as disparity: 1/d, with the +inf background becoming 0 (also background).
    for background in (np.inf, 5.0):  # with and without a background region
        depth = box_scene(background) + np.linspace(0, 2, W, dtype=np.float32)[None, :]
        disparity = (1.0 / depth.astype(np.float64)).astype(np.float32)
        inverse = depth_to_control_map(disparity, DepthEncoding.INVERSE, 0, 0, W, H, "f", PERCENTILE)
        assert np.abs(inverse.astype(int) - linear_map(depth).astype(int)).max() <= 1


def test_normalized_encoding_is_clipped_as_is():
    values = np.array([[-0.5, 0.0, 0.5, 1.0, 2.0]], np.float32)
    control = depth_to_control_map(values, DepthEncoding.NORMALIZED, 0, 0, 5, 1, "f", PERCENTILE)
    assert control[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_outlier_pixels_do_not_flatten_the_scene():
    depth = box_scene()
    depth[30, 4] = 1e-4  # each would own one end of the range under min/max scaling
    depth[30, 5] = 1e6
    control = linear_map(depth)
    assert int(control[20, 30, 0]) - int(control[40, 60, 0]) > 50
    # The percentiles land on the box and the plane, so both keep their outlier-free levels.
    assert control[20, 30, 0] == 255 and control[40, 60, 0] == round(BACKGROUND_GAP * 255)


def test_small_object_in_front_of_a_wall_stays_visible():
    # 1 % of the frame: the 2nd and 98th percentiles both land on the wall.
    depth = np.full((100, 100), 4.0, np.float32)
    depth[:10, :10] = 1.0
    control = linear_map(depth, width=100, height=100)
    assert control[5, 5, 0] == 255 and control[50, 50, 0] == 0


def test_empty_scene_is_black():
    assert not linear_map(np.full((H, W), np.inf, np.float32), far=10).any()


def test_resize_to_another_output_size():
    control = linear_map(box_scene(), width=128, height=32)
    assert control.shape == (32, 128, 3)
    assert control[1, 2, 0] == 0  # inside the background corner (rows 0..5, cols 0..15 after resize)
    assert control[16, 64, 0] == 255  # the box centre
    assert control[30, 120, 0] == round(BACKGROUND_GAP * 255)


def test_nan_depth_is_rejected_with_its_field():
    depth = box_scene()
    depth[3, 3] = np.nan
    with pytest.raises(InvalidInput) as info:
        decode_depth_pass(float_pass(depth), "units[0].depth_pass")
    assert info.value.field == "units[0].depth_pass.float32_le"
    assert "NaN" in info.value.reason and "1 pixels" in info.value.reason


def test_negative_infinity_is_rejected():
    depth = box_scene(background=-np.inf)
    with pytest.raises(InvalidInput, match="-inf"):
        linear_map(depth)


def test_wrong_byte_count_names_float32_le():
    dp = DepthPassInput(width=4, height=3, encoding=DepthEncoding.LINEAR, float32_le=b"\0" * 44)
    with pytest.raises(InvalidInput) as info:
        decode_depth_pass(dp, "unit.depth_pass")
    assert info.value.field == "unit.depth_pass.float32_le"
    assert "expected W*H*4 = 48 bytes for 4x3, got 44" in info.value.reason


def test_depth_pass_without_data_is_rejected():
    with pytest.raises(InvalidInput) as info:
        decode_depth_pass(DepthPassInput(width=4, height=3, encoding=DepthEncoding.LINEAR), "dp")
    assert info.value.field == "dp"


@pytest.mark.parametrize(
    "near, far, bad_field",
    [(-1.0, 0.0, "dp.near"), (float("nan"), 0.0, "dp.near"), (0.0, -2.0, "dp.far"), (5.0, 5.0, "dp.far")],
)
def test_bad_clip_range_is_rejected(near, far, bad_field):
    with pytest.raises(InvalidInput) as info:
        depth_to_control_map(box_scene(), DepthEncoding.LINEAR, near, far, W, H, "dp", PERCENTILE)
    assert info.value.field == bad_field


def test_png16_round_trip():
    raw = np.full((H, W), 5000, np.uint16)  # millimetres: a plane at 5 m
    raw[12:36, 16:48] = 2000
    raw[:8, :8] = 0  # no data -> background
    ok, png = cv2.imencode(".png", raw)
    assert ok
    dp = DepthPassInput(
        width=0, height=0, encoding=DepthEncoding.LINEAR, png16=png.tobytes(), png16_scale=0.001
    )
    depth = decode_depth_pass(dp, "dp")
    assert depth.dtype == np.float32 and depth.shape == (H, W)
    assert depth[20, 30] == pytest.approx(2.0) and depth[40, 60] == pytest.approx(5.0)
    assert np.array_equal(linear_map(depth), linear_map(box_scene(background=0.0)))
    assert source_size(ControlUnitSpec(ControlType.DEPTH, dp)) == (W, H)


def test_png16_rejects_8bit_and_size_mismatch():
    ok, png8 = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InvalidInput, match="single-channel 16-bit"):
        decode_depth_pass(DepthPassInput(0, 0, DepthEncoding.LINEAR, png16=png8.tobytes()), "dp")
    ok, png16 = cv2.imencode(".png", np.zeros((4, 4), np.uint16))
    with pytest.raises(InvalidInput) as info:
        decode_depth_pass(DepthPassInput(5, 4, DepthEncoding.LINEAR, png16=png16.tobytes()), "dp")
    assert info.value.field == "dp.width"


# ---------------------------------------------------------------- depth normalisation

MIN_MAX, NEAR_FAR = DepthNormalization.MIN_MAX, DepthNormalization.NEAR_FAR


def receding_plane(size=64, far_end=20.0) -> np.ndarray:
    """A plane receding from 1 (bottom row) to far_end (top row), depth linear in the rows (a tilted plane seen by
    an orthographic camera): its inverse depth crowds towards the dark end, where percentiles and min..max part."""
    rows = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    return np.broadcast_to(far_end - (far_end - 1.0) * rows, (size, size)).copy()


def midas_annotator_map(inverse_depth: np.ndarray) -> np.ndarray:
    """controlnet_aux's MiDaS annotator on a given inverse depth: its own code scales it (min..max, x255), with a
    stand-in network that returns that inverse depth instead of estimating one."""
    import torch
    from controlnet_aux.midas import MidasDetector

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))  # the detector reads its device from a parameter

        def forward(self, _image):
            return torch.from_numpy(inverse_depth.astype(np.float32))[None]

    h, w = inverse_depth.shape
    return MidasDetector(Fixed())(np.zeros((h, w, 3), np.uint8), detect_resolution=w, image_resolution=w)


def test_min_max_equals_the_controlnet_annotators_scaling_on_a_plane():
    # The issue's example: on this plane the percentile map and the annotators' min..max map part by 62 levels.
    depth = receding_plane()
    inverse = 1.0 / depth.astype(np.float64)
    annotator = midas_annotator_map(inverse).astype(int)
    min_max = linear_map(depth, width=64, height=64, normalization=MIN_MAX).astype(int)
    percentile = linear_map(depth, width=64, height=64).astype(int)
    assert annotator.shape == min_max.shape
    assert np.abs(min_max - annotator).max() <= 1  # controlnet_aux truncates to uint8, we round
    assert np.abs(percentile - min_max).max() == 62
    assert np.abs(percentile - annotator).max() >= 62
    # The same through INVERSE encoding (the plane sent as disparity).
    from_inverse = depth_to_control_map(inverse, DepthEncoding.INVERSE, 0, 0, 64, 64, "f", MIN_MAX).astype(int)
    assert np.abs(from_inverse - min_max).max() <= 1


@pytest.mark.parametrize("normalization", [PERCENTILE, MIN_MAX])
def test_relative_normalisations_are_near_bright_background_black_and_scale_free(normalization):
    depth = box_scene() + np.linspace(0, 3, W, dtype=np.float32)[None, :]
    control = linear_map(depth, normalization=normalization)
    assert control[2, 2, 0] == 0  # background
    assert control[20, 30, 0] > control[40, 30, 0] > 0  # the box (2) is brighter than the plane (5) behind it
    scaled = linear_map(depth * 7, near=0.0, far=0.0, normalization=normalization)
    assert np.abs(control.astype(int) - scaled.astype(int)).max() <= 1


def test_min_max_lets_one_stray_pixel_set_the_white_point():
    depth = box_scene()
    depth[30, 4] = 0.2  # one pixel ten times nearer than the box
    min_max, percentile = linear_map(depth, normalization=MIN_MAX), linear_map(depth)
    assert min_max[30, 4, 0] == 255 and percentile[20, 30, 0] == 255
    assert min_max[20, 30, 0] < 80  # the box falls towards the plane's level


def test_near_far_is_a_fixed_mapping():
    near, far = 1.0, 10.0
    depth = np.array([[1.0, 2.0, 5.0, 9.99, np.inf, 0.5, 20.0]], np.float32)
    control = linear_map(depth, near=near, far=far, width=7, height=1, normalization=NEAR_FAR)[0, :, 0]
    expected = [BACKGROUND_GAP + (1 - BACKGROUND_GAP) * (1 / d - 1 / far) / (1 / near - 1 / far) for d in (2.0, 5.0)]
    assert control[0] == 255 and control[5] == 255  # at near, and nearer (clamped)
    assert control[1:3].tolist() == [round(v * 255) for v in expected]
    assert control[3] == round(BACKGROUND_GAP * 255)  # just before far: the darkest foreground
    assert control[4] == 0 and control[6] == 0  # background: +inf and beyond far
    # Fixed: a plane's level does not move when a nearer object enters the frame (it does under min..max).
    scene = np.full((H, W), 5.0, np.float32)
    with_box = scene.copy()
    with_box[12:36, 16:48] = 2.0
    for normalization, moves in ((NEAR_FAR, False), (MIN_MAX, True)):
        alone = linear_map(scene, near=near, far=far, normalization=normalization)[40, 60, 0]
        behind = linear_map(with_box, near=near, far=far, normalization=normalization)[40, 60, 0]
        assert (alone != behind) == moves, normalization


@pytest.mark.parametrize("near, far, bad_field", [(0.0, 10.0, "dp.near"), (1.0, 0.0, "dp.far")])
def test_near_far_needs_both_clip_planes(near, far, bad_field):
    with pytest.raises(InvalidInput) as info:
        depth_to_control_map(box_scene(), DepthEncoding.LINEAR, near, far, W, H, "dp", NEAR_FAR)
    assert info.value.field == bad_field and "DEPTH_NORMALIZATION_NEAR_FAR" in info.value.reason


def test_normalized_encoding_ignores_the_normalisation():
    values = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    maps = [depth_to_control_map(values, DepthEncoding.NORMALIZED, 0, 0, 4, 1, "f", n)[0, :, 0].tolist()
            for n in DepthNormalization]  # NEAR_FAR too, though near/far are unset
    assert maps == [[0, 64, 128, 255]] * 3


def test_unset_normalisation_is_the_family_default():
    from dccbridge.control import resolve_normalization
    from dccbridge.families import DEPTH_NORMALIZATION

    unset, chosen = float_pass(box_scene()), float_pass(box_scene(), normalization=PERCENTILE)
    assert {family: resolve_normalization(unset, family) for family in ("sd15", "sdxl", "sd2-depth")} == \
        {family: DepthNormalization(DEPTH_NORMALIZATION[family]) for family in ("sd15", "sdxl", "sd2-depth")} == \
        {"sd15": MIN_MAX, "sdxl": MIN_MAX, "sd2-depth": MIN_MAX}
    assert resolve_normalization(chosen, "sd15") is PERCENTILE


# ---------------------------------------------------------------- openpose

def random_people(rng: random.Random, count: int, canvas_w: int, canvas_h: int, with_extras: bool):
    def points(n: int, hidden: float) -> tuple[Keypoint, ...]:
        return tuple(
            Keypoint(rng.uniform(0, canvas_w), rng.uniform(0, canvas_h), visible=rng.random() > hidden)
            for _ in range(n)
        )

    return tuple(
        PosePerson(
            body=points(18, 0.15),
            left_hand=points(21, 0.1) if with_extras else (),
            right_hand=points(21, 0.1) if with_extras else (),
            face=points(70, 0.1) if with_extras else (),
        )
        for _ in range(count)
    )


def reference_drawing(rig: PoseRigInput, width: int, height: int) -> np.ndarray:
    from controlnet_aux.open_pose import PoseResult, draw_poses
    from controlnet_aux.open_pose.body import BodyResult
    from controlnet_aux.open_pose.body import Keypoint as AuxKeypoint

    def normalised(k: Keypoint, missing):
        return AuxKeypoint(k.x / rig.canvas_width, k.y / rig.canvas_height) if k.visible else missing

    # The annotator marks an undetected hand point with negative coordinates (it would crash on None).
    hidden_hand_point = AuxKeypoint(-1.0, -1.0)
    poses = [
        PoseResult(
            BodyResult([normalised(k, None) for k in person.body], 1.0, 18),
            [normalised(k, hidden_hand_point) for k in person.left_hand] or None,
            [normalised(k, hidden_hand_point) for k in person.right_hand] or None,
            [normalised(k, hidden_hand_point) for k in person.face] or None,
        )
        for person in rig.people
    ]
    return draw_poses(poses, height, width)


@pytest.mark.parametrize(
    "canvas, output, with_extras",
    [
        ((512, 512), (512, 512), False),
        ((640, 480), (640, 480), True),
        ((1920, 1080), (768, 432), True),  # keypoints scaled down
        ((300, 200), (517, 389), True),  # scaled up, odd sizes
    ],
)
def test_pose_drawing_matches_controlnet_aux_pixel_for_pixel(canvas, output, with_extras):
    rng = random.Random(hash((canvas, output, with_extras)) & 0xFFFF)
    for _ in range(5):
        rig = PoseRigInput(canvas[0], canvas[1], random_people(rng, rng.randint(1, 3), *canvas, with_extras))
        ours = draw_pose_rig(rig, *output, "unit.pose_rig")
        assert ours.shape == (output[1], output[0], 3)
        assert ours.any()
        np.testing.assert_array_equal(ours, reference_drawing(rig, *output))


def test_pose_edge_points_match_controlnet_aux():
    # Points on the canvas border: pixel 0 (skipped for hands/face by the annotator) and the far edge.
    corner = [Keypoint(0, 0), Keypoint(100, 100), Keypoint(0, 50), Keypoint(50, 0)]
    body = tuple(corner[i % 4] for i in range(18))
    hand = tuple(corner[i % 4] for i in range(21))
    rig = PoseRigInput(100, 100, (PosePerson(body, hand, hand, tuple(corner[i % 4] for i in range(70))),))
    np.testing.assert_array_equal(draw_pose_rig(rig, 64, 64, "r"), reference_drawing(rig, 64, 64))


def test_pose_rig_without_people_is_black():
    assert not draw_pose_rig(PoseRigInput(64, 64, ()), 32, 16, "r").any()


def test_off_canvas_keypoint_names_person_and_index():
    body = [Keypoint(10, 10)] * 18
    body[5] = Keypoint(120, 10)
    people = (PosePerson(tuple([Keypoint(1, 1)] * 18)), PosePerson(tuple(body)))
    with pytest.raises(InvalidInput) as info:
        draw_pose_rig(PoseRigInput(100, 80, people), 64, 64, "units[1].pose_rig")
    assert info.value.field == "units[1].pose_rig.people[1].body[5]"
    assert "off the canvas 0..100 x 0..80" in info.value.reason
    # The same point hidden is fine: invisible keypoints are not drawn, wherever they are.
    body[5] = Keypoint(120, 10, visible=False)
    draw_pose_rig(PoseRigInput(100, 80, (PosePerson(tuple(body)),)), 64, 64, "r")


@pytest.mark.parametrize(
    "person, bad_field",
    [
        (PosePerson(tuple([Keypoint(1, 1)] * 17)), "r.people[0].body"),
        (PosePerson(tuple([Keypoint(1, 1)] * 18), left_hand=(Keypoint(1, 1),)), "r.people[0].left_hand"),
        (PosePerson(tuple([Keypoint(1, 1)] * 18), face=tuple([Keypoint(1, 1)] * 68)), "r.people[0].face"),
        (PosePerson(tuple([Keypoint(float("nan"), 1)] * 18)), "r.people[0].body[0]"),
    ],
)
def test_bad_person_is_rejected(person, bad_field):
    with pytest.raises(InvalidInput) as info:
        draw_pose_rig(PoseRigInput(100, 100, (person,)), 64, 64, "r")
    assert info.value.field == bad_field


def test_bad_canvas_size_is_rejected():
    with pytest.raises(InvalidInput) as info:
        draw_pose_rig(PoseRigInput(0, 100, ()), 64, 64, "r")
    assert info.value.field == "r.canvas_width"


# ---------------------------------------------------------------- canny

def edge_image(size: int = 64) -> np.ndarray:
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:, size // 2 :] = (200, 120, 40)
    return rgb


def test_canny_marks_a_hard_edge():
    edges = canny_map(edge_image(), None, None, "f")
    assert edges.shape == (64, 64, 3)
    edge_columns = np.nonzero(edges[:, :, 0].any(axis=0))[0]
    assert set(edge_columns) <= {31, 32}
    assert (edges[2:-2, edge_columns[0], 0] == 255).all()
    # A step weaker than both thresholds yields no edges.
    faint = edge_image() // 40
    assert not canny_map(faint, 100, 200, "f").any()


@pytest.mark.parametrize(
    "low, high, bad_field",
    [(-1, 200, "f.low_threshold"), (100, 256, "f.high_threshold"), (150, 100, "f.low_threshold")],
)
def test_canny_thresholds_are_validated(low, high, bad_field):
    with pytest.raises(InvalidInput) as info:
        canny_map(edge_image(), low, high, "f")
    assert info.value.field == bad_field


@pytest.mark.parametrize("low, high", [(100, 200), (30, 60)])
def test_canny_matches_controlnet_aux(low, high):
    from controlnet_aux.canny import CannyDetector

    rng = np.random.default_rng(low)
    # Smooth random shading with random discs on top: edges of many orientations and strengths.
    rgb = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (512, 512), interpolation=cv2.INTER_CUBIC)
    for _ in range(20):
        centre, radius = rng.integers(0, 512, 2).tolist(), int(rng.integers(10, 80))
        cv2.circle(rgb, centre, radius, rng.integers(0, 256, 3).tolist(), thickness=-1)
    reference = CannyDetector()(rgb, low, high, detect_resolution=512, image_resolution=512)
    ours = canny_map(rgb, low, high, "f")
    assert ours.any()
    np.testing.assert_array_equal(ours, reference)


# ---------------------------------------------------------------- dispatch

def png(rgb: np.ndarray) -> ImageInput:
    return ImageInput(encode_png(rgb), "image/png")


def test_ready_image_is_resized():
    unit = ControlUnitSpec(ControlType.CANNY, png(edge_image(64)))
    control = prepare_control_map(unit, 32, 16, "units[0]")
    assert control.shape == (16, 32, 3)
    assert source_size(unit) == (64, 64)


def test_depth_pass_unit():
    unit = ControlUnitSpec(ControlType.DEPTH, float_pass(box_scene(), far=100.0))
    control = prepare_control_map(unit, W, H, "units[0]")
    assert np.array_equal(control, linear_map(box_scene()))
    assert source_size(unit) == (W, H)


def test_depth_pass_on_a_canny_unit_is_rejected():
    unit = ControlUnitSpec(ControlType.CANNY, float_pass(box_scene()))
    with pytest.raises(InvalidInput) as info:
        prepare_control_map(unit, W, H, "units[2]")
    assert info.value.field == "units[2].depth_pass"


def test_depth_pass_errors_name_the_unit():
    unit = ControlUnitSpec(ControlType.DEPTH, float_pass(box_scene(), near=-1.0))
    with pytest.raises(InvalidInput) as info:
        prepare_control_map(unit, W, H, "units[1]")
    assert info.value.field == "units[1].depth_pass.near"


def test_pose_rig_unit_and_type_check():
    rig = PoseRigInput(200, 100, random_people(random.Random(1), 1, 200, 100, False))
    unit = ControlUnitSpec(ControlType.OPENPOSE, rig)
    assert np.array_equal(prepare_control_map(unit, 64, 32, "u"), draw_pose_rig(rig, 64, 32, "u.pose_rig"))
    assert source_size(unit) == (200, 100)
    with pytest.raises(InvalidInput) as info:
        prepare_control_map(ControlUnitSpec(ControlType.DEPTH, rig), 64, 32, "u")
    assert info.value.field == "u.pose_rig"


def test_canny_preprocess_unit():
    source = PreprocessInput(png(edge_image(128)), canny_low=50, canny_high=150)
    unit = ControlUnitSpec(ControlType.CANNY, source)
    control = prepare_control_map(unit, 64, 64, "units[0]")
    assert np.array_equal(control, canny_map(edge_image(64), 50, 150, "f"))
    assert set(np.unique(control)) == {0, 255}  # edges stay crisp after the size change
    assert source_size(unit) == (128, 128)
    bad = ControlUnitSpec(ControlType.CANNY, PreprocessInput(png(edge_image()), canny_low=300))
    with pytest.raises(InvalidInput) as info:
        prepare_control_map(bad, 64, 64, "units[0]")
    assert info.value.field == "units[0].preprocess.canny.low_threshold"


def test_weight_backed_preprocessor_without_estimators_is_unsupported():
    unit = ControlUnitSpec(ControlType.DEPTH, PreprocessInput(png(edge_image())))
    with pytest.raises(Unsupported, match="depth_estimate"):
        prepare_control_map(unit, 64, 64, "u")


def test_weight_backed_preprocessor_uses_the_estimators():
    class GrayEstimator:
        def __init__(self):
            self.calls = []

        def run(self, preprocessor, rgb):
            self.calls.append((preprocessor, rgb.shape))
            return np.full(rgb.shape[:2], 77, np.uint8)

    estimators = GrayEstimator()
    unit = ControlUnitSpec(ControlType.LINEART, PreprocessInput(png(edge_image(64))))
    control = prepare_control_map(unit, 32, 48, "u", estimators)
    assert control.shape == (48, 32, 3) and (control == 77).all()
    assert estimators.calls == [(Preprocessor.LINEART, (64, 64, 3))]


def test_control_type_without_natural_preprocessor_needs_one():
    unit = ControlUnitSpec(ControlType.TILE, PreprocessInput(png(edge_image())))
    with pytest.raises(InvalidInput) as info:
        prepare_control_map(unit, 64, 64, "u")
    assert info.value.field == "u.preprocess.preprocessor"


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 9), (70, 83, 3), (300, 17, 4), (257, 64, 3)])
def test_fast_png_path_is_lossless_and_readable_by_pil(shape):
    # The result encoder writes its own IDAT (parallel strips); PIL and OpenCV must read it back exactly.
    import io

    from PIL import Image

    from dccbridge.imaging import encode_png, read_png_text

    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    png = encode_png(pixels, {"parameters": "Steps: 2, Seed: 7 — é"})
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), pixels)
    assert read_png_text(png)["parameters"] == "Steps: 2, Seed: 7 — é"
