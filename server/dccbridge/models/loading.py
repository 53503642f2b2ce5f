"""Turning a catalog source into a pipeline or ControlNet on the chosen device, without any network access.

Each failure a user can fix (missing path, weights not in the local Hugging Face cache, pickle refused) is a
ModelUnavailable whose message names the path or repo id and what to do about it.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from diffusers import (
    ControlNetModel,
    StableDiffusionDepth2ImgPipeline,
    StableDiffusionPipeline,
    StableDiffusionUpscalePipeline,
    StableDiffusionXLPipeline,
)
from safetensors.torch import load_file
from transformers import AutoImageProcessor, AutoModelForDepthEstimation
from spandrel import ImageModelDescriptor, ModelLoader, canonicalize_state_dict

from ..domain import ControlType
from ..errors import DccError, ModelUnavailable, Unsupported
from .catalog import (
    BUILTIN_PREFIX,
    FAMILY_REFERENCE_REPOS,
    PICKLE_SUFFIXES,
    ModelEntry,
    UpscalerEntry,
    classify_source,
    single_file_config,
)
from .tiny import (
    SDXL_CONTROLNET_PREFIX,
    TINY_ESRGANS,
    build_tiny_controlnet,
    build_tiny_depth2img,
    build_tiny_dpt,
    build_tiny_esrgan_state_dict,
    build_tiny_inpaint,
    build_tiny_sd15,
    build_tiny_sd_x4,
    build_tiny_sdxl,
    build_tiny_turbo,
    tiny_fingerprint,
)
from . import hub
from .weights_hash import WeightsHasher

# What LoadedModel.pipeline is for each family: sd15 and sdxl models are the bases of views for every mode
# (from_pipe, ops/common.py); an sd2-depth model is the depth2img pipeline, whose UNet takes the depth as a fifth
# input channel.
PIPELINE_CLASSES = {
    "sd15": StableDiffusionPipeline,
    "sdxl": StableDiffusionXLPipeline,
    "sd2-depth": StableDiffusionDepth2ImgPipeline,
}
LOADABLE_FAMILIES = tuple(PIPELINE_CLASSES)
NO_SAFETY_CHECKER = dict(safety_checker=None, requires_safety_checker=False)
# diffusers stamps an invisible watermark on SDXL outputs whenever the optional invisible-watermark package is
# installed: the pixels would depend on the environment, and a seamless texture would no longer wrap.
NO_WATERMARK = dict(add_watermarker=False)
# Constructor options per family, for loading and for every view built over a loaded pipeline.
PIPELINE_OPTIONS = {"sd15": NO_SAFETY_CHECKER, "sdxl": NO_WATERMARK, "sd2-depth": {}}
BUILTIN_PIPELINES = {
    "tiny": ("sd15", lambda: StableDiffusionPipeline(**build_tiny_sd15(), requires_safety_checker=False)),
    "tiny-sdxl": ("sdxl", lambda: StableDiffusionXLPipeline(**build_tiny_sdxl(), **NO_WATERMARK)),
    "tiny-inpaint": ("sd15", lambda: StableDiffusionPipeline(**build_tiny_inpaint(), requires_safety_checker=False)),
    "tiny-turbo": ("sd15", lambda: StableDiffusionPipeline(**build_tiny_turbo(), requires_safety_checker=False)),
    "tiny-depth2img": ("sd2-depth", lambda: StableDiffusionDepth2ImgPipeline(**build_tiny_depth2img())),
}
BUILTIN_DEPTH_ESTIMATORS = ("tiny-dpt",)
# controlnet_aux detectors per estimator kind, each with the files (as in lllyasviel/Annotators) its
# from_pretrained(folder) reads; the first whose files are all in the folder is used.
ANNOTATORS = {
    "openpose": (("OpenposeDetector", ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth")),),
    "lineart": (("LineartDetector", ("sk_model.pth", "sk_model2.pth")),),
    "softedge": (("HEDdetector", ("ControlNetHED.pth",)), ("PidiNetDetector", ("table5_pidinet.pth",))),
}
BUILTIN_CONTROLNET_PREFIX = "tiny-"
BUILTIN_SD_X4 = ("tiny-sd-x4",)
log = logging.getLogger("dccbridge.loading")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype
    allow_pickle: bool = False
    allow_download: bool = False  # serve --allow-download: fetch a hub source that is not cached on first use


def load_pipeline(entry: ModelEntry, placement: Placement):
    """The entry's pipeline (PIPELINE_CLASSES[entry.family]) on the device."""
    if entry.family not in LOADABLE_FAMILIES:
        raise Unsupported(
            f"model '{entry.id}' is of family '{entry.family}', which this server cannot load yet; "
            f"loadable families: {', '.join(LOADABLE_FAMILIES)}"
        )
    kind = _source_kind(entry.source, f"model '{entry.id}'")
    with _as_model_unavailable(f"model '{entry.id}'", entry.source):
        if kind == "hub_file":  # a single-file checkpoint inside a hub repo
            entry, kind = replace(entry, source=str(_hub_file(entry.source, f"model '{entry.id}'", placement))), \
                "single_file"
        if kind == "builtin":
            pipeline = _builtin_pipeline(entry)
        elif kind == "single_file" or kind == "pickle_file":
            pipeline = _single_file_pipeline(entry, placement, kind)
        else:
            folder = _local_folder(entry.source, kind, f"model '{entry.id}'", placement.allow_pickle,
                                   variant=entry.variant, allow_download=placement.allow_download)
            pipeline = PIPELINE_CLASSES[entry.family].from_pretrained(
                folder,
                variant=entry.variant or None,
                dtype=placement.dtype,
                use_safetensors=None if placement.allow_pickle else True,
                local_files_only=True,
                **PIPELINE_OPTIONS[entry.family],
            )
    _place_pipeline(pipeline, placement)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_controlnet(source: str, unet, placement: Placement, owner: str) -> ControlNetModel:
    kind = _source_kind(source, owner)
    with _as_model_unavailable(owner, source):
        if kind == "hub_file":
            source, kind = str(_hub_file(source, owner, placement)), "single_file"
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
            folder = _local_folder(source, kind, owner, placement.allow_pickle,
                                   allow_download=placement.allow_download)
            controlnet = ControlNetModel.from_pretrained(
                folder,
                dtype=placement.dtype,
                use_safetensors=None if placement.allow_pickle else True,
                local_files_only=True,
            )
    return _place_module(controlnet, placement).eval()


