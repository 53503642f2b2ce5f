"""Turning a catalog source into a pipeline or ControlNet on the chosen device, without any network access.

Each failure a user can fix (missing path, weights not in the local Hugging Face cache, pickle refused) is a
ModelUnavailable whose message names the path or repo id and what to do about it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import ControlNetModel, StableDiffusionPipeline
from huggingface_hub import snapshot_download

from ..domain import ControlType
from ..errors import DccError, ModelUnavailable, Unsupported
from .catalog import BUILTIN_PREFIX, PICKLE_SUFFIXES, ModelEntry, classify_source
from .tiny import build_tiny_controlnet, build_tiny_sd15, tiny_fingerprint
from .weights_hash import WeightsHasher

LOADABLE_FAMILIES = ("sd15",)
BUILTIN_PIPELINES = ("tiny",)
BUILTIN_CONTROLNET_PREFIX = "tiny-"
# Single-file checkpoints carry weights only; the component configs come from this diffusers repo.
FAMILY_REFERENCE_REPOS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5"}
NO_SAFETY_CHECKER = dict(safety_checker=None, requires_safety_checker=False)


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype
    allow_pickle: bool = False


def load_pipeline(entry: ModelEntry, placement: Placement) -> StableDiffusionPipeline:
    if entry.family not in LOADABLE_FAMILIES:
        raise Unsupported(
            f"model '{entry.id}' is of family '{entry.family}', which this server cannot load yet; "
            f"loadable families: {', '.join(LOADABLE_FAMILIES)}"
        )
    kind = _source_kind(entry.source, f"model '{entry.id}'")
    with _as_model_unavailable(f"model '{entry.id}'", entry.source):
        if kind == "builtin":
            pipeline = _builtin_pipeline(entry.source)
        elif kind == "single_file" or kind == "pickle_file":
            pipeline = _single_file_pipeline(entry, placement, kind)
        else:
            folder = _local_folder(entry.source, kind, f"model '{entry.id}'", placement.allow_pickle)
            pipeline = StableDiffusionPipeline.from_pretrained(
                folder,
                dtype=placement.dtype,
                use_safetensors=None if placement.allow_pickle else True,
                local_files_only=True,
                **NO_SAFETY_CHECKER,
            )
    _place_pipeline(pipeline, placement)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_controlnet(source: str, unet, placement: Placement, owner: str) -> ControlNetModel:
    kind = _source_kind(source, owner)
    with _as_model_unavailable(owner, source):
        if kind == "builtin":
            controlnet = _builtin_controlnet(source, unet)
        elif kind == "single_file" or kind == "pickle_file":
            _refuse_pickle(source, kind, placement.allow_pickle)
            _require_exists(source, owner)
            try:
                controlnet = ControlNetModel.from_single_file(
                    source, dtype=placement.dtype, local_files_only=True
                )
            except OSError as error:
                raise ModelUnavailable(
                    f"{owner}: cannot load the single-file ControlNet '{source}': {error}. Single-file ControlNets "
                    "take their diffusers config from the local Hugging Face cache; pointing the catalog at a "
                    "diffusers ControlNet folder (config.json + diffusion_pytorch_model.safetensors) avoids that."
                ) from error
        else:
            folder = _local_folder(source, kind, owner, placement.allow_pickle)
            controlnet = ControlNetModel.from_pretrained(
                folder,
                dtype=placement.dtype,
                use_safetensors=None if placement.allow_pickle else True,
                local_files_only=True,
            )
    return _place_module(controlnet, placement).eval()


def source_sha256(source: str, hasher: WeightsHasher, owner: str) -> str:
    """The full sha256 identifying a source's weights (see weights_hash for how files are hashed)."""
    kind = classify_source(source)
    if kind == "builtin":
        return tiny_fingerprint(source.removeprefix(BUILTIN_PREFIX))
    if kind == "single_file" or kind == "pickle_file":
        return hasher.file_sha256(source)
    if kind == "hub":
        return hasher.folder_sha256(_hub_snapshot(source, owner))
    return hasher.folder_sha256(source)


def _builtin_pipeline(source: str) -> StableDiffusionPipeline:
    name = source.removeprefix(BUILTIN_PREFIX)
    if name not in BUILTIN_PIPELINES:
        raise ModelUnavailable(f"unknown builtin model '{source}'; builtins: "
                               + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_PIPELINES))
    return StableDiffusionPipeline(**build_tiny_sd15(), requires_safety_checker=False)


def _builtin_controlnet(source: str, unet) -> ControlNetModel:
    name = source.removeprefix(BUILTIN_PREFIX)
    type_name = name.removeprefix(BUILTIN_CONTROLNET_PREFIX)
    if not name.startswith(BUILTIN_CONTROLNET_PREFIX) or type_name not in {t.value for t in ControlType}:
        raise ModelUnavailable(
            f"unknown builtin ControlNet '{source}'; builtins: "
            + ", ".join(f"{BUILTIN_PREFIX}{BUILTIN_CONTROLNET_PREFIX}{t.value}" for t in ControlType)
        )
    return build_tiny_controlnet(unet, ControlType(type_name))


