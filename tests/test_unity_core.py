"""The Unity package's core (clients/unity/Runtime/Core) under Debian's Mono: compiled with mcs at C# 7.2 (the
subset Unity and Mono both compile), then its NUnit tests (clients/unity/Tests/Runtime) run with nunit-console
against a real server on the tiny preset, over the HTTP face, with a token. The core's pure functions (JSON, depth
plane, humanoid -> COCO-18, PBR packing, pending jobs, adapter menus) are tested there too. The server's catalog
carries a LoRA, an embedding and a VAE (tests/client_adapter_catalog.py) for the adapter round trip. Every live-mode
message is also written here with protobuf's json_format, read and rewritten by the C# core, and parsed back strictly
(the JSON both sides speak, cross-checked). Without mcs the test is skipped, unless CI=true, where it fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from client_adapter_catalog import write_client_catalog
from conftest import running_server

ROOT = Path(__file__).resolve().parent.parent
UNITY = ROOT / "clients" / "unity"
TOKEN = "unity-core-token"
MCS = ["mcs", "-langversion:7.2", "-nologo", "-warnaserror+", "-debug-"]
REFERENCES = ["-r:System.Net.Http.dll", "-r:System.Core.dll"]


def _tools_or_skip() -> None:
    missing = [tool for tool in ("mcs", "mono", "nunit-console") if shutil.which(tool) is None]
    if not missing:
        return
    message = (f"{', '.join(missing)} not on PATH; install with: apt-get install -y mono-devel nunit-console "
               "libnunit-cil-dev (scripts/setup_system.sh does it as root)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _sources(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.cs"))


def _compile(out: Path, sources: list[str], *extra: str) -> None:
    run = subprocess.run([*MCS, "-target:library", *REFERENCES, *extra, f"-out:{out}", *sources],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"mcs failed:\n{run.stdout}\n{run.stderr}"


def _summary(xml_path: Path) -> tuple[int, int, int, list[str]]:
    """(passed, failed, not run, failure descriptions) from nunit-console's TestResult.xml."""
    passed = failed = not_run = 0
    failures = []
    for case in ET.parse(xml_path).getroot().iter("test-case"):
        if case.get("executed") != "True":
            not_run += 1
        elif case.get("success") == "True":
            passed += 1
        else:
            failed += 1
            message = case.find("./failure/message")
            failures.append(f"{case.get('name')}: {(message.text or '').strip() if message is not None else ''}")
    return passed, failed, not_run, failures


