"""Applying a job's LoRAs, textual-inversion embeddings and VAE override to its pipeline view, and reverting them.

`AdapterRuntime.applied(pipe, family, resolved)` is the one entry point: a context manager an op wraps around its
denoising. Inside it, on the view `pipe` (ops/common.pipeline_view: a from_pipe view over a model's shared
components):
- LoRAs are injected into the shared UNet / text encoders once per file version (PEFT layers, cached by id and
  the file's size and mtime, so jobs do not re-read them), then `set_adapters(names, weights)` activates this
  job's; on exit `disable_lora()` makes every LoRA layer return exactly its base layer's output, so the next job
  gets the base model's pixels bit for bit.
- Embeddings are added to the tokenizer(s) and text encoder(s) with `load_textual_inversion(token=id)` and taken
  out again with `unload_textual_inversion`, which restores the base embedding rows unchanged.
- A VAE override replaces `vae` on the view only; the shared pipeline keeps its own. VAEs are loaded once per
  file (or folder) version and model VAE config; the MAX_RESIDENT_VAES most recently used stay on the device in the
  model dtype.
All of it under a lock per model (its UNet), so two jobs on one model can never see each other's adapters.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
from safetensors.torch import load_file

from ..errors import DccError, InvalidInput, ModelUnavailable
from ..families import embedding_slots
from .adapter_catalog import KIND_NAMES, AdapterFile, ResolvedAdapters
from .catalog import classify_source
from .loading import (
    Placement,
    _as_model_unavailable,
    _hub_file,
    _local_folder,
    _place_module,
    _refuse_pickle,
    _source_kind,
    source_sha256,
)
from .profile import match_vae
from .weights_hash import WeightsHasher, short_hash

# LoRAs kept injected per model; beyond this the least recently used is deleted (and read again when named).
MAX_RESIDENT_LORAS = 8
# VAE overrides kept loaded on the device (all models together); beyond this the least recently used is dropped.
MAX_RESIDENT_VAES = 4
# Per pipeline view inside `applied`: what of the job's adapters changes the text embeddings (LoRAs with weights,
# embeddings, each with its file version), for the prompt-embedding cache's key (text_adapters_key).
_TEXT_ADAPTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def text_adapters_key(pipe) -> tuple:
    """The adapters active on `pipe` that can change its prompt embeddings; () without any."""
    return _TEXT_ADAPTERS.get(pipe, ())


@dataclass(frozen=True)
class _Stamp:
    """A file or folder version: the cache key that makes an edited or replaced file load again."""

    source: str
    version: tuple  # a file's (size, mtime_ns); a folder's (relative path, size, mtime_ns) per file in it

    @classmethod
    def of(cls, source: str) -> _Stamp:
        path = Path(source)
        try:
            if path.is_dir():
                # Each file's stat: overwriting a weights file in place changes neither the folder's size nor mtime.
                return cls(source, tuple((str(file.relative_to(path)), *_size_and_mtime(file))
                                         for file in sorted(path.rglob("*")) if file.is_file()))
            return cls(source, _size_and_mtime(path))
        except OSError:
            return cls(source, ())  # a hub id: the cache snapshot does not change under us

    @property
    def adapter_name(self) -> str:
        # PEFT adapter names become module keys: no dots, so a digest rather than the id.
        return "lora_" + hashlib.sha1(f"{self.source}\t{self.version}".encode()).hexdigest()[:16]


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class AdapterRuntime:
    def __init__(self, placement: Placement, hasher: WeightsHasher):
        self._placement = placement
        self._hasher = hasher
        self._cache_lock = threading.Lock()
        # (VAE id, the model VAE's config) -> (file version, VAE), least recently used first.
        self._vaes: OrderedDict[tuple[str, str], tuple[_Stamp, AutoencoderKL]] = OrderedDict()
        # Per model (keyed by its shared UNet, so an unloaded model's entries go with it): its lock and the LoRAs
        # injected into it, lora id -> stamp.
        self._model_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._injected: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @contextmanager
    def applied(self, pipe, family: str, resolved: ResolvedAdapters):
        """Within the block, `pipe` runs with the job's adapters; on exit (also on error or cancel) the shared
        components are as before."""
        if not resolved:
            # Plain jobs take the lock too: while another job's LoRAs are enabled they must wait, whatever the
            # number of workers.
            with self._model_lock(pipe.unet):
                yield
            return
        with self._model_lock(pipe.unet):
            lora_touched = False
            embedded: list[tuple[str, object, object, list[str]]] = []  # (slot, tokenizer, text encoder, tokens)
            own_vae = pipe.vae
            try:
                # Outside inference mode (the tiled upscale runs inside it): shared weights made here must stay
                # ordinary tensors that later jobs may update in place.
                with torch.inference_mode(False):
                    if resolved.loras:
                        lora_touched = True
                        names = [self._inject_lora(pipe, family, file, f"adapters.loras[{i}].id")
                                 for i, (file, _) in enumerate(resolved.loras)]
                        self._evict_loras(pipe, keep={file.id for file, _ in resolved.loras})
                        pipe.enable_lora()
                        pipe.set_adapters(names, [weight for _, weight in resolved.loras])
                    for i, file in enumerate(resolved.embeddings):
                        self._load_embedding(pipe, family, file, f"adapters.embeddings[{i}]", embedded)
                    if resolved.vae is not None:
                        pipe.vae = match_vae(self._vae(resolved.vae, own_vae), own_vae)
                _TEXT_ADAPTERS[pipe] = (
                    tuple((file.id, _Stamp.of(file.source), weight) for file, weight in resolved.loras),
                    tuple((file.id, _Stamp.of(file.source)) for file in resolved.embeddings),
                )
                yield
            finally:
                _TEXT_ADAPTERS.pop(pipe, None)
                with torch.inference_mode(False):
                    pipe.vae = own_vae
                    for _, tokenizer, text_encoder, tokens in reversed(embedded):
                        pipe.unload_textual_inversion(tokens=tokens, tokenizer=tokenizer, text_encoder=text_encoder)
                    if lora_touched and any(pipe.get_list_adapters().values()):
                        pipe.disable_lora()  # every LoRA layer returns its base layer's output again

    def load_vae(self, file: AdapterFile, model_vae: AutoencoderKL) -> AutoencoderKL:
        """A catalog VAE for a model whose own VAE is `model_vae` (loaded once per file version; see _vae)."""
        return self._vae(file, model_vae)

    def unload(self) -> None:
        """Drop the cached VAEs (LoRA layers go with their model's pipeline)."""
        with self._cache_lock:
            self._vaes.clear()

    def hashes(self, resolved: ResolvedAdapters) -> dict:
        """Short weight hashes for provenance: {"loras": {id: hash}, "embeddings": {...}, "vae": {id: hash}}."""
        def digest(file: AdapterFile) -> str:
            return short_hash(source_sha256(file.source, self._hasher, f"{KIND_NAMES[file.kind]} '{file.id}'"))

        return {
            "loras": {file.id: digest(file) for file, _ in resolved.loras},
            "embeddings": {file.id: digest(file) for file in resolved.embeddings},
            "vae": {resolved.vae.id: digest(resolved.vae)} if resolved.vae is not None else {},
        }

    # -- LoRA -------------------------------------------------------------------------------------

    def _inject_lora(self, pipe, family: str, file: AdapterFile, field: str) -> str:
        """The PEFT adapter name of this LoRA file version in the model, injecting it on first use."""
        injected = self._injected.setdefault(pipe.unet, {})  # lora id -> stamp, least recently used first
        stamp = _Stamp.of(file.source)
        previous = injected.pop(file.id, None)
        if previous == stamp:
            injected[file.id] = stamp
            return stamp.adapter_name
        if previous is not None:  # the file changed on disk: drop the old version's layers
            _delete_lora(pipe, previous.adapter_name)
        owner = f"LoRA '{file.id}'"
        state_dict = self._read_weights(file, owner)
        try:
            with _as_model_unavailable(owner, file.source), warnings.catch_warnings():
                # PEFT warns that a second adapter joins the first in the model: that is the point of the cache.
                warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
                pipe.load_lora_weights(state_dict, adapter_name=stamp.adapter_name)
        except DccError:
            self._forget_partial_lora(pipe, stamp.adapter_name)
            raise
        if stamp.adapter_name not in _adapter_names(pipe):
            # diffusers only warns when no key names a layer of this pipeline (e.g. an SD3 or Flux LoRA).
            raise InvalidInput(field, f"LoRA '{file.id}' has no layers for this {family} model: none of its keys "
                                      "name a layer of its UNet or text encoders; it is a LoRA for another model type")
        injected[file.id] = stamp
        return stamp.adapter_name

    def _evict_loras(self, pipe, keep: set[str]) -> None:
        """Beyond MAX_RESIDENT_LORAS, delete the least recently used LoRAs (never the running job's)."""
        injected = self._injected.get(pipe.unet, {})
        evictable = [lora_id for lora_id in injected if lora_id not in keep]
        for lora_id in evictable[:max(0, len(injected) - MAX_RESIDENT_LORAS)]:
            _delete_lora(pipe, injected.pop(lora_id).adapter_name)

    @staticmethod
    def _forget_partial_lora(pipe, adapter_name: str) -> None:
        """A LoRA that failed half way (wrong family, bad keys) must not leave layers behind."""
        if adapter_name in _adapter_names(pipe):
            _delete_lora(pipe, adapter_name)

    # -- embeddings -------------------------------------------------------------------------------

    def _load_embedding(self, pipe, family: str, file: AdapterFile, field: str, embedded: list) -> None:
        """Adds the embedding's tokens to each text encoder; `embedded` records each as soon as it is in."""
        owner = f"embedding '{file.id}'"
        vectors_by_slot = _embedding_vectors(self._read_weights(file, owner), family, owner)
        for key, tokenizer_name, encoder_name in embedding_slots(family):
            tokenizer, text_encoder = getattr(pipe, tokenizer_name), getattr(pipe, encoder_name)
            vectors = vectors_by_slot[key]
            width = text_encoder.get_input_embeddings().embedding_dim
            if vectors.shape[-1] != width:
                raise InvalidInput(field, f"'{file.id}' has vectors of size {vectors.shape[-1]}; the model's "
                                          f"{encoder_name} takes {width}: it is an embedding for another family")
            if file.id in tokenizer.get_vocab():
                raise ModelUnavailable(f"{owner}: '{file.id}' is already a token of the model's tokenizer; rename the "
                                       "file (its name is the prompt token), e.g. to <name>")
            with _as_model_unavailable(owner, file.source):
                pipe.load_textual_inversion(vectors, token=file.id, tokenizer=tokenizer, text_encoder=text_encoder)
            # Several vectors become the tokens id, id_1, id_2, ... (diffusers expands id in the prompt).
            tokens = [file.id] + [f"{file.id}_{i}" for i in range(1, vectors.shape[0])]
            embedded.append((encoder_name, tokenizer, text_encoder, tokens))

    # -- VAE --------------------------------------------------------------------------------------

    def _vae(self, file: AdapterFile, model_vae: AutoencoderKL) -> AutoencoderKL:
        # A single-file VAE is built from the model VAE's config, so a model with another config gets its own.
        config = {name: value for name, value in model_vae.config.items() if not name.startswith("_")}  # no paths
        key = (file.id, json.dumps(config, sort_keys=True, default=str))
        stamp = _Stamp.of(file.source)
        with self._cache_lock:
            cached = self._vaes.pop(key, None)
            if cached is None or cached[0] != stamp:  # first use, or the files changed since
                cached = (stamp, self._load_vae(file, model_vae))
            self._vaes[key] = cached
            while len(self._vaes) > MAX_RESIDENT_VAES:
                self._vaes.popitem(last=False)  # never this job's: it was just put last
        return cached[1]

    def _load_vae(self, file: AdapterFile, model_vae: AutoencoderKL) -> AutoencoderKL:
        owner = f"VAE '{file.id}'"
        kind = _source_kind(file.source, owner)  # a [vaes.ID] source that is nothing loadable: ModelUnavailable
        with _as_model_unavailable(owner, file.source):
            if kind == "hub_file":  # one file of a hub repo, from the cache (or fetched with --allow-download)
                file, kind = replace(file, source=str(_hub_file(file.source, owner, self._placement))), "single_file"
            if kind in ("single_file", "pickle_file"):
                state = self._read_weights(file, owner)
                if not any(key.startswith("encoder.down_blocks.") for key in state):
                    state = convert_ldm_vae_checkpoint(state, dict(model_vae.config))  # original (LDM) key layout
                vae = AutoencoderKL.from_config(model_vae.config)
                vae.load_state_dict(state)
            else:
                folder = _local_folder(file.source, kind, owner, self._placement.allow_pickle,
                                       allow_download=self._placement.allow_download)
                subfolder = "vae" if (folder / "vae" / "config.json").is_file() else None  # a whole pipeline
                vae = AutoencoderKL.from_pretrained(
                    folder, subfolder=subfolder, dtype=self._placement.dtype, local_files_only=True,
                    use_safetensors=None if self._placement.allow_pickle else True,
                )
        return _place_module(vae, self._placement).eval()

    # -- files ------------------------------------------------------------------------------------

    def _read_weights(self, file: AdapterFile, owner: str) -> dict:
        """A weights file's tensors: safetensors, or (only with --allow-pickle) torch.load(weights_only=True)."""
        kind = classify_source(file.source)
        _refuse_pickle(file.source, kind, self._placement.allow_pickle)
        with _as_model_unavailable(owner, file.source):
            if kind == "pickle_file":
                return torch.load(file.source, map_location="cpu", weights_only=True)
            return load_file(file.source)

    def _model_lock(self, unet) -> threading.RLock:
        with self._cache_lock:
            return self._model_locks.setdefault(unet, threading.RLock())


def _adapter_names(pipe) -> set[str]:
    """The LoRA adapters present in any of the pipeline's models."""
    return {name for names in pipe.get_list_adapters().values() for name in names}


def _delete_lora(pipe, adapter_name: str) -> None:
    with warnings.catch_warnings():
        # PEFT notes that the deleted adapter was the active one: LoRA layers are disabled between jobs anyway.
        warnings.filterwarnings("ignore", message=".*was active which is now deleted")
        pipe.delete_adapters(adapter_name)


def _embedding_vectors(state: dict, family: str, owner: str) -> dict:
    """The embedding's vectors per slot key (None for single-encoder families), each a 2-D (n, width) tensor."""
    if "string_to_param" in state:  # A1111's .pt layout
        state = state["string_to_param"]
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    slots = embedding_slots(family)
    vectors = {}
    for key, _, _ in slots:
        if key is None:
            if len(tensors) != 1:
                raise ModelUnavailable(f"{owner}: a {family} embedding holds one tensor (e.g. 'emb_params'); this "
                                       f"file has {sorted(tensors) or 'none'}")
            tensor = next(iter(tensors.values()))
        elif key in tensors:
            tensor = tensors[key]
        else:
            raise ModelUnavailable(f"{owner}: a {family} embedding holds {', '.join(k for k, _, _ in slots)}; this "
                                   f"file has {sorted(tensors) or 'none'}")
        if tensor.ndim == 0:
            raise ModelUnavailable(f"{owner}: holds a scalar, not embedding vectors")
        vectors[key] = tensor.detach().reshape(-1, tensor.shape[-1])  # (width,) or (n, width) -> (n, width)
    return vectors