def load_upscaler(entry: UpscalerEntry, placement: Placement):
    """An upscaler on the device: a spandrel ImageModelDescriptor (esrgan) or a StableDiffusionUpscalePipeline."""
    owner = f"upscaler '{entry.id}'"
    kind = _source_kind(entry.source, owner)
    with _as_model_unavailable(owner, entry.source):
        if entry.kind == "esrgan":
            return _load_esrgan(entry.source, kind, placement, owner)
        return _load_sd_x4(entry.source, kind, placement, owner)


def _load_esrgan(source: str, kind: str, placement: Placement, owner: str) -> ImageModelDescriptor:
    state = read_state_dict(source, kind, placement, owner, "ESRGAN", TINY_ESRGANS, build_tiny_esrgan_state_dict,
                            "an esrgan upscaler's source is one .safetensors file (e.g. RealESRGAN_x4plus.safetensors)")
    descriptor = ModelLoader().load_from_state_dict(canonicalize_state_dict(state))
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.input_channels != 3 \
            or descriptor.output_channels != 3:
        raise ModelUnavailable(f"{owner}: '{source}' is a {descriptor.architecture.name} model, not an RGB "
                               "image-to-image model")
    supported = {torch.float16: descriptor.supports_half, torch.bfloat16: descriptor.supports_bfloat16}
    dtype = placement.dtype if supported.get(placement.dtype, True) else torch.float32
    return descriptor.to(placement.device, dtype).eval()


def read_state_dict(source: str, kind: str, placement: Placement, owner: str, what: str, builtins,
                    build_builtin, expected: str) -> dict:
    """The state dict of a single-file spandrel model (ESRGAN upscalers, face restorers): a builtin's random
    weights, a .safetensors file (local or hf://), or a pickle file only with --allow-pickle (weights_only=True)."""
    if kind == "builtin":
        name = source.removeprefix(BUILTIN_PREFIX)
        if name not in builtins:
            raise ModelUnavailable(f"{owner}: unknown builtin {what} '{source}'; builtins: "
                                   + ", ".join(BUILTIN_PREFIX + n for n in builtins))
        return build_builtin(name)
    if kind == "hub_file":
        return load_file(_hub_file(source, owner, placement))
    if kind == "single_file" or kind == "pickle_file":
        _refuse_pickle(source, kind, placement.allow_pickle)
        _require_exists(source, owner)
        if kind == "single_file":
            return load_file(source)
        # not spandrel's own .pth reader (a restricted unpickler): weights_only=True is the rule for models
        return torch.load(source, map_location="cpu", weights_only=True)
    raise ModelUnavailable(f"{owner}: '{source}' is not a weights file; {expected}")