def test_unity_core_compiles_with_mono_and_passes_its_nunit_tests_against_a_real_server(tmp_path):
    _tools_or_skip()
    started = time.monotonic()
    core_sources = _sources(UNITY / "Runtime" / "Core")
    assert core_sources, "no C# sources under clients/unity/Runtime/Core"
    # The core alone: no NUnit, no UnityEngine — what a Unity project compiles into DccBridge.Core.
    _compile(tmp_path / "DccBridge.Core.dll", core_sources)
    for source in core_sources:
        assert not re.search(r"^\s*using\s+Unity", Path(source).read_text(), re.M), f"{source} uses a Unity namespace"
    _compile(tmp_path / "DccBridge.Tests.dll", core_sources + _sources(UNITY / "Tests" / "Runtime"), "-pkg:nunit")

    fixtures = _write_live_fixtures(tmp_path / "live-json")
    catalog = write_client_catalog(tmp_path / "catalog")  # the tiny preset plus a LoRA, an embedding and a VAE
    with running_server(tmp_path / "data", http_port=0, token=TOKEN, models=catalog) as server:
        env = {**os.environ, "DCCBRIDGE_HTTP_URL": f"http://127.0.0.1:{server.http_port}",
               "DCCBRIDGE_TOKEN": TOKEN, "DCCBRIDGE_LIVE_FIXTURES": str(tmp_path / "live-json")}
        run = subprocess.run(["nunit-console", "-nologo", "-labels", f"-xml={tmp_path / 'TestResult.xml'}",
                              str(tmp_path / "DccBridge.Tests.dll")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    passed, failed, not_run, failures = _summary(tmp_path / "TestResult.xml")
    print(f"{passed} passed, {failed} failed, {not_run} not run ({time.monotonic() - started:.1f} s)")
    assert failed == 0 and run.returncode == 0, "\n".join(failures) + "\n" + run.stdout[-4000:] + run.stderr[-2000:]
    assert passed > 0 and not_run == 0, run.stdout[-4000:]
    assert re.search(rf"Tests run: {passed}, Errors: 0, Failures: 0", run.stdout), run.stdout[-2000:]
    _check_live_fixtures_came_back(tmp_path / "live-json", fixtures)


# -- live mode's JSON, cross-checked with the server's protobuf --------------------------------------


def _live_fixture_messages() -> dict:
    """Every live message the Unity client writes or reads, each field set (non-default, exactly representable
    floats), keyed by "<MessageType>[.<case>]"; the C# side dispatches on the part before the dot."""
    import struct

    from dccbridge.v1 import control_pb2, jobs_pb2, live_pb2, media_pb2, tasks_pb2

    config = live_pb2.LiveConfig(
        model_id="tiny", prompt="a castle", negative_prompt="blurry", width=64, height=48,
        sampling=tasks_pb2.Sampling(num_inference_steps=4, guidance_scale=1.5, scheduler="lcm", seed=42),
        strength=0.5, similarity_threshold=0.75, feedback=0.25, priority=live_pb2.LIVE_PRIORITY_THROUGHPUT,
        jpeg_results=True, idle_timeout_ms=5000, label="unity: scene",
        adapters=tasks_pb2.Adapters(loras=[tasks_pb2.LoraRef(id="style", weight=0.5)], embeddings=["mystyle"],
                                    vae_id="warm-vae"),
        controls=[live_pb2.LiveControlSlot(control_type=control_pb2.CONTROL_TYPE_DEPTH, controlnet_conditioning_scale=0.75,
                                           control_guidance_start=0.25, control_guidance_end=0.5, controlnet_id="depth-a"),
                  live_pb2.LiveControlSlot(control_type=control_pb2.CONTROL_TYPE_OPENPOSE)])
    depth = media_pb2.DepthPass(float32_le=struct.pack("<4f", 1, 2, 3, float("inf")), width=2, height=2,
                                encoding=media_pb2.DEPTH_ENCODING_LINEAR, near=0.5, far=100,
                                normalization=media_pb2.DEPTH_NORMALIZATION_NEAR_FAR)
    body = [media_pb2.Keypoint() if k == 3 else media_pb2.Keypoint(x=10.5 + k, y=20.25 + k, visible=True)
            for k in range(18)]
    pose = media_pb2.PoseRig(canvas_width=64, canvas_height=64, people=[media_pb2.PosePerson(body=body)])
    png = b"\x89PNG\r\n"
    frame = live_pb2.LiveFrame(
        frame=7, image=media_pb2.Image(data=png), prompt="a ruin", seed=-1,
        controls=[live_pb2.LiveControlInput(slot=0, depth_pass=depth),
                  live_pb2.LiveControlInput(slot=1, pose_rig=pose),
                  live_pb2.LiveControlInput(slot=2, preprocess=control_pb2.PreprocessSource(
                      image=media_pb2.Image(data=png), canny=control_pb2.CannyParams(low_threshold=50, high_threshold=150))),
                  live_pb2.LiveControlInput(slot=3, image=media_pb2.Image(data=png))])
    timings = live_pb2.LiveTimings(wait_ms=1.5, prepare_ms=2.5, pipeline_ms=30.25, encode_ms=0.5, total_ms=35, stream_batch=2)
    events = {
        "opened": live_pb2.LiveEvent(session_id="s1", sequence=1, time_ms=1700000000123,
                                     opened=live_pb2.LiveOpened(session_id="s1", config=config)),
        "result": live_pb2.LiveEvent(session_id="s1", sequence=2, time_ms=5, result=live_pb2.LiveResult(
            frame=3, image=media_pb2.Image(data=png, mime_type="image/jpeg", width=64, height=48), reused=True,
            reused_from_frame=2, similarity=0.5, seed=42, timings=timings)),
        "superseded": live_pb2.LiveEvent(session_id="s1", sequence=3, superseded=live_pb2.LiveSuperseded(frame=4, by_frame=5)),
        "failed": live_pb2.LiveEvent(session_id="s1", sequence=4, frame_failed=live_pb2.LiveFrameFailed(
            frame=5, failure=jobs_pb2.Failure(code=jobs_pb2.ERROR_CODE_INVALID_ARGUMENT, message="bad", field="controls[0].depth_pass"))),
        "closed": live_pb2.LiveEvent(session_id="s1", sequence=5, closed=live_pb2.LiveClosed(
            reason="client closed", frames_received=5, frames_computed=2, frames_reused=1, frames_superseded=1)),
    }
    messages = {"LiveConfig": config, "LiveFrame": frame, "LiveUpdate": live_pb2.LiveUpdate(prompt="a ruin", seed=9)}
    messages.update({f"LiveEvent.{name}": event for name, event in events.items()})
    messages.update({
        "OpenLiveRequest": live_pb2.OpenLiveRequest(config=config),
        "OpenLiveResponse": live_pb2.OpenLiveResponse(opened=events["opened"].opened),
        "SendLiveFrameRequest.frame": live_pb2.SendLiveFrameRequest(session_id="s1", frame=frame),
        "SendLiveFrameRequest.update": live_pb2.SendLiveFrameRequest(session_id="s1", update=live_pb2.LiveUpdate(seed=3)),
        "SendLiveFrameResponse": live_pb2.SendLiveFrameResponse(superseded_frame=6),
        "PollLiveRequest": live_pb2.PollLiveRequest(session_id="s1", after_sequence=12, wait_ms=5000),
        "PollLiveResponse": live_pb2.PollLiveResponse(events=list(events.values())),
        "CloseLiveRequest": live_pb2.CloseLiveRequest(session_id="s1"),
        "CloseLiveResponse": live_pb2.CloseLiveResponse(closed=events["closed"].closed),
    })
    return messages


def _write_live_fixtures(root: Path) -> dict:
    from google.protobuf import json_format

    messages = _live_fixture_messages()
    (root / "in").mkdir(parents=True)
    for name, message in messages.items():
        (root / "in" / f"{name}.json").write_text(json_format.MessageToJson(message))
    return messages


def _check_live_fixtures_came_back(root: Path, messages: dict) -> None:
    """What the C# core wrote back parses strictly (no unknown fields) into the same message."""
    from google.protobuf import json_format

    for name, message in messages.items():
        out = root / "out" / f"{name}.json"
        assert out.is_file(), f"the C# side wrote no {out.name}"
        back = json_format.Parse(out.read_text(), type(message)())
        assert back == message, f"{name}: sent\n{message}\ncame back\n{back}"


def test_editor_code_compiles_against_stubs_of_the_unity_api(tmp_path):
    """The Editor/, Tests/Editor and sample code need Unity to run; here they are at least compiled (C# 7.2, against
    tests/unity/UnityApiStubs.cs), so a type error or an ambiguous name does not wait for someone's editor."""
    _tools_or_skip()
    sources = (_sources(UNITY / "Runtime" / "Core") + _sources(UNITY / "Editor") + _sources(UNITY / "Tests" / "Editor")
               + _sources(UNITY / "Samples~") + [str(ROOT / "tests" / "unity" / "UnityApiStubs.cs")])
    _compile(tmp_path / "DccBridge.Editor.StubCheck.dll", sources, "-pkg:nunit", "-nowarn:67,649")


# -- the package's shape (no Mono needed) -----------------------------------------------------------


def test_package_layout_manifest_and_assembly_definitions():
    import json

    manifest = json.loads((UNITY / "package.json").read_text())
    assert manifest["name"] == "com.dccbridge.unity" and manifest["unity"] == "2021.3"
    assert all((UNITY / sample["path"]).is_dir() for sample in manifest["samples"])
    for folder in ("Runtime", "Editor", "Tests/Runtime", "Tests/Editor", "Samples~", "Documentation~"):
        assert (UNITY / folder).is_dir(), folder
    for name in ("README.md", "CHANGELOG.md", "Documentation~/index.md"):
        assert (UNITY / name).is_file(), name

    def asmdef(path: str) -> dict:
        return json.loads((UNITY / path).read_text())

    core = asmdef("Runtime/DccBridge.Core.asmdef")
    assert core["noEngineReferences"] is True and core["references"] == []
    editor = asmdef("Editor/DccBridge.Editor.asmdef")
    assert editor["includePlatforms"] == ["Editor"] and editor["references"] == ["DccBridge.Core"]
    for path in ("Tests/Runtime/DccBridge.Tests.Runtime.asmdef", "Tests/Editor/DccBridge.Tests.Editor.asmdef"):
        tests = asmdef(path)
        assert "UNITY_INCLUDE_TESTS" in tests["defineConstraints"] and "nunit.framework.dll" in tests["precompiledReferences"]
    assert asmdef("Tests/Editor/DccBridge.Tests.Editor.asmdef")["includePlatforms"] == ["Editor"]


def test_every_asset_has_a_meta_file_with_a_unique_guid():
    """A git-URL package is immutable in a project: Unity ignores files without .meta files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_meta", ROOT / "tests" / "unity" / "make_meta.py")
    make_meta = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_meta)
    assert make_meta.problems() == [], "run: python tests/unity/make_meta.py"
    guids = [re.search(r"^guid: (\w+)$", meta.read_text(), re.M).group(1) for meta in UNITY.rglob("*.meta")]
    assert len(guids) == len(set(guids)) > 0


def test_only_the_core_talks_to_the_network_and_only_capture_and_apply_render_or_write_assets():
    editor = UNITY / "Editor"
    for source in editor.rglob("*.cs"):
        text = source.read_text()
        rel = source.relative_to(editor).as_posix()
        assert "System.Net" not in text and "HttpClient" not in text, f"{rel}: network code belongs in Runtime/Core"
        if not rel.startswith(("Capture/", "Apply/")):
            for api in ("Graphics.", ".Render(", "ReadPixels", "AssetDatabase.CreateAsset", "File.WriteAll",
                        "TextureImporter", "GetBoneTransform", "sharedMaterial"):
                assert api not in text, f"{rel} calls {api}: keep it in Editor/Capture or Editor/Apply"
