"""Lazy, cached, thread-safe access to the catalog's models on one device."""

from __future__ import annotations

import gc
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from diffusers import ControlNetModel, StableDiffusionPipeline

from ..domain import AdapterSpec, ControlType
from ..errors import DccError, Unsupported
from .adapters import AdapterRuntime
from .ip_adapters import IpAdapterRuntime
from .catalog import Catalog, ModelEntry, UpscalerEntry
from .estimators import ServerEstimators
from .face_loading import FaceModels
from .loading import Placement, load_controlnet, load_pipeline, load_upscaler, source_sha256
from .preview_decoder import PreviewDecoder, load_preview_decoder
from .profile import (
    ExecutionProfile,
    ProfileOptions,
    apply_threads,
    apply_to_module,
    apply_to_pipeline,
    choose_profile,
    compile_module,
)
from .prompt_cache import DEFAULT_PROMPT_CACHE_SIZE, PromptEmbeddingCache
from .weights_hash import WeightsHasher, short_hash

log = logging.getLogger("dccbridge.models")

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' was asked for, but no CUDA device is available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device '{device}' was asked for, but MPS is not available")
    return resolved


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        # Half precision is the norm on GPUs (CUDA, Apple MPS); CPU kernels are slow or missing in fp16.
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}'; choose one of: auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


class LoadedModel:
    """A catalog model's pipeline on the device, plus its ControlNets, loaded on first use."""

    def __init__(self, entry: ModelEntry, pipeline: StableDiffusionPipeline, placement: Placement,
                 hasher: WeightsHasher, profile: ExecutionProfile | None = None,
                 preview_decoder: PreviewDecoder | None = None, prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE):
        self.entry = entry
        self.pipeline = pipeline
        # How it runs (models/profile.py): chosen at load from the server's profile and the entry's switches.
        self.profile = profile or choose_profile(placement.device, placement.dtype)
        self.preview_decoder = preview_decoder  # TAESD for step previews, or None: the linear latent map
        self.vae_id = ""  # the catalog VAE (fp16_vae) decoding in place of the model's own, if any
        self.prompt_cache = PromptEmbeddingCache(prompt_cache_size)
        self._placement = placement
        self._hasher = hasher
        self._controlnets: dict[ControlType, ControlNetModel] = {}
        self._controlnet_lock = threading.Lock()
        self._hash_lock = threading.Lock()
        self._weights_hash = ""

    @property
    def weights_hash(self) -> str:
        """10 hex digits identifying the weights (A1111's short model hash); computed on first access."""
        with self._hash_lock:
            if not self._weights_hash:
                self._weights_hash = short_hash(
                    source_sha256(self.entry.source, self._hasher, f"model '{self.entry.id}'", self.entry.variant)
                )
            return self._weights_hash

    def control_types(self) -> list[ControlType]:
        return [t for t in ControlType if t in self.entry.controlnets]

    def controlnet(self, control_type: ControlType, controlnet_id: str = "") -> ControlNetModel:
        """The entry's ControlNet for a type. controlnet_id, if given, must name it (ModelEntry.check_controlnet_id;
        requests are checked at submit already)."""
        source = self._controlnet_source(control_type, controlnet_id)
        with self._controlnet_lock:
            controlnet = self._controlnets.get(control_type)
            if controlnet is None:
                controlnet = load_controlnet(
                    source, self.pipeline.unet, self._placement, owner=self._controlnet_owner(control_type)
                )
                compile_module(apply_to_module(controlnet, self.profile), self.profile)
                self._controlnets[control_type] = controlnet
            return controlnet

    def controlnet_hash(self, control_type: ControlType) -> str:
        source = self._controlnet_source(control_type, "")
        return short_hash(source_sha256(source, self._hasher, self._controlnet_owner(control_type)))

    def _controlnet_owner(self, control_type: ControlType) -> str:
        return f"model '{self.entry.id}' {control_type.value} ControlNet"

    def _controlnet_source(self, control_type: ControlType, controlnet_id: str) -> str:
        source = self.entry.controlnets.get(control_type)
        if source is None:
            available = ", ".join(t.value for t in self.control_types()) or "none"
            raise Unsupported(
                f"model '{self.entry.id}' has no ControlNet for '{control_type.value}'; it has: {available}"
            )
        self.entry.check_controlnet_id(control_type, controlnet_id, "controlnet_id")
        return source


