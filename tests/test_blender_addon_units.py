"""The Blender add-on's pure-Python parts (no Blender): vendored stubs, zips and manifest, the versions it states,
pose mapping and projection, LoRA/embedding/VAE choices, the render-pass EXR reader, buffers and the PNG encoder.
Real Blender: tests/test_blender_addon.py."""

from __future__ import annotations

import json
import math
import struct
import tomllib
import zipfile

import numpy as np
import pytest

from blender_support import BPY_DEFAULT, BPY_VERSIONS, PACKAGE, ROOT, adapters, gen_stubs, imagebuf, package, posemap


# -- pure Python: stubs, packaging ---------------------------------------------------------------------------


def test_vendored_stubs_are_current():
    """Fails when protos/ changed and clients/blender_addon/tools/gen_stubs.py was not run."""
    expected = gen_stubs.generate()
    assert gen_stubs.stale(expected) == [], "run: python clients/blender_addon/tools/gen_stubs.py"
    for name, text in expected.items():
        assert "from dccbridge.v1" not in text, name


def test_legacy_zip_layout(tmp_path):
    legacy = package.build_legacy(tmp_path)
    names = zipfile.ZipFile(legacy).namelist()
    assert "dccbridge_blender/__init__.py" in names
    assert "dccbridge_blender/proto/service_pb2_grpc.py" in names
    assert {f"dccbridge_blender/rig_presets/{p}.json" for p in ("metarig", "rigify", "mixamo")} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    init = zipfile.ZipFile(legacy).read("dccbridge_blender/__init__.py").decode()
    assert '"blender": (3, 4, 0)' in init


def test_extension_zip_manifest(tmp_path):
    fake = tmp_path / "grpcio-1.85.3-cp311-cp311-win_amd64.whl"
    fake.write_bytes(b"not really a wheel")
    path = package.build_extension(tmp_path, [fake], ["windows-x64"])
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert "__init__.py" in names and "proto/tasks_pb2.py" in names      # the package at the zip root
    assert manifest["id"] == "dccbridge_blender" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert len(manifest["tagline"]) <= 64 and not manifest["tagline"].endswith(".")
    assert manifest["platforms"] == ["windows-x64"]
    assert manifest["wheels"] == ["./wheels/" + fake.name] and "wheels/" + fake.name in names
    assert all(len(v) <= 64 for v in manifest["permissions"].values())


def test_supported_versions_are_stated_where_users_and_setup_look():
    """The versions the Blender tests run in: the docs' support table, bl_info, the manifest and the setup script."""
    docs = (ROOT / "docs" / "blender.md").read_text()
    table = docs[docs.index("## Supported Blender versions"):docs.index("## Preferences")]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    for version in ("3.4", *BPY_VERSIONS):
        assert any(row.startswith(version) for row in rows), (version, rows)
    assert any(row.startswith("5.1") for row in rows) and "Python 3.13" in table
    init = (PACKAGE / "__init__.py").read_text()
    assert '"blender": (3, 4, 0)' in init and "Tested: Blender 3.4, 4.2, 4.5, 5.0" in init
    manifest = tomllib.loads((PACKAGE / "blender_manifest.toml").read_text())
    assert manifest["blender_version_min"] == "4.2.0" and "blender_version_max" not in manifest
    setup = (ROOT / "scripts" / "setup_blender_versions.sh").read_text()
    assert all(f'[{v}]="bpy=={v}.*"' in setup for v in BPY_VERSIONS)
    assert f"DCCBRIDGE_BLENDER_VERSIONS:-{BPY_DEFAULT}" in setup


# -- pure Python: pose mapping and projection ---------------------------------------------------------------