def _single_file_pipeline(entry: ModelEntry, placement: Placement, kind: str) -> StableDiffusionPipeline:
    _refuse_pickle(entry.source, kind, placement.allow_pickle)
    _require_exists(entry.source, f"model '{entry.id}'")
    # Passing a local config folder keeps diffusers from trying to download configs: when they are not
    # cached it otherwise retries online, which fails slowly on an air-gapped machine.
    config_folder = _single_file_config(entry)
    # Non-safetensors files are read by diffusers with torch.load(weights_only=True).
    return StableDiffusionPipeline.from_single_file(
        entry.source,
        config=str(config_folder),
        local_files_only=True,
        dtype=placement.dtype,
        **NO_SAFETY_CHECKER,
    )


def _single_file_config(entry: ModelEntry) -> Path:
    config = entry.config or FAMILY_REFERENCE_REPOS[entry.family]
    if Path(config).is_dir():
        return Path(config)
    if Path(config).is_absolute():
        raise ModelUnavailable(f"model '{entry.id}': config folder '{config}' does not exist")
    try:
        return Path(snapshot_download(config, local_files_only=True))
    except OSError as error:
        raise ModelUnavailable(
            f"model '{entry.id}': the single file '{entry.source}' holds weights only, and the configs that "
            f"describe its components ('{config}') are not in the local Hugging Face cache. Either set "
            f"`config = \"/path/to/a/diffusers/{entry.family}/folder\"` in its catalog entry (any diffusers-format "
            f"{entry.family} model works), or download '{config}' (its *.json and *.txt files suffice) into the "
            "Hugging Face cache on a machine with access, e.g. with `hf download`."
        ) from error


def _local_folder(source: str, kind: str, owner: str, allow_pickle: bool) -> Path:
    folder = _hub_snapshot(source, owner) if kind == "hub" else Path(source)
    if not allow_pickle:
        pickle_only = _pickle_only_folders(folder)
        if pickle_only:
            raise ModelUnavailable(
                f"{owner}: '{pickle_only[0]}' has only pickle weights (.ckpt/.pt/.pth/.bin), which can run code "
                "when loaded. Convert them to .safetensors, or start the server with --allow-pickle to load them "
                "with weights_only=True"
            )
    return folder


def _hub_snapshot(repo_id: str, owner: str) -> Path:
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except OSError as error:
        raise ModelUnavailable(
            f"{owner}: '{repo_id}' is a Hugging Face repo id, and it is not in the local cache (this server never "
            "downloads). Download it with `hf download` on a machine with access and copy the cache here, or "
            "point `source` in the catalog at a local diffusers folder or .safetensors file."
        ) from error


def _pickle_only_folders(folder: Path) -> list[Path]:
    """Folders (the root or a component like unet/) holding pickle weights and no .safetensors."""
    folders = [folder, *(p for p in folder.iterdir() if p.is_dir())]
    return [
        f for f in folders
        if any(p.suffix.lower() in PICKLE_SUFFIXES for p in f.iterdir())
        and not any(p.suffix.lower() == ".safetensors" for p in f.iterdir())
    ]


def _refuse_pickle(source: str, kind: str, allow_pickle: bool) -> None:
    if kind == "pickle_file" and not allow_pickle:
        raise ModelUnavailable(
            f"'{source}' is a pickle checkpoint (.ckpt/.pt/.pth/.bin); these can run code when loaded. "
            "Convert it to .safetensors, or start the server with --allow-pickle to load it with weights_only=True"
        )


def _require_exists(path: str, owner: str) -> None:
    if not Path(path).exists():
        raise ModelUnavailable(f"{owner}: '{path}' does not exist")


def _source_kind(source: str, owner: str) -> str:
    try:
        return classify_source(source)
    except ValueError as error:
        if Path(source).is_absolute():
            raise ModelUnavailable(f"{owner}: '{source}' does not exist") from None
        raise ModelUnavailable(f"{owner}: {error}") from None


@contextmanager
def _as_model_unavailable(owner: str, source: str):
    """Any failure to build a model from its files becomes ModelUnavailable naming the model and source."""
    try:
        yield
    except DccError:
        raise
    except Exception as error:
        raise ModelUnavailable(f"{owner}: cannot load '{source}': {type(error).__name__}: {error}") from error


def _place_pipeline(pipeline: StableDiffusionPipeline, placement: Placement) -> None:
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            _place_module(component, placement)


def _place_module(module: torch.nn.Module, placement: Placement) -> torch.nn.Module:
    # Only cast when needed: diffusers warns on every .to(dtype=...) call.
    parameter = next(module.parameters(), None)
    if parameter is not None and parameter.dtype != placement.dtype:
        module.to(dtype=placement.dtype)
    return module.to(placement.device)