@dataclass(frozen=True)
class LoadedUpscaler:
    entry: UpscalerEntry
    model: object  # spandrel ImageModelDescriptor (kind esrgan) or StableDiffusionUpscalePipeline (kind sd_x4)
    weights_hash: str


class ModelManager:
    def __init__(self, catalog: Catalog, device: str = "auto", allow_pickle: bool = False,
                 dtype: str | torch.dtype = "auto", hash_cache_file: str | Path | None = None,
                 allow_download: bool = False, on_load: Callable[[str, float], None] | None = None,
                 profile: ProfileOptions | None = None, prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE):
        """on_load(model_id, seconds) is called after each model or upscaler load (for metrics)."""
        self.catalog = catalog
        self.on_load = on_load
        resolved = resolve_device(device)
        self._placement = Placement(resolved, resolve_dtype(dtype, resolved), allow_pickle, allow_download)
        # The server-wide execution profile; a model's catalog entry may switch parts of it (LoadedModel.profile).
        self.profile = choose_profile(resolved, self._placement.dtype, profile)
        apply_threads(self.profile)
        self._prompt_cache_size = prompt_cache_size
        self._hasher = WeightsHasher(hash_cache_file)
        self._loaded: dict[str, LoadedModel] = {}
        self._upscalers: dict[str, LoadedUpscaler] = {}
        # Server-side preprocessors (depth estimation, pose/lineart/softedge detection), loaded per kind on first use.
        self.estimators = ServerEstimators(catalog.estimators, self._placement)
        # Per-job LoRAs, embeddings and VAE overrides (catalog.adapters lists them).
        self.adapters = AdapterRuntime(self._placement, self._hasher)
        # IP-Adapters of REFERENCE control units (each model's catalog entry lists its own).
        self.ip_adapters = IpAdapterRuntime(self._placement, self._hasher)
        # Face restorers and detectors (catalog [restorers.*] / [face_detectors.*]), loaded on first use.
        self.faces = FaceModels(catalog.faces, self._placement, self._hasher, self._loaded_in)
        # One lock for all loads: loading two large models at once would only compete for memory and disk.
        self._load_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self._placement.device

    @property
    def dtype(self) -> torch.dtype:
        return self._placement.dtype

    @property
    def allow_pickle(self) -> bool:
        return self._placement.allow_pickle

    def describe_device(self) -> dict:
        device = self._placement.device
        name, memory_bytes = _cpu_name(), _physical_memory_bytes()
        if device.type == "cuda":
            properties = torch.cuda.get_device_properties(device)
            name, memory_bytes = properties.name, properties.total_memory
        elif device.type == "mps":
            name = "Apple MPS"
            memory_bytes = torch.mps.recommended_max_memory() if hasattr(torch.mps, "recommended_max_memory") else 0
        return {
            "type": device.type,
            "name": name,
            "dtype": str(self._placement.dtype).removeprefix("torch."),
            "memory_bytes": int(memory_bytes),
            "profile": self.profile.summary(),
        }

    def load(self, model_id: str) -> LoadedModel:
        """The model's pipeline, loaded on first use; "" means the catalog's default model."""
        entry = self.catalog.get(model_id)
        loaded = self._loaded.get(entry.id)
        if loaded is not None:
            return loaded
        with self._load_lock:
            loaded = self._loaded.get(entry.id)  # another caller may have loaded it while we waited
            if loaded is None:
                started = time.monotonic()
                loaded = self._load_model(entry)
                self._loaded[entry.id] = loaded
                self._loaded_in(entry.id, time.monotonic() - started)
        return loaded

    def _loaded_in(self, model_id: str, seconds: float) -> None:
        if self.on_load is not None:
            self.on_load(model_id, seconds)

    def device_memory_bytes(self) -> int | None:
        """Memory the device reports in use by this process (CUDA, MPS); None where it reports none (CPU)."""
        device = self._placement.device
        if device.type == "cuda":
            return int(torch.cuda.memory_allocated(device))
        if device.type == "mps" and hasattr(torch.mps, "current_allocated_memory"):
            return int(torch.mps.current_allocated_memory())
        return None
    def _load_model(self, entry: ModelEntry) -> LoadedModel:
        pipeline = load_pipeline(entry, self._placement)
        profile = self.model_profile(entry.id)
        vae_id = ""
        if entry.fp16_vae and profile.dtype == "float16":
            pipeline.vae, vae_id = self._fp16_vae(entry, pipeline.vae)
        apply_to_pipeline(pipeline, profile)
        preview_decoder = None
        if entry.preview_vae:
            preview_decoder = load_preview_decoder(entry.preview_vae, self._placement,
                                                   f"model '{entry.id}' preview_vae")
        if profile.compile:
            compile_module(pipeline.unet, profile)
            _warm_up(pipeline, entry)
        log.info("model '%s' loaded; profile: %s", entry.id, profile.summary())
        loaded = LoadedModel(entry, pipeline, self._placement, self._hasher, profile, preview_decoder,
                             self._prompt_cache_size)
        loaded.vae_id = vae_id
        return loaded

    def _fp16_vae(self, entry: ModelEntry, own_vae) -> tuple[object, str]:
        """The entry's fp16_vae in place of its own VAE, or (own VAE, "") with a warning when it cannot load (the
        model then decodes as diffusers does: upcast to float32 where its VAE asks for it)."""
        try:
            resolved = self.catalog.adapters.resolve(AdapterSpec(vae_id=entry.fp16_vae), entry.family,
                                                     self.allow_pickle, field=f"models.{entry.id}.fp16_vae")
            return self.adapters.load_vae(resolved.vae, own_vae), entry.fp16_vae
        except DccError as error:
            log.warning("model '%s': fp16_vae '%s' not used: %s", entry.id, entry.fp16_vae, error)
            return own_vae, ""

    def model_profile(self, model_id: str) -> ExecutionProfile:
        """The profile a catalog model runs (or will run) under: the server's, with the entry's switches."""
        return self.profile.for_model(self.catalog.get(model_id).profile)

    def is_loaded(self, model_id: str) -> bool:
        return (model_id or self.catalog.default_id) in self._loaded

    def upscaler(self, upscaler_id: str) -> LoadedUpscaler:
        """A catalog upscaler on the device, loaded on first use."""
        entry = self.catalog.upscaler(upscaler_id)
        loaded = self._upscalers.get(entry.id)
        if loaded is not None:
            return loaded
        with self._load_lock:
            loaded = self._upscalers.get(entry.id)
            if loaded is None:
                started = time.monotonic()
                model = load_upscaler(entry, self._placement)
                # Hashed now rather than on first use: every upscale result records it (cached on disk after once).
                sha256 = source_sha256(entry.source, self._hasher, f"upscaler '{entry.id}'")
                loaded = LoadedUpscaler(entry, model, short_hash(sha256))
                self._upscalers[entry.id] = loaded
                self._loaded_in(entry.id, time.monotonic() - started)
        return loaded

    def is_upscaler_loaded(self, upscaler_id: str) -> bool:
        return upscaler_id in self._upscalers

    def unload_all(self) -> None:
        with self._load_lock:
            self._loaded.clear()
            self._upscalers.clear()
        self.estimators.unload()
        self.adapters.unload()
        self.ip_adapters.unload()
        self.faces.unload()
        gc.collect()
        if self._placement.device.type == "cuda":
            torch.cuda.empty_cache()


def _warm_up(pipeline, entry: ModelEntry) -> None:
    """One short run at the model's default size and guidance, so the first job does not pay for compilation."""
    if entry.family not in ("sd15", "sdxl"):
        return  # depth2img needs an image and a depth map: its first job compiles
    started = time.perf_counter()
    with torch.inference_mode():
        pipeline(prompt="", num_inference_steps=2, width=entry.default_width, height=entry.default_height,
                 guidance_scale=entry.default_guidance_scale, output_type="latent")
    log.info("model '%s' compiled and warmed up in %.1f s", entry.id, time.perf_counter() - started)


def _physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0  # not available on this OS (Windows)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:  # Linux; platform.processor() is empty there
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"
