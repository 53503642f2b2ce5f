"""The Blender add-on (clients/blender_addon): pure-Python parts here, and real Blender headless against a real
server on the tiny preset (tests/blender/scenarios.py runs inside Blender, installed from the built zip).

Every Blender test runs once per Blender: the `blender` binary (Debian's 3.4; scripts/setup_system.sh installs it;
grpcio/protobuf/numpy for its Python in $DCCBRIDGE_BLENDER_DEPS or .blender-deps/, scripts/setup.sh) with the
legacy zip, and Blender as a Python module (`bpy` 4.2 and 5.0 from PyPI, 4.5 with DCCBRIDGE_BLENDER_VERSIONS=all;
.blender-venvs/<version>/, scripts/setup_blender_versions.sh) with the 4.2 extension zip. A Blender that is not
set up skips with the reason — or fails under CI=true.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import time
import tomllib
import zipfile

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADDON = ROOT / "clients" / "blender_addon"
PACKAGE = ADDON / "dccbridge_blender"
SCENARIOS = ROOT / "tests" / "blender" / "scenarios.py"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load(name: str, path: pathlib.Path):
    """Import one add-on module by path, without the package (whose __init__ imports bpy)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


adapters = load("dccbridge_blender_adapters", PACKAGE / "adapters.py")
posemap = load("dccbridge_blender_posemap", PACKAGE / "posemap.py")
imagebuf = load("dccbridge_blender_imagebuf", PACKAGE / "imagebuf.py")
package = load("dccbridge_blender_package", ADDON / "package.py")
gen_stubs = load("dccbridge_blender_gen_stubs", ADDON / "tools" / "gen_stubs.py")


# -- pure Python: stubs, packaging ---------------------------------------------------------------------------


def test_vendored_stubs_are_current():
    """Fails when protos/ changed and clients/blender_addon/tools/gen_stubs.py was not run."""
    expected = gen_stubs.generate()
    assert gen_stubs.stale(expected) == [], "run: python clients/blender_addon/tools/gen_stubs.py"
    for name, text in expected.items():
        assert "from dccbridge.v1" not in text, name


def test_legacy_zip_layout(addon_zips):
    legacy, _ = addon_zips
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


# -- real Blender --------------------------------------------------------------------------------------------


# Blender as a Python module (`bpy` from PyPI), one venv each, made by scripts/setup_blender_versions.sh. 4.2 and 5.0
# by default (the LTS most studios run, and the newest); DCCBRIDGE_BLENDER_VERSIONS=all adds 4.5, "none" drops them.
BPY_VERSIONS = ("4.2", "4.5", "5.0")
BPY_DEFAULT = "4.2,5.0"
VENVS = pathlib.Path(os.environ.get("DCCBRIDGE_BLENDER_VENVS") or ROOT / ".blender-venvs")
RUN_MODULE = ROOT / "tests" / "blender" / "run_module.py"


def wanted_bpy_versions() -> tuple:
    raw = os.environ.get("DCCBRIDGE_BLENDER_VERSIONS", BPY_DEFAULT).strip()
    if raw == "all":
        return BPY_VERSIONS
    return tuple(v.strip() for v in raw.split(",") if v.strip() and v.strip() != "none")


RUNNERS = ("binary", *(f"bpy{v}" for v in wanted_bpy_versions()))


@dataclasses.dataclass(frozen=True)
class BlenderRunner:
    """One Blender to run tests/blender/scenarios.py in: the `blender` binary, or a venv's Python with `bpy`."""
    label: str
    command: tuple          # the scenario's arguments follow
    env: dict
    packaging: str          # how the add-on is installed by default: "legacy" zip or 4.2+ "extension" zip
    version: str = ""       # the Blender version the runner must report ("" = whatever the binary is)
    clean_exit: bool = True  # False: the bpy 4.2 module segfaults at exit once any add-on UI class was registered


def unavailable(message: str):
    if IN_CI:
        pytest.fail(message + " (CI=true: every Blender version must be set up)")
    pytest.skip(message)