def metarig_bones():
    """A T-posed metarig facing -Y (Blender's front), the bones the presets use, head bone 0.2 long."""
    b = {
        "spine.004": ((0, 0.01, 1.66), (0, -0.01, 1.72)), "spine.006": ((0, -0.02, 1.78), (0, -0.02, 1.98)),
        "upper_arm.L": ((0.2, 0.03, 1.58), (0.45, 0.03, 1.58)), "upper_arm.R": ((-0.2, 0.03, 1.58), (-0.45, 0.03, 1.58)),
        "forearm.L": ((0.45, 0.03, 1.58), (0.7, 0.03, 1.58)), "forearm.R": ((-0.45, 0.03, 1.58), (-0.7, 0.03, 1.58)),
        "hand.L": ((0.7, 0.03, 1.58), (0.8, 0.03, 1.58)), "hand.R": ((-0.7, 0.03, 1.58), (-0.8, 0.03, 1.58)),
        "thigh.L": ((0.1, 0.01, 1.07), (0.1, 0, 0.54)), "thigh.R": ((-0.1, 0.01, 1.07), (-0.1, 0, 0.54)),
        "shin.L": ((0.1, 0, 0.54), (0.1, 0.02, 0.09)), "shin.R": ((-0.1, 0, 0.54), (-0.1, 0.02, 0.09)),
        "foot.L": ((0.1, 0.02, 0.09), (0.1, -0.09, 0.02)), "foot.R": ((-0.1, 0.02, 0.09), (-0.1, -0.09, 0.02)),
    }
    return b


def test_presets_parse_and_cover_coco18():
    for key in posemap.PRESETS:
        table = posemap.parse_mapping(json.dumps(posemap.load_preset(key)))
        assert set(table["keypoints"]) == set(posemap.COCO18), key


def test_metarig_keypoints_and_head_frame_fallback():
    table = posemap.load_preset("METARIG")
    points = posemap.keypoints_world(metarig_bones(), table)
    named = dict(zip(posemap.COCO18, points))
    assert named["left_wrist"] == (0.7, 0.03, 1.58)
    assert named["neck"] == (0, 0.01, 1.66)
    # No face bones: nose/eyes/ears from the head bone's frame: forward = -Y, left = +X, up = +Z, length 0.2.
    nose, left_eye, right_eye, left_ear = named["nose"], named["left_eye"], named["right_eye"], named["left_ear"]
    assert nose[1] < -0.02 - 0.15 and abs(nose[0]) < 1e-9            # in front of the face
    assert left_eye[0] > 0 > right_eye[0]                             # character's left = +X
    assert math.isclose(left_eye[2], 1.78 + 0.57 * 0.2)
    assert left_ear[0] > left_eye[0] and left_ear[1] > left_eye[1]    # ears wider and further back than eyes


def test_namespace_insensitive_bone_names_for_mixamo():
    bones = {"mixamorig1:LeftHand": ((1, 2, 3), (1, 2, 4)), "Head": ((0, 0, 1), (0, 0, 2))}
    assert posemap.resolve_bone(bones, "mixamorig:LeftHand") == ((1, 2, 3), (1, 2, 4))
    assert posemap.resolve_bone(bones, "mixamorig:Head") == ((0, 0, 1), (0, 0, 2))
    assert posemap.resolve_bone(bones, "mixamorig:RightHand") is None


def test_mixamo_and_rigify_presets_map_every_keypoint():
    meta = metarig_bones()
    mixamo_names = {"spine.004": "Neck", "spine.006": "Head", "upper_arm.L": "LeftArm", "upper_arm.R": "RightArm",
                    "forearm.L": "LeftForeArm", "forearm.R": "RightForeArm", "hand.L": "LeftHand", "hand.R": "RightHand",
                    "thigh.L": "LeftUpLeg", "thigh.R": "RightUpLeg", "shin.L": "LeftLeg", "shin.R": "RightLeg",
                    "foot.L": "LeftFoot", "foot.R": "RightFoot"}
    mixamo = {"mixamorig5:" + mixamo_names[k]: v for k, v in meta.items()}
    rigify = {"ORG-" + k: v for k, v in meta.items()}
    reference = posemap.keypoints_world(meta, posemap.load_preset("METARIG"))
    for bones, key in ((mixamo, "MIXAMO"), (rigify, "RIGIFY")):
        points = posemap.keypoints_world(bones, posemap.load_preset(key))
        assert all(p is not None for p in points), key
        # Same skeleton, same keypoints (the face from the same head-frame offsets).
        assert all(np.allclose(a, b) for a, b in zip(points, reference)), key


