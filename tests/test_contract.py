"""The committed stubs match the .proto files, and the contract follows its conventions."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

from dccbridge.v1 import control_pb2, jobs_pb2, live_pb2, media_pb2, service_pb2, tasks_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = ROOT / "server" / "dccbridge" / "v1"


def generated_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """Messages and gRPC stubs (*_pb2*) and the Connect / gRPC-Web stubs (*_connect.py)."""
    return sorted(p.relative_to(folder) for pattern in ("*_pb2*", "*_connect.py") for p in folder.glob(pattern))


def test_committed_stubs_are_fresh(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)], check=True)
    fresh = generated_files(tmp_path / "dccbridge" / "v1")
    committed = generated_files(GENERATED)
    assert any(p.name == "service_connect.py" for p in committed)
    assert fresh == committed, "run: python scripts/gen_protos.py"
    stale = [str(p) for p in fresh if (tmp_path / "dccbridge" / "v1" / p).read_bytes() != (GENERATED / p).read_bytes()]
    assert not stale, f"stale generated code {stale}; run: python scripts/gen_protos.py"


def test_stubs_import_from_the_installed_package():
    spec = importlib.util.find_spec("dccbridge.v1.service_pb2_grpc")
    assert spec is not None and spec.origin.startswith(str(GENERATED))


def test_every_enum_starts_with_unspecified():
    for module in (control_pb2, jobs_pb2, live_pb2, media_pb2, service_pb2, tasks_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            zero = enum.values_by_number[0].name
            assert zero.endswith("_UNSPECIFIED"), f"{enum.full_name} zero value is {zero}"


def test_field_names_follow_diffusers():
    sampling = {f.name for f in tasks_pb2.Sampling.DESCRIPTOR.fields}
    assert {"num_inference_steps", "guidance_scale", "seed", "num_images_per_prompt"} <= sampling
    unit = {f.name for f in control_pb2.ControlUnit.DESCRIPTOR.fields}
    assert {"controlnet_conditioning_scale", "control_guidance_start", "control_guidance_end"} <= unit
    assert "strength" in {f.name for f in tasks_pb2.GenerateTask.DESCRIPTOR.fields}


def test_service_surface():
    methods = set(service_pb2.DESCRIPTOR.services_by_name["DccBridgeService"].methods_by_name)
    assert methods == {"GetCapabilities", "Submit", "Watch", "Run", "GetJob", "Cancel", "ListJobs",
                       "Live", "OpenLive", "SendLiveFrame", "WatchLive", "PollLive", "CloseLive"}
    kinds = {f.name for f in tasks_pb2.Task.DESCRIPTOR.oneofs_by_name["kind"].fields}
    assert kinds == {"generate", "depth2img", "texture", "upscale", "preprocess", "outpaint", "restore_faces"}