def binary_runner() -> BlenderRunner:
    exe = os.environ.get("BLENDER") or shutil.which("blender")
    if exe is None:
        unavailable("blender is not installed (apt-get install blender, or scripts/setup_system.sh as root)")
    deps = pathlib.Path(os.environ.get("DCCBRIDGE_BLENDER_DEPS") or ROOT / ".blender-deps")
    if not (deps / "grpc").is_dir() or not (deps / "google" / "protobuf").is_dir() or not (deps / "numpy").is_dir():
        unavailable(f"grpcio/protobuf/numpy for Blender's Python are not in {deps}: run scripts/setup.sh "
                    f"(python3.11 -m pip install --target {deps} grpcio protobuf numpy)")
    return BlenderRunner("blender", (exe, "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                                     str(SCENARIOS), "--"), {"DCCBRIDGE_BLENDER_DEPS": str(deps)}, "legacy")


def bpy_runner(version: str) -> BlenderRunner:
    python = VENVS / version / "bin" / "python"
    if version not in BPY_VERSIONS:
        unavailable(f"no Blender {version} to test (DCCBRIDGE_BLENDER_VERSIONS: {', '.join(BPY_VERSIONS)}, all, none)")
    if not python.exists() or not (VENVS / version / ".dccbridge-stamp").exists():
        unavailable(f"Blender {version} (bpy from PyPI) is not set up in {VENVS / version}: run "
                    f"DCCBRIDGE_BLENDER_VERSIONS={version} bash scripts/setup_blender_versions.sh")
    return BlenderRunner(f"bpy {version}", (str(python), str(RUN_MODULE), str(SCENARIOS)), {}, "extension", version,
                         clean_exit=version != "4.2")


@pytest.fixture(scope="session", params=RUNNERS)
def blender_runner(request) -> BlenderRunner:
    return binary_runner() if request.param == "binary" else bpy_runner(request.param.removeprefix("bpy"))


@pytest.fixture(scope="session")
def addon_zips(tmp_path_factory):
    out = tmp_path_factory.mktemp("addon-dist")
    return package.build_legacy(out), package.build_extension(out, [], [])


@pytest.fixture(scope="session")
def run_scenario(blender_runner, addon_zips, tmp_path_factory):
    zips = dict(zip(("legacy", "extension"), addon_zips))
    timings = {}

    def run(name: str, address: str, timeout: float = 120, during=None, packaging: str = "", extra_env=None) -> dict:
        """during(out_path): called while Blender runs (for scenarios that wait on the test's side)."""
        packaging = packaging or blender_runner.packaging
        home = tmp_path_factory.mktemp(f"blender-{name}")
        out = home / "result.json"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        # Every user folder in the temp home: nothing is read from or installed into the real user's Blender.
        env.update(HOME=str(home), BLENDER_USER_RESOURCES=str(home / "user"), BLENDER_USER_SCRIPTS=str(home / "scripts"),
                   BLENDER_USER_CONFIG=str(home / "config"), BLENDER_USER_EXTENSIONS=str(home / "extensions"),
                   BLENDER_USER_DATAFILES=str(home / "datafiles"), TMPDIR=str(home), **blender_runner.env,
                   **(extra_env or {}))
        start = time.monotonic()
        proc = subprocess.Popen([*blender_runner.command, name, str(zips[packaging]), address, str(out)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout = stderr = ""
        try:
            if during is not None:
                during(out)
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                stdout, stderr = proc.communicate()
        timings[f"{name}/{packaging}"] = time.monotonic() - start
        result = json.loads(out.read_text()) if out.exists() else {}
        assert proc.returncode == 0 and result.get("ok"), (
            f"{blender_runner.label}: scenario {name} failed (rc {proc.returncode}):\n{result.get('traceback', '')}\n"
            f"--- stdout (tail) ---\n{stdout[-3000:]}\n--- stderr (tail) ---\n{stderr[-3000:]}")
        assert result["blender_version"].startswith(blender_runner.version), result["blender_version"]
        return result

    yield run
    print(f"\n{blender_runner.label}: {sum(timings.values()):.1f} s in scenarios: "
          + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def test_blender_test_connection(run_scenario, address, blender_runner):
    """Both zips on 4.2+ (the extension, and the legacy zip that 4.2+ still installs); the legacy zip on 3.4."""
    for packaging in dict.fromkeys((blender_runner.packaging, "legacy")):
        r = run_scenario("connection", address, packaging=packaging)
        assert r["server_version"] and "cpu" in r["device"]
        assert "tiny" in r["models"] and "unipc" in r["schedulers"]
        folder = "extensions/user_default" if packaging == "extension" else "scripts/addons"
        assert r["addon_file"].endswith(f"{folder}/dccbridge_blender/__init__.py"), r["addon_file"]   # from the zip
        assert r["pump_registered"] and not r["pump_after_disable"], "unregister() left the timer pump registered"


def test_blender_generate_depth_pose_canny(run_scenario, address):
    r = run_scenario("generate", address)
    image = r["image"]
    assert image["name"] == "DCC generate 1234" and image["size"] == [64, 64] and image["packed"]
    props = image["props"]
    assert props["dccbridge_prompt"] == "a test scene" and props["dccbridge_seed"] == 1234
    units = json.loads(props["dccbridge_units"])
    assert [u["type"] for u in units] == ["depth", "openpose", "canny"]
    assert units[0]["encoding"] == "linear" and units[0]["far"] == 100.0
    assert units[1]["armatures"] == ["Rig"] and units[1]["end"] == 0.7
    assert "ControlNet 2" in props["dccbridge_parameters"] and props["dccbridge_job_id"]
    assert r["preview"], "no live preview image from progress events"
    assert r["jobs"][-1]["state"] == "done" and r["jobs"][-1]["applied"] and r["last_seed"] == 1234
    assert r["refetch_identical"], "fetching the job again by id gave different pixels"
    assert r["operator_seconds"] < 10
    maps = r["control_maps"]
    assert maps["openpose"]["size"] == [64, 64] and maps["canny"]["size"] == [64, 64]
    assert maps["openpose"]["colorspace"] == "Non-Color"
    assert 0.005 < r["openpose_map_lit_fraction"] < 0.9          # a skeleton was drawn, not an empty map


def test_blender_depth_pass_is_true_linear_depth_of_the_evaluated_scene(run_scenario, address):
    r = run_scenario("depth", address)
    d = r["depth"]
    assert r["dtype"] == "float32" and r["bytes"] == 96 * 64 * 4 and (r["near"], r["far"]) == (pytest.approx(0.1), 100)
    # Camera at y = -10 looking +Y; cube front faces at y = -3.5 (6.5 away), the plane at y = 0 (10 away).
    assert d["cube"]["depth"] == pytest.approx(6.5, abs=0.05)
    assert d["array_copy"]["depth"] == pytest.approx(6.5, abs=0.05)      # geometry only the Array modifier makes
    assert d["plane"]["depth"] == pytest.approx(10.0, abs=0.05)
    assert d["background"]["depth"] >= r["far"]                           # Cycles' 1e10 = background
    # Eevee (BLENDER_EEVEE_NEXT in 4.2-4.5): the same distances; its background is 65504 (3.4) or far (4.2+).
    e = r["eevee"]
    assert e["cube"] == pytest.approx(6.5, abs=0.05) and e["array_copy"] == pytest.approx(6.5, abs=0.05)
    assert e["plane"] == pytest.approx(10.0, abs=0.05) and e["background"] >= r["far"] * 0.9999
    assert r["engine_kept"]
    # The server's control map from this pass: nearer = brighter, background black.
    c = r["control_map"]
    assert c["cube"] > c["plane"] > c["background"] == 0.0
    assert c["array_copy"] == pytest.approx(c["cube"], abs=0.02)
    assert r["control_size"] == [96, 64]


def test_blender_pose_keypoints_match_world_to_camera_view(run_scenario, address):
    r = run_scenario("pose", address)
    assert r["size"] == [80, 64]
    for name, check in r["checks"].items():
        (ex, ey), (x, y) = check["expected"], check["got"]
        assert abs(ex - x) < 1.0 and abs(ey - y) < 1.0, (name, check)
        assert check["visible"], name
    assert r["front_visible"] == 18
    assert r["behind_visible"] == 0                                        # the rig behind the camera
    assert len(r["openpose"]["people"]) == 2


def test_blender_seamless_texture_material(run_scenario, address):
    r = run_scenario("texture", address)
    assert r["base_color"] == "ShaderNodeTexImage" and r["roughness"] == "ShaderNodeTexImage"
    assert r["normal"] == "ShaderNodeNormalMap" and r["displacement"]
    textures = r["textures"]
    assert textures["DCC normal"]["colorspace"] == "Non-Color" and textures["DCC albedo"]["colorspace"] == "sRGB"
    assert all(t["packed"] and t["props"]["dccbridge_seed"] == 1234 for t in textures.values())
    assert r["props"]["dccbridge_kind"] == "texture" and r["props"]["dccbridge_prompt"] == "a test scene"


def test_blender_project_from_camera_material(run_scenario, address):
    r = run_scenario("projection", address)
    assert "DCC Projection" in r["uv_layers"] and r["uv_nodes"] == ["DCC Projection"]
    assert r["uv_max_error"] < 1e-5                                        # UVs = world_to_camera_view
    assert r["image"]["size"] == [96, 64] and r["image"]["packed"] and r["camera"] == 96


def test_blender_upscale(run_scenario, address, blender_runner):
    # Also: Blender exits the ordinary way (status 0, no hang) with the add-on enabled, its timer pump registered.
    # Not the bpy 4.2 module: it segfaults at exit in static destructors (bpy_class_free after Python is gone).
    exit_env = {"DCCBRIDGE_RUN_MODULE_EXIT": "normal"} if blender_runner.clean_exit else {}
    r = run_scenario("upscale", address, timeout=60, extra_env=exit_env)
    assert r["image"]["name"] == "Source x2" and r["image"]["size"] == [64, 48] and r["image"]["packed"]


def test_blender_animation_two_frames_one_seed(run_scenario, address):
    r = run_scenario("animation", address)
    frames = r["frames"]
    assert len(frames) == 2
    assert [f["props"]["dccbridge_frame"] for f in frames] == [1, 2]
    assert frames[0]["props"]["dccbridge_seed"] == frames[1]["props"]["dccbridge_seed"]
    assert frames[0]["props"]["dccbridge_job_id"] != frames[1]["props"]["dccbridge_job_id"]


def test_blender_cancel(run_scenario, address):
    r = run_scenario("cancel", address)
    assert r["state"] == "cancelled" and r["images"] == [] and r["recorded"] == ["cancelled"]
    assert r["cancel_seconds"] < 30


def test_blender_lost_server_reports_and_does_not_hang(run_scenario):
    import socket

    with socket.socket() as s:       # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_scenario("lost_server", f"127.0.0.1:{port}", timeout=60)
    assert "Cannot reach the server" in r["connection_error"]
    assert "Cannot reach the server" in r["generate_error"] and r["status"] == "generate: failed"
    assert r["images"] == [] and r["seconds"] < 20


def test_blender_depth2img_from_render(run_scenario, address):
    r = run_scenario("depth2img", address)
    image = r["image"]
    assert image["size"] == [64, 64] and image["packed"] and image["props"]["dccbridge_kind"] == "depth2img"


@pytest.fixture(scope="module")
def adapter_address(tmp_path_factory):
    """A tiny-preset server whose catalog has an sd15 LoRA, embedding and VAE and an sdxl LoRA; tiny-sdxl is the
    other family's model to switch to (its menus are checked, it is never loaded)."""
    from client_adapter_catalog import write_client_catalog
    from conftest import running_server

    catalog = write_client_catalog(tmp_path_factory.mktemp("blender-adapters"))
    with running_server(tmp_path_factory.mktemp("blender-adapter-data"), models=catalog) as srv:
        yield f"127.0.0.1:{srv.port}"


def test_blender_loras_embeddings_vae(run_scenario, adapter_address):
    from dccbridge.client import Client

    r = run_scenario("adapters", adapter_address, timeout=180)
    assert r["listed"] == {"loras": [["style", "sd15"], ["xl-style", "sdxl"]], "embeddings": [["mystyle", "sd15"]],
                           "vaes": [["warm-vae", "sd15"]]}
    # Menus hold only what fits the model's family.
    assert r["menus_sd15"] == {"lora": ["__none__", "style"], "vae": ["__model__", "warm-vae"],
                               "embedding": ["mystyle"]}
    assert r["menus_sdxl"]["lora"] == ["__none__", "xl-style", "style"]      # the stored sd15 one, marked stale
    assert r["menus_sdxl"]["embedding"] == ["__none__"] and r["menus_sdxl"]["vae"] == ["__model__", "warm-vae"]
    assert r["other_family_settable"] is False
    assert r["prompt_with_token"] == "a test scene, mystyle"
    assert r["stored"] == {"lora_id": "style", "vae_id": "warm-vae", "vae_enum": "warm-vae"}
    # Sent: the add-on's provenance and, on the server, the job's own record of what it applied.
    props = r["with"]["props"]
    assert json.loads(props["dccbridge_adapters"]) == {"loras": [{"id": "style", "weight": pytest.approx(0.8)}],
                                                       "embeddings": ["mystyle"], "vae_id": "warm-vae"}
    assert "dccbridge_adapters" not in r["without"]["props"]
    with Client(adapter_address) as client:
        applied = json.loads(client.get_job(props["dccbridge_job_id"]).result.metadata_json)["adapters"]
        plain = json.loads(client.get_job(r["without"]["props"]["dccbridge_job_id"]).result.metadata_json)
    assert [(l["id"], round(l["weight"], 4)) for l in applied["loras"]] == [("style", 0.8)]
    assert [e["id"] for e in applied["embeddings"]] == ["mystyle"] and applied["vae"]["id"] == "warm-vae"
    assert "adapters" not in plain
    assert props["dccbridge_seed"] == r["without"]["props"]["dccbridge_seed"] == 1234
    assert r["max_difference"] > 0.05, "the LoRA, embedding and VAE did not change the image"
    # Stale choices: refused before anything is sent, saying which and what to do.
    for key, phrase in (("stale_gone", "LoRA 'gone' is not offered by this server: pick another LoRA"),
                        ("stale_family", "LoRA 'style' is for sd15 models; model 'tiny-sdxl' is sdxl")):
        assert phrase in r[key]["error"] and phrase in r[key]["outcome"], r[key]
    assert "VAE 'warm-vae' is for sd15 models" in r["stale_family"]["error"]
    assert r["stale_gone_menu"][-1] == ["gone", "gone (unavailable)", "ERROR"]
    assert r["stale_family_reason"] == "LoRA 'style' is for sd15 models; model 'tiny-sdxl' is sdxl"
    assert r["task_adapters"] == {name: ["style", 0.5, ["mystyle"], "warm-vae"]
                                  for name in ("generate", "depth2img", "texture", "tiled_upscale")} | \
        {"lanczos_upscale": None}
    assert r["reloaded"] == {"loras": [["style", 0.8, True]], "vae_id": "warm-vae", "embeddings_used": ["mystyle"]}


def test_blender_dropped_stream_then_server_restart_result_fetched_by_id(run_scenario, tmp_path):
    """The add-on stops reading a running job's stream (a dropped connection); the job finishes on the server; the
    server restarts (same port and data directory); Fetch by the job id kept in the scene brings the result in."""
    import socket

    from dccbridge.client import Client
    from dccbridge.serve import ServeConfig, Server
    from dccbridge.v1 import jobs_pb2

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ServeConfig(port=port, http_port=None, data_dir=tmp_path / "data", device="cpu", grace_s=30)
    servers = [Server(config).start()]
    assert servers[0].settled.wait(120)

    def during(out: pathlib.Path):
        marker = pathlib.Path(str(out) + ".job")
        deadline = time.monotonic() + 90
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the add-on never reported its job"
        with Client(f"127.0.0.1:{port}") as client:
            job = client.wait_result(marker.read_text().strip(), timeout_s=120)
        assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED
        servers[0].stop(grace_s=5)
        servers.append(Server(config).start())
        assert servers[1].settled.wait(120)
        pathlib.Path(str(out) + ".restarted").touch()

    try:
        r = run_scenario("midjob", f"127.0.0.1:{port}", timeout=240, during=during)
    finally:
        for server in servers:
            server.stop(grace_s=1)
    assert r["first_state"] == "abandoned" and r["recorded"] == [[r["job_id"], False]]
    assert len(r["images"]) == 1 and r["images"][0]["props"]["dccbridge_job_id"] == r["job_id"]
    assert r["images"][0]["size"] == [256, 256] and r["final_error"] == ""
    assert r["final_recorded"] == [[r["job_id"], "done", True]]