def test_unmapped_keypoints_are_invisible_and_bad_tables_rejected():
    table = posemap.parse_mapping('{"keypoints": {"neck": {"bone": "spine.004"}}}')
    points = posemap.keypoints_world(metarig_bones(), table)
    assert points[1] == (0, 0.01, 1.66) and all(p is None for i, p in enumerate(points) if i != 1)
    with pytest.raises(ValueError, match="unknown keypoint"):
        posemap.parse_mapping('{"keypoints": {"tail": []}}')
    with pytest.raises(ValueError, match="needs"):
        posemap.parse_mapping('{"keypoints": {"nose": [{"joint": "x"}]}}')


def perspective(fov_y_deg, aspect, near=0.1, far=100.0):
    f = 1 / math.tan(math.radians(fov_y_deg) / 2)
    return [[f / aspect, 0, 0, 0], [0, f, 0, 0], [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0]]


def test_projection_centre_edges_behind_and_off_frame():
    view = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]      # camera at the origin looking down -Z
    proj = perspective(90, 2.0)
    x, y, depth = posemap.project((0, 0, -5), view, proj, 200, 100)
    assert (x, y, depth) == pytest.approx((100, 50, 5))
    x, y, _ = posemap.project((0, 5, -5), view, proj, 200, 100)             # 45° up = top edge
    assert (x, y) == pytest.approx((100, 0))
    x, y, _ = posemap.project((10, 0, -5), view, proj, 200, 100)            # right edge at x = 2·z (aspect 2)
    assert x == pytest.approx(200)
    kps = posemap.project_keypoints([(0, 0, -5), (0, 0, 5), (50, 0, -5), None], view, proj, 200, 100)
    assert [k[2] for k in kps] == [True, False, False, False]               # in view, behind, off-frame, unmapped


# -- pure Python: LoRAs, embeddings, VAE ----------------------------------------------------------------------


def adapter_catalog():
    return {"models": [{"id": "tiny", "family": "sd15"}, {"id": "xl", "family": "sdxl"}], "default_model": "tiny",
            "loras": [{"id": "style", "family": "sd15"}, {"id": "xl-style", "family": "sdxl"}],
            "embeddings": [{"id": "mystyle", "family": "sd15"}, {"id": "bad-hands", "family": "sd15"}],
            "vaes": [{"id": "warm-vae", "family": "sd15"}]}


def test_adapters_fit_the_chosen_models_family():
    catalog = adapter_catalog()
    assert adapters.family_of("", catalog["models"], "tiny") == "sd15"
    assert adapters.family_of("xl", catalog["models"], "tiny") == "sdxl"
    assert adapters.family_of("missing", catalog["models"], "tiny") is None
    assert [a["id"] for a in adapters.offered(catalog["loras"], "sdxl")] == ["xl-style"]
    assert len(adapters.offered(catalog["loras"], None)) == 2          # unknown model: the server will say why


def test_embedding_tokens_are_whole_words_in_prompt_or_negative():
    assert adapters.tokens_in(["a mystyle cat", "bad-hands"], ["mystyle", "bad-hands", "cat2"]) == \
        ["mystyle", "bad-hands"]
    assert adapters.tokens_in(["mystyles, notmystyle, my-mystyle"], ["mystyle"]) == []
    assert adapters.insert_token("a cat, ", "mystyle") == "a cat, mystyle"
    assert adapters.insert_token("", "mystyle") == "mystyle"
    assert adapters.insert_token("mystyle cat", "mystyle") == "mystyle cat"     # already there: unchanged