def _load_sd_x4(source: str, kind: str, placement: Placement, owner: str) -> StableDiffusionUpscalePipeline:
    if kind == "builtin":
        if source.removeprefix(BUILTIN_PREFIX) not in BUILTIN_SD_X4:
            raise ModelUnavailable(f"{owner}: unknown builtin SD x4 upscaler '{source}'; builtins: "
                                   + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_SD_X4))
        pipeline = StableDiffusionUpscalePipeline(**build_tiny_sd_x4())
    elif kind in ("single_file", "pickle_file", "hub_file"):
        raise ModelUnavailable(f"{owner}: '{source}' is a single file; an sd_x4 upscaler's source is a diffusers "
                               "folder or a cached hub repo id (stabilityai/stable-diffusion-x4-upscaler)")
    else:
        pipeline = StableDiffusionUpscalePipeline.from_pretrained(
            _local_folder(source, kind, owner, placement.allow_pickle, allow_download=placement.allow_download),
            dtype=placement.dtype,
            use_safetensors=None if placement.allow_pickle else True,
            local_files_only=True,
            safety_checker=None,
            watermarker=None,
        )
    _place_pipeline(pipeline, placement)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_estimator(kind: str, source: str, placement: Placement):
    """A server-side preprocessor's weights on the device: for "depth" a (transformers depth model, its image
    processor) pair, else a controlnet_aux detector. Estimators stay float32: they are small, and DPT-Hybrid's
    batch norms misbehave in half precision."""
    owner = f"{kind} estimator"
    source_kind = _source_kind(source, owner)
    with _as_model_unavailable(owner, source):
        if kind == "depth":
            return _load_depth_estimator(source, source_kind, placement, owner)
        return _load_annotator(kind, source, source_kind, placement, owner)


def _load_depth_estimator(source: str, kind: str, placement: Placement, owner: str):
    if kind == "builtin":
        if source.removeprefix(BUILTIN_PREFIX) not in BUILTIN_DEPTH_ESTIMATORS:
            raise ModelUnavailable(f"{owner}: unknown builtin '{source}'; builtins: "
                                   + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_DEPTH_ESTIMATORS))
        model, processor = build_tiny_dpt()
    elif kind in ("single_file", "pickle_file", "hub_file"):
        raise ModelUnavailable(f"{owner}: '{source}' is a single file; a depth estimator's source is a transformers "
                               "folder or a cached hub repo id (e.g. Intel/dpt-hybrid-midas, "
                               "depth-anything/Depth-Anything-V2-Small-hf)")
    else:
        folder = _local_folder(source, kind, owner, placement.allow_pickle, allow_download=placement.allow_download)
        model = AutoModelForDepthEstimation.from_pretrained(
            folder, local_files_only=True, use_safetensors=None if placement.allow_pickle else True
        )
        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    return model.to(placement.device, torch.float32).eval(), processor


def _load_annotator(kind: str, source: str, source_kind: str, placement: Placement, owner: str):
    if source_kind not in ("folder", "hub"):
        raise ModelUnavailable(f"{owner}: '{source}' must be a folder (or a cached hub repo id such as "
                               "lllyasviel/Annotators) holding controlnet_aux's weight files")
    folder = _local_folder(source, source_kind, owner, placement.allow_pickle)
    for class_name, files in ANNOTATORS[kind]:
        if all((folder / name).is_file() for name in files):
            import controlnet_aux  # imports timm and more: only when an annotator is configured and used

            # controlnet_aux reads these with torch.load, whose default is weights_only=True.
            return getattr(controlnet_aux, class_name).from_pretrained(str(folder)).to(placement.device)
    wanted = " or ".join(", ".join(files) for _, files in ANNOTATORS[kind])
    raise ModelUnavailable(f"{owner}: '{folder}' lacks the weights: it needs {wanted} "
                           "(controlnet_aux's files, as in the lllyasviel/Annotators repository)")


def source_sha256(source: str, hasher: WeightsHasher, owner: str, variant: str = "") -> str:
    """The full sha256 identifying a source's weights (see weights_hash for how files are hashed). variant: the
    entry's, so a hub repo is looked up with the files the loader read."""
    kind = classify_source(source)
    if kind == "builtin":
        return tiny_fingerprint(source.removeprefix(BUILTIN_PREFIX))
    if kind == "single_file" or kind == "pickle_file":
        return hasher.file_sha256(source)
    if kind == "hub_file":
        return hasher.file_sha256(str(_hub_file(source, owner, None)))
    if kind == "hub":
        return hasher.folder_sha256(_hub_snapshot(source, owner, variant))
    return hasher.folder_sha256(source)


def _builtin_pipeline(entry: ModelEntry):
    name = entry.source.removeprefix(BUILTIN_PREFIX)
    if name not in BUILTIN_PIPELINES:
        raise ModelUnavailable(f"unknown builtin model '{entry.source}'; builtins: "
                               + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_PIPELINES))
    family, build = BUILTIN_PIPELINES[name]
    if family != entry.family:
        raise ModelUnavailable(f"model '{entry.id}': '{entry.source}' is a {family} model; set family = \"{family}\"")
    return build()


