"""Where grpcio / protobuf / numpy come from: Blender's own Python, the extension's bundled wheels, or a folder
(preference 'Python packages', $DCCBRIDGE_BLENDER_DEPS, or _vendor/ next to this file)."""

import importlib.util
import os
import pathlib
import sys

REQUIRED = ("grpc", "google.protobuf", "numpy")


def candidate_dirs(pref_path: str = "") -> list:
    dirs = [pref_path, os.environ.get("DCCBRIDGE_BLENDER_DEPS", ""),
            str(pathlib.Path(__file__).resolve().parent / "_vendor")]
    return [d for d in dirs if d and os.path.isdir(d)]


def add_paths(pref_path: str = "") -> None:
    for directory in candidate_dirs(pref_path):
        if directory not in sys.path:
            sys.path.insert(0, directory)


def missing() -> list:
    out = []
    for name in REQUIRED:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):
            out.append(name)
    return out