def test_choose_sends_what_fits_and_refuses_stale_choices_with_what_to_do():
    catalog = adapter_catalog()
    picked, problems = adapters.choose(catalog, "", [("style", 0.8, True), ("", 1.0, True), ("xl-style", 1, False)],
                                       ("a mystyle harbour", "bad-hands"), (), "warm-vae")
    assert problems == []
    assert picked == {"loras": [{"id": "style", "weight": 0.8}], "embeddings": ["mystyle", "bad-hands"],
                      "vae_id": "warm-vae"}
    # The model changed to another family: every sd15 choice is named, with what to do.
    _, problems = adapters.choose(catalog, "xl", [("style", 1.0, True)], ("mystyle",), ("mystyle",), "warm-vae")
    assert problems == [
        "LoRA 'style' is for sd15 models; model 'xl' is sdxl: pick another LoRA or remove the row",
        "Embedding 'mystyle' is for sd15 models; model 'xl' is sdxl: remove its token from the prompt",
        "VAE 'warm-vae' is for sd15 models; model 'xl' is sdxl: pick another VAE or \"Model's own\""]
    _, problems = adapters.choose(catalog, "", [("gone", 1.0, True), ("style", 1, True), ("style", 2, True)], ("",))
    assert problems[0] == "LoRA 'style' is listed twice: keep one row and set its weight"
    assert problems[1] == "LoRA 'gone' is not offered by this server: pick another LoRA or remove the row"
    # Not connected (a file just opened): sent as stored, remembered embeddings recognised; the server checks.
    picked, problems = adapters.choose(None, "", [("gone", 1.0, True)], ("a mystyle",), ("mystyle",), "v")
    assert problems == [] and picked["loras"] == [{"id": "gone", "weight": 1.0}] and picked["embeddings"] == ["mystyle"]
    assert adapters.is_empty(adapters.choose(catalog, "", [], ("",))[0])


# -- pure Python: buffers ------------------------------------------------------------------------------------


def write_exr(planes: dict, *, compression: int = 0, flags: int = 0, ymin: int = 3) -> bytes:
    """A scanline OpenEXR file as the spec lays it out (openexr.com, "OpenEXR File Layout"): float32 channels, except
    names ending in ".h" (half), rows written bottom-up (lineOrder DECREASING_Y) from a data window starting at ymin."""
    names = sorted(planes)
    height, width = planes[names[0]].shape

    def attr(name, kind, value):
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", 1 if n.endswith(".h") else 2, 0, 1, 1)
                      for n in names) + b"\0"
    window = struct.pack("<4i", 0, ymin, width - 1, ymin + height - 1)
    header = (attr("channels", "chlist", chlist) + attr("compression", "compression", bytes([compression]))
              + attr("dataWindow", "box2i", window) + attr("displayWindow", "box2i", window)
              + attr("lineOrder", "lineOrder", b"\x01") + attr("pixelAspectRatio", "float", struct.pack("<f", 1))
              + b"\0")
    body, offsets = b"", [0] * height
    start = 8 + len(header) + 8 * height
    for y in reversed(range(height)):
        data = b"".join(planes[n][y].astype("<f2" if n.endswith(".h") else "<f4").tobytes() for n in names)
        offsets[y] = start + len(body)
        body += struct.pack("<ii", ymin + y, len(data)) + data
    return b"\x76\x2f\x31\x01" + struct.pack("<I", 2 | flags << 8) + header + struct.pack(f"<{height}Q", *offsets) + body