def _builtin_controlnet(source: str, unet) -> ControlNetModel:
    """A builtin ControlNet, shaped after the model's UNet, which must be the one its name says (tiny / tiny-sdxl):
    the name is what the weights hash is computed from."""
    name = source.removeprefix(BUILTIN_PREFIX)
    is_sdxl_unet = unet.config.get("addition_embed_type") == "text_time"
    prefix = SDXL_CONTROLNET_PREFIX if is_sdxl_unet else BUILTIN_CONTROLNET_PREFIX
    type_name = name.removeprefix(prefix)
    if not name.startswith(prefix) or type_name not in {t.value for t in ControlType}:
        raise ModelUnavailable(
            f"unknown builtin ControlNet '{source}' for this {'sdxl' if is_sdxl_unet else 'sd15'} model; builtins: "
            + ", ".join(f"{BUILTIN_PREFIX}{prefix}{t.value}" for t in ControlType)
        )
    return build_tiny_controlnet(unet, ControlType(type_name))


def _single_file_pipeline(entry: ModelEntry, placement: Placement, kind: str):
    if entry.family not in FAMILY_REFERENCE_REPOS:
        raise ModelUnavailable(f"model '{entry.id}': single-file {entry.family} checkpoints cannot be loaded; point "
                               "`source` at a diffusers folder or a cached hub repo id")
    _refuse_pickle(entry.source, kind, placement.allow_pickle)
    _require_exists(entry.source, f"model '{entry.id}'")
    # Passing a local config folder keeps diffusers from trying to download configs: when they are not
    # cached it otherwise retries online, which fails slowly on an air-gapped machine.
    config_folder = _single_file_config(entry, placement.allow_download)
    # Non-safetensors files are read by diffusers with torch.load(weights_only=True).
    return PIPELINE_CLASSES[entry.family].from_single_file(
        entry.source,
        config=str(config_folder),
        local_files_only=True,
        dtype=placement.dtype,
        **PIPELINE_OPTIONS[entry.family],
    )


def _single_file_config(entry: ModelEntry, allow_download: bool) -> Path:
    config = single_file_config(entry)
    if Path(config).is_dir():
        return Path(config)
    if Path(config).is_absolute():
        raise ModelUnavailable(f"model '{entry.id}': config folder '{config}' does not exist")
    configs = hub.HubSource(config, configs_only=True)
    try:
        return _from_hub(configs, f"model '{entry.id}'", allow_download)
    except ModelUnavailable as error:
        raise ModelUnavailable(
            f"{error.message} (The single file '{entry.source}' holds weights only; '{config}' provides the configs "
            f"of its components, a few small *.json / *.txt files. Instead, `config = \"/path/to/a/diffusers/"
            f"{entry.family}/folder\"` in its catalog entry can name any diffusers-format {entry.family} model.)"
        ) from None


def _local_folder(source: str, kind: str, owner: str, allow_pickle: bool, variant: str = "",
                  allow_download: bool = False) -> Path:
    folder = _hub_snapshot(source, owner, variant, allow_download) if kind == "hub" else Path(source)
    if not allow_pickle:
        pickle_only = _pickle_only_folders(folder)
        if pickle_only:
            raise ModelUnavailable(
                f"{owner}: '{pickle_only[0]}' has only pickle weights (.ckpt/.pt/.pth/.bin), which can run code "
                "when loaded. Convert them to .safetensors, or start the server with --allow-pickle to load them "
                "with weights_only=True"
            )
    return folder


def _hub_snapshot(repo_id: str, owner: str, variant: str = "", allow_download: bool = False) -> Path:
    return _from_hub(hub.HubSource(repo_id, variant=variant), owner, allow_download)


def _hub_file(source: str, owner: str, placement: Placement | None) -> Path:
    repo_id, filename = hub.parse_hub_file(source)
    folder = _from_hub(hub.HubSource(repo_id, filename), owner, placement is not None and placement.allow_download)
    return folder / filename


def _from_hub(source: hub.HubSource, owner: str, allow_download: bool) -> Path:
    """The cached snapshot folder; with allow_download, fetched first when something is missing."""
    try:
        return hub.cached_folder(source)
    except hub.HubError as error:
        if not allow_download:
            raise ModelUnavailable(f"{owner}: {error}") from None
    log.info("%s: %s is not cached; downloading it (--allow-download)", owner, source.label)
    try:
        hub.pull(source, show_progress=False)
        return hub.cached_folder(source)
    except hub.HubError as error:
        raise ModelUnavailable(f"{owner}: {error}") from None


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
