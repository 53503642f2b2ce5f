"""IP-Adapters on a job's pipeline view, and taken off again: the UNet's attention processors and image projection.

diffusers' `load_ip_adapter` replaces the shared UNet's cross-attention processors with IP-Adapter ones and sets
its `encoder_hid_proj`; that would leak into every later job on the model. So `IpAdapterRuntime.applied` records
the UNet's own processors, projection and config first and puts them back on exit (also on error or cancel): the
next job gets the model's pixels bit for bit. The IP-Adapter processors built for a set of adapters are kept (per
UNet, MAX_RESIDENT_SETS of them) and swapped in by later jobs without reading the weights again.

The image encoder (a CLIPVisionModelWithProjection) and its processor are set on the view only, never on the
shared pipeline. Callers hold the model's lock (AdapterRuntime.applied) around `applied`.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection
from transformers.utils import logging as hf_logging

from ..errors import ModelUnavailable
from .catalog import classify_source
from .ip_adapter_catalog import IpAdapterEntry
from .loading import Placement, _as_model_unavailable, _hub_file, _local_folder, _place_module, _refuse_pickle, \
    _source_kind
from .sources import BUILTIN_PREFIX, HUB_FILE_PREFIX
from .tiny_ip_adapter import TINY_IMAGE_ENCODERS, TINY_IP_ADAPTERS, tiny_image_encoder_folder, tiny_ip_adapter_file
from .weights_hash import WeightsHasher, short_hash

MAX_RESIDENT_SETS = 4          # IP-Adapter processor sets kept per UNet
MAX_RESIDENT_ENCODERS = 2      # image encoders kept on the device


class IpAdapterRuntime:
    def __init__(self, placement: Placement, hasher: WeightsHasher):
        self._placement = placement
        self._hasher = hasher
        self._lock = threading.Lock()
        self._encoders: OrderedDict[tuple[str, str], tuple[CLIPVisionModelWithProjection, CLIPImageProcessor]] = \
            OrderedDict()
        # Per shared UNet: adapter ids (with their weights files) -> (attention processors, image projection).
        self._sets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @contextmanager
    def applied(self, pipe, adapters: list[IpAdapterEntry]):
        """Within the block the view `pipe` has the IP-Adapters (one per reference unit, in order) and their image
        encoder; the shared UNet is restored on exit."""
        if not adapters:
            yield
            return
        encoders = {(a.image_encoder, a.image_encoder_subfolder) for a in adapters}
        if len(encoders) > 1:
            raise ModelUnavailable("the job's IP-Adapters use different image encoders "
                                   f"({', '.join(a.id for a in adapters)}); use adapters that share one per job")
        unet = pipe.unet
        own_processors = dict(unet.attn_processors)
        own_projection = unet.encoder_hid_proj
        own_hid_type = unet.config.encoder_hid_dim_type
        own_encoder, own_extractor = getattr(pipe, "image_encoder", None), getattr(pipe, "feature_extractor", None)
        try:
            with torch.inference_mode(False):
                encoder, processor = self._encoder(adapters[0])
                pipe.image_encoder, pipe.feature_extractor = encoder, processor
                key = tuple((a.id, str(self._weights_file(a))) for a in adapters)
                sets = self._sets.setdefault(unet, OrderedDict())
                cached = sets.pop(key, None)
                if cached is None:
                    state_dicts = [self._state_dict(a) for a in adapters]
                    with _as_model_unavailable("IP-Adapter " + ", ".join(f"'{a.id}'" for a in adapters),
                                               adapters[0].weights_location):
                        pipe.load_ip_adapter(state_dicts, subfolder=[None] * len(adapters),
                                             weight_name=[None] * len(adapters), image_encoder_folder=None)
                    cached = (dict(unet.attn_processors), unet.encoder_hid_proj)
                else:
                    # The projection first: a Plus Resampler's own attention layers count among the processors.
                    unet.encoder_hid_proj = cached[1]
                    unet.config.encoder_hid_dim_type = "ip_image_proj"
                    unet.set_attn_processor(dict(cached[0]))  # set_attn_processor consumes the dict
                sets[key] = cached
                while len(sets) > MAX_RESIDENT_SETS:
                    sets.popitem(last=False)
            yield
        finally:
            with torch.inference_mode(False):
                unet.encoder_hid_proj = own_projection
                unet.config.encoder_hid_dim_type = own_hid_type
                unet.set_attn_processor(dict(own_processors))
                pipe.image_encoder, pipe.feature_extractor = own_encoder, own_extractor

    def hashes(self, adapter: IpAdapterEntry) -> dict:
        """Short weight hashes for provenance: {"adapter": ..., "image_encoder": ...}."""
        encoder_folder = self._encoder_folder(adapter)
        return {"adapter": short_hash(self._hasher.file_sha256(self._weights_file(adapter))),
                "image_encoder": short_hash(self._hasher.folder_sha256(encoder_folder))}

    def unload(self) -> None:
        with self._lock:
            self._encoders.clear()

    # -- files ------------------------------------------------------------------------------------

    def _weights_file(self, adapter: IpAdapterEntry) -> Path:
        """The adapter's weights as a local file: a builtin's in the tiny cache, a hub file from the local cache."""
        owner = f"IP-Adapter '{adapter.id}'"
        kind = _source_kind(adapter.source, owner)
        if kind == "builtin":
            name = adapter.source.removeprefix(BUILTIN_PREFIX)
            if name not in TINY_IP_ADAPTERS:
                raise ModelUnavailable(f"{owner}: unknown builtin '{adapter.source}'; builtins: "
                                       + ", ".join(BUILTIN_PREFIX + n for n in TINY_IP_ADAPTERS))
            return tiny_ip_adapter_file(name)
        if kind == "hub":  # a repo: one file of it, so a pull fetches only that (hf://owner/name/sub/file)
            if not adapter.weight_name.lower().endswith(".safetensors"):
                raise ModelUnavailable(f"{owner}: '{adapter.weight_name}' in '{adapter.source}' is a pickle file; "
                                       "name the repo's .safetensors file (h94/IP-Adapter has both), or download "
                                       "the .bin and point `source` at it with --allow-pickle")
            inner = "/".join(part for part in (adapter.subfolder, adapter.weight_name) if part)
            return _hub_file(f"{HUB_FILE_PREFIX}{adapter.source}/{inner}", owner, self._placement)
        if kind == "hub_file":
            return _hub_file(adapter.source, owner, self._placement)
        path = Path(adapter.source)
        if kind == "folder":
            path = path / adapter.subfolder / adapter.weight_name
        if not path.is_file():
            raise ModelUnavailable(f"{owner}: '{path}' does not exist")
        return path

    def _state_dict(self, adapter: IpAdapterEntry) -> dict:
        """{"image_proj": ..., "ip_adapter": ...} as diffusers' load_ip_adapter takes it (h94's file layouts)."""
        path = self._weights_file(adapter)
        owner = f"IP-Adapter '{adapter.id}'"
        kind = classify_source(str(path))
        _refuse_pickle(str(path), kind, self._placement.allow_pickle)
        with _as_model_unavailable(owner, str(path)):
            if kind == "pickle_file":  # h94's .bin: already {"image_proj": {...}, "ip_adapter": {...}}
                state = torch.load(path, map_location="cpu", weights_only=True)
            else:
                state = {"image_proj": {}, "ip_adapter": {}}
                for key, value in load_file(path).items():
                    group, _, name = key.partition(".")
                    if group in state:
                        state[group][name] = value
        if not state.get("image_proj") or not state.get("ip_adapter"):
            raise ModelUnavailable(f"{owner}: '{path}' is not an IP-Adapter: it has no image_proj.* and "
                                   "ip_adapter.* weights")
        return state

    def _encoder_folder(self, adapter: IpAdapterEntry) -> Path:
        owner = f"image encoder of IP-Adapter '{adapter.id}'"
        source = adapter.image_encoder
        kind = _source_kind(source, owner)
        if kind == "builtin":
            name = source.removeprefix(BUILTIN_PREFIX)
            if name not in TINY_IMAGE_ENCODERS:
                raise ModelUnavailable(f"{owner}: unknown builtin '{source}'; builtins: "
                                       + ", ".join(BUILTIN_PREFIX + n for n in TINY_IMAGE_ENCODERS))
            return tiny_image_encoder_folder(name)
        if kind == "hub":
            inner = "/".join(part for part in (adapter.image_encoder_subfolder, "model.safetensors") if part)
            return _hub_file(f"{HUB_FILE_PREFIX}{source}/{inner}", owner, self._placement).parent
        if kind != "folder":
            raise ModelUnavailable(f"{owner}: '{source}' must be a transformers folder (config.json + weights) or a "
                                   "hub repo id with image_encoder_subfolder")
        folder = _local_folder(source, kind, owner, self._placement.allow_pickle) / adapter.image_encoder_subfolder
        if not (folder / "config.json").is_file():
            raise ModelUnavailable(f"{owner}: '{folder}' has no config.json")
        return folder

    def _encoder(self, adapter: IpAdapterEntry) -> tuple[CLIPVisionModelWithProjection, CLIPImageProcessor]:
        key = (adapter.image_encoder, adapter.image_encoder_subfolder)
        with self._lock:
            cached = self._encoders.pop(key, None)
            if cached is None:
                cached = self._load_encoder(adapter)
            self._encoders[key] = cached
            while len(self._encoders) > MAX_RESIDENT_ENCODERS:
                self._encoders.popitem(last=False)
        return cached

    def _load_encoder(self, adapter: IpAdapterEntry):
        folder = self._encoder_folder(adapter)
        owner = f"image encoder of IP-Adapter '{adapter.id}'"
        if not (folder / "config.json").is_file():
            raise ModelUnavailable(f"{owner}: '{folder}' has no config.json; fetch the whole image encoder folder "
                                   "(config.json and model.safetensors)")
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in the server's log
        try:
            with _as_model_unavailable(owner, str(folder)):
                encoder = CLIPVisionModelWithProjection.from_pretrained(
                    folder, local_files_only=True, use_safetensors=None if self._placement.allow_pickle else True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        with _as_model_unavailable(owner, str(folder)):
            size = encoder.config.image_size
            if (folder / "preprocessor_config.json").is_file():
                processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
            else:  # h94's image_encoder folders carry none: CLIP's resize + centre crop at the encoder's size
                processor = CLIPImageProcessor(size=size, crop_size=size)
        return _place_module(encoder, self._placement).eval(), processor