def test_render_pass_exr_reader_channels_rows_and_depth():
    """imagebuf reads the multilayer EXR capture.render_views saves (real files: the Blender depth tests)."""
    rng = np.random.default_rng(3)
    depth = rng.random((4, 5)).astype(np.float32) * 10
    depth[1, 2] = np.nan                                     # no hit: sent as +inf (the server refuses NaN)
    other = rng.random((4, 5)).astype(np.float32)
    half = rng.random((4, 5)).astype(np.float16)
    data = write_exr({"ViewLayer.Depth.Z": depth, "ViewLayer.Combined.R": other, "Mine.Depth.Z": other,
                      "ViewLayer.Mist.h": half})
    planes = imagebuf.exr_channels(data)
    assert sorted(planes) == sorted(["ViewLayer.Depth.Z", "ViewLayer.Combined.R", "Mine.Depth.Z", "ViewLayer.Mist.h"])
    assert np.array_equal(planes["ViewLayer.Combined.R"], other)           # top row first, whatever the line order
    assert np.array_equal(planes["ViewLayer.Mist.h"], half.astype(np.float32))
    plane = imagebuf.depth_from_exr(data, "ViewLayer")
    assert plane[1, 2] == np.inf and np.array_equal(np.delete(plane.ravel(), 7), np.delete(depth.ravel(), 7))
    assert np.array_equal(imagebuf.depth_from_exr(data, "Mine"), other)
    with pytest.raises(ValueError, match="no depth pass for view layer 'Other'.*ViewLayer.Depth.Z"):
        imagebuf.depth_from_exr(data, "Other")                             # two depth passes, neither this layer's
    assert np.array_equal(imagebuf.depth_from_exr(write_exr({"L.Depth.Z": other}), "Other"), other)  # the only one
    with pytest.raises(ValueError, match="compression 3 .*codec NONE"):
        imagebuf.exr_channels(write_exr({"Z": other}, compression=3))
    with pytest.raises(ValueError, match="multi-part"):
        imagebuf.exr_channels(write_exr({"Z": other}, flags=0x10))
    with pytest.raises(ValueError, match="not an OpenEXR"):
        imagebuf.exr_channels(b"\x89PNG" + data[4:])
    data = imagebuf.depth_bytes(plane)
    assert len(data) == 5 * 4 * 4 and np.array_equal(imagebuf.depth_from_bytes(data, 5, 4), plane)


def test_png_encoder_round_trips_through_pillow():
    from PIL import Image
    import io

    rgba = (np.random.default_rng(1).random((5, 7, 4)) * 255).astype(np.uint8)
    data = imagebuf.encode_png(rgba)
    assert imagebuf.png_size(data) == (7, 5)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")), rgba)
    assert imagebuf.round_size(1920 * 0.5, 1080 * 0.5) == (960, 544)


def _addon_requests():
    """The add-on's requests module with its vendored stubs, imported under a stand-in package name (the real
    package's __init__ imports bpy)."""
    import importlib
    import sys
    import types

    if "dccbridge_blender_pkg" not in sys.modules:
        package_module = types.ModuleType("dccbridge_blender_pkg")
        package_module.__path__ = [str(PACKAGE)]
        sys.modules["dccbridge_blender_pkg"] = package_module
    return importlib.import_module("dccbridge_blender_pkg.requests")


def test_depth_normalisation_choice_reaches_the_server(address):
    """The depth unit's Normalisation (properties/scene.py) -> DepthPass.normalization -> the map the server makes;
    Auto leaves it to the model family's default."""
    import re

    from dccbridge.client import Client
    from dccbridge.v1 import tasks_pb2

    from conftest import result_of, run_to_end
    from test_control import receding_plane

    requests = _addon_requests()
    scene_py = (PACKAGE / "properties" / "scene.py").read_text()
    enum_block = scene_py[scene_py.index("depth_normalization: EnumProperty"):scene_py.index("canny_low")]
    assert re.findall(r'\("([A-Z_]+)", "', enum_block) == list(requests.DEPTH_NORMALIZATIONS)
    plane = receding_plane(32)
    recorded = {}
    with Client(address) as client:
        for choice in ("AUTO", "PERCENTILE", "NEAR_FAR"):
            depth = {"data": plane.astype("<f4").tobytes(), "width": 32, "height": 32, "near": 0.5, "far": 25.0,
                     "normalization": choice}
            task = requests.preprocess_task({"type": "depth", "depth": depth}, 32, 32)
            # the add-on's message, re-read as the server's own type: the two stubs are one schema
            result = result_of(run_to_end(client, tasks_pb2.Task.FromString(task.SerializeToString())))
            recorded[choice] = json.loads(result.metadata_json)["depth_normalization"]["unit.depth_pass"]
    assert recorded == {"AUTO": "min_max", "PERCENTILE": "percentile", "NEAR_FAR": "near_far"}
    unset = {"data": b"", "width": 1, "height": 1, "near": 0.0, "far": 0.0}  # older captures: no key = Auto
    assert requests.depth_pass(unset).normalization == 0
