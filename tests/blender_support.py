"""Shared by the Blender add-on's tests: its bpy-free modules loaded by path, and the Blenders to run it in.

Runners: the `blender` binary (Debian's 3.4; scripts/setup_system.sh installs it; grpcio/protobuf/numpy for its
Python in $DCCBRIDGE_BLENDER_DEPS or .blender-deps/, scripts/setup.sh) with the legacy zip, and Blender as a Python
module (`bpy` 4.2 and 5.0 from PyPI, 4.5 with DCCBRIDGE_BLENDER_VERSIONS=all; .blender-venvs/<version>/,
scripts/setup_blender_versions.sh) with the 4.2 extension zip. One that is not set up skips with the command that
sets it up — or fails under CI=true.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import shutil
import sys

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
