"""`dccbridge doctor`: what this machine offers (device, memory, library versions) and which catalogs are ready."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from . import __version__
from .models import Catalog
from .models.catalog import PRESETS_DIR

LIBRARIES = ("torch", "diffusers", "transformers", "huggingface_hub", "safetensors", "spandrel")
GIB = 1024 ** 3


def report(device: str = "auto", catalog_file: Path | None = None, store_url: str | None = None) -> list[str]:
    from .models import hub

    lines = [f"dccbridge {__version__} on Python {platform.python_version()} ({platform.system()} "
             f"{platform.machine()})"]
    lines.append("libraries: " + ", ".join(f"{name} {_version(name)}" for name in LIBRARIES))
    lines += _device_lines(device)
    offline = " (HF_HUB_OFFLINE is set: pulls will fail)" if hub.constants.HF_HUB_OFFLINE else ""
    lines.append(f"Hugging Face cache: {hub.cache_dir()}; hub: {hub.constants.ENDPOINT}{offline}")
    lines += _store_lines(store_url)
    catalogs = [(f"preset {path.stem}", f"dccbridge models pull {path.stem}", Catalog.preset(path.stem))
                for path in sorted(PRESETS_DIR.glob("*.toml"))]
    if catalog_file is not None:
        catalogs.append((f"catalog {catalog_file}", f"dccbridge models pull --models {catalog_file}",
                         Catalog.from_toml(catalog_file)))
    for name, command, catalog in catalogs:
        states = hub.readiness(catalog)
        missing = [state for state in states if not state.ready]
        if not states:
            lines.append(f"{name}: ready (no hub sources)")
        elif not missing:
            lines.append(f"{name}: ready ({len(states)} hub source(s) cached)")
        else:
            lines.append(f"{name}: NOT READY, {len(missing)} of {len(states)} hub source(s) missing; run `{command}`")
            lines += [f"    {state.need.source.label} (for {state.need.users_label}): {state.missing}"
                      for state in missing]
    return lines


def _store_lines(url: str | None) -> list[str]:
    """Which job store serve would use, and whether it opens (docs/job-store.md)."""
    from .jobs.index import StoreError, open_index

    psycopg = _version("psycopg")
    shared = f"postgresql://... needs psycopg: {psycopg}" + (" (pip install 'dccbridge[cluster]')"
                                                             if psycopg == "not installed" else "")
    if url is None:
        return [f"job store: sqlite (default: DATA_DIR/jobs.sqlite3, results in DATA_DIR/results); {shared}"]
    try:
        index = open_index(url)
    except (ValueError, StoreError) as error:
        return [f"job store: {error}"]
    try:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(index.count_by_state().items())) or "no jobs"
        return [f"job store: {index.kind} at {index.url}: opens, {counts}"]
    finally:
        index.close()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _device_lines(device: str) -> list[str]:
    import torch

    from .models.manager import resolve_device, resolve_dtype
    from .models.profile import choose_profile

    lines = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            name = torch.cuda.get_device_name(index)
            lines.append(f"cuda:{index}: {name}, VRAM {total / GIB:.1f} GiB ({free / GIB:.1f} GiB free), "
                         f"CUDA {torch.version.cuda}")
    else:
        lines.append(f"CUDA: not available (torch {torch.__version__}, built for CUDA {torch.version.cuda or '-'})")
    if torch.backends.mps.is_available():
        lines.append("MPS: available")
    try:
        resolved = resolve_device(device)
    except ValueError as error:
        return [*lines, f"device: {error}"]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    lines.append(f"device --device {device}: {resolved.type}, "
                 f"{str(resolve_dtype('auto', resolved)).removeprefix('torch.')}; {os.cpu_count()} CPU cores, "
                 f"{memory / GIB:.1f} GiB RAM")
    profile = choose_profile(resolved, resolve_dtype("auto", resolved))
    lines.append(f"execution profile: {profile.summary()} (serve flags: --dtype, --no-channels-last, --attention, "
                 "--vae-tiling, --compile, --threads)")
    lines.append(f"torch.compile: {_compile_support(resolved)}")
    return lines


def _compile_support(device) -> str:
    """Whether `serve --compile` can work here: inductor needs Triton on GPUs and a C++ compiler on CPUs."""
    import shutil

    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "not available (inductor needs the triton package on CUDA)"
        return "available (inductor with Triton)"
    if device.type == "cpu":
        compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
        return f"available (inductor C++ backend, {compiler})" if compiler else \
            "not available (inductor needs a C++ compiler: g++ or clang++)"
    return "not supported on this device by this server"
