"""Face restorers (spandrel FaceSR models) and face detectors (YuNet ONNX through OpenCV) on the device, loaded
lazily by the manager. Restorers read their weights with loading.read_state_dict: the upscalers' loader and its
pickle policy (.safetensors by default; .pth only with --allow-pickle, then weights_only=True)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from spandrel import ImageModelDescriptor, ModelLoader, canonicalize_state_dict

from ..errors import ModelUnavailable
from .face_catalog import FaceCatalog, FaceDetectorEntry, RestorerEntry
from .loading import Placement, _as_model_unavailable, _hub_file, _source_kind, read_state_dict
from .sources import BUILTIN_PREFIX
from .tiny_faces import (
    TINY_RESTOREFORMERS,
    TINY_YUNETS,
    build_tiny_restoreformer_state_dict,
    build_tiny_yunet_onnx,
    tiny_face_fingerprint,
)
from .weights_hash import WeightsHasher, short_hash

# spandrel architecture ids of face restorers. CodeFormer comes from spandrel_extra_arches (restrictive licences:
# installed and registered only if present). GFPGAN and CodeFormer work in [-1, 1]; spandrel's RestoreFormer
# call normalises itself.
SIGNED_RANGE_ARCHITECTURES = ("GFPGAN", "CodeFormer")
FIDELITY_ARCHITECTURES = ("CodeFormer",)
DETECTOR_SUFFIX = ".onnx"
_extra_arches_installed = False


def _model_loader() -> ModelLoader:
    global _extra_arches_installed
    if not _extra_arches_installed:
        try:  # CodeFormer (S-Lab License 1.0, non-commercial) lives there
            import spandrel_extra_arches

            spandrel_extra_arches.install(ignore_duplicates=True)
        except ImportError:
            pass
        _extra_arches_installed = True
    return ModelLoader()


@dataclass
class LoadedRestorer:
    entry: RestorerEntry
    descriptor: ImageModelDescriptor
    weights_hash: str

    @property
    def architecture(self) -> str:
        return self.descriptor.architecture.id

    @property
    def has_fidelity(self) -> bool:
        return self.architecture in FIDELITY_ARCHITECTURES

    def restore(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        """Aligned faces [N, 3, S, S] RGB in [0, 1] -> restored faces, same shape, in [0, 1]. Deterministic (GFPGAN
        adds StyleGAN noise: its fixed noise buffers are used)."""
        d = self.descriptor
        faces = faces.to(d.device, d.dtype)
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            if self.architecture in SIGNED_RANGE_ARCHITECTURES:
                signed = faces * 2 - 1
                if self.architecture == "CodeFormer":
                    out = d.model(signed, weight=fidelity)[0]
                else:
                    out = d.model(signed, return_rgb=False, randomize_noise=False)[0]
                out = (out + 1) / 2
            else:
                out = d(faces)
        return out.float().clamp(0, 1).cpu()


class LoadedDetector:
    """OpenCV's FaceDetectorYN over ONNX bytes. One OpenCV object per size, used under a lock (not thread-safe)."""

    def __init__(self, entry: FaceDetectorEntry, onnx_bytes: bytes, weights_hash: str):
        self.entry, self.weights_hash = entry, weights_hash
        self._buffer = np.frombuffer(onnx_bytes, np.uint8)
        self._detector = None
        self._lock = threading.Lock()

    def detect(self, bgr: np.ndarray, threshold: float, top_k: int) -> np.ndarray:
        """Rows [x, y, w, h, 5 x (lx, ly), score] for faces scoring at least `threshold`."""
        height, width = bgr.shape[:2]
        with self._lock:
            if self._detector is None:
                self._detector = cv2.FaceDetectorYN.create("onnx", self._buffer, np.zeros(0, np.uint8),
                                                           (width, height), threshold, 0.3, top_k)
            self._detector.setInputSize((width, height))
            self._detector.setScoreThreshold(threshold)
            self._detector.setTopK(top_k)
            _, faces = self._detector.detect(np.ascontiguousarray(bgr))
        return np.zeros((0, 15), np.float32) if faces is None else faces


def load_restorer(entry: RestorerEntry, placement: Placement) -> ImageModelDescriptor:
    owner = f"face restorer '{entry.id}'"
    kind = _source_kind(entry.source, owner)
    with _as_model_unavailable(owner, entry.source):
        state = read_state_dict(entry.source, kind, placement, owner, "face restorer", TINY_RESTOREFORMERS,
                                build_tiny_restoreformer_state_dict,
                                "a face restorer's source is one .safetensors file (e.g. GFPGANv1.4.safetensors)")
        descriptor = _model_loader().load_from_state_dict(canonicalize_state_dict(state))
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose != "FaceSR":
        raise ModelUnavailable(f"{owner}: '{entry.source}' is a {descriptor.architecture.name} model, not a face "
                               "restorer (GFPGAN, CodeFormer or RestoreFormer)")
    if entry.architecture and entry.architecture != descriptor.architecture.id:
        raise ModelUnavailable(f"{owner}: the catalog says architecture = '{entry.architecture}' but '{entry.source}' "
                               f"is a {descriptor.architecture.id} model; correct the catalog")
    needs = descriptor.size_requirements
    if not needs.check(entry.face_size, entry.face_size):
        raise ModelUnavailable(f"{owner}: face_size {entry.face_size} does not suit {descriptor.architecture.name} "
                               f"(minimum {needs.minimum}, a multiple of {needs.multiple_of}); set face_size = 512")
    dtype = placement.dtype if {torch.float16: descriptor.supports_half,
                                torch.bfloat16: descriptor.supports_bfloat16}.get(placement.dtype, True) \
        else torch.float32
    return descriptor.to(placement.device, dtype).eval()


def load_detector_bytes(entry: FaceDetectorEntry, placement: Placement) -> bytes:
    owner = f"face detector '{entry.id}'"
    source = entry.source
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        if name not in TINY_YUNETS:
            raise ModelUnavailable(f"{owner}: unknown builtin face detector '{source}'; builtins: "
                                   + ", ".join(BUILTIN_PREFIX + n for n in TINY_YUNETS))
        with _as_model_unavailable(owner, source):
            return build_tiny_yunet_onnx(name)
    path = Path(source).expanduser()
    if path.suffix.lower() != DETECTOR_SUFFIX:
        raise ModelUnavailable(f"{owner}: '{source}' is not an .onnx file; a face detector's source is a YuNet "
                               "ONNX file (face_detection_yunet_2023mar.onnx, OpenCV Zoo, MIT)")
    if not path.is_file():
        raise ModelUnavailable(f"{owner}: '{source}' does not exist")
    return path.read_bytes()


class FaceModels:
    """The catalog's restorers and detectors, each loaded on first use and kept."""

    def __init__(self, catalog: FaceCatalog, placement: Placement, hasher: WeightsHasher, on_load=None):
        self.catalog, self._placement, self._hasher, self._on_load = catalog, placement, hasher, on_load
        self._restorers: dict[str, LoadedRestorer] = {}
        self._detectors: dict[str, LoadedDetector] = {}
        self._lock = threading.Lock()

    def restorer(self, restorer_id: str, field: str = "restorer_id") -> LoadedRestorer:
        entry = self.catalog.restorer(restorer_id, field)
        with self._lock:
            if entry.id not in self._restorers:
                started = time.monotonic()
                descriptor = load_restorer(entry, self._placement)
                self._restorers[entry.id] = LoadedRestorer(entry, descriptor, short_hash(self._sha256(entry.source)))
                self._loaded(entry.id, started)
            return self._restorers[entry.id]

    def detector(self, detector_id: str, field: str = "detection.detector_id") -> LoadedDetector:
        entry = self.catalog.detector(detector_id, field)
        with self._lock:
            if entry.id not in self._detectors:
                started = time.monotonic()
                onnx = load_detector_bytes(entry, self._placement)
                self._detectors[entry.id] = LoadedDetector(entry, onnx, short_hash(self._sha256(entry.source)))
                self._loaded(entry.id, started)
            return self._detectors[entry.id]

    def is_loaded(self, restorer_id: str, detector_id: str) -> bool:
        return restorer_id in self._restorers and detector_id in self._detectors

    def unload(self) -> None:
        with self._lock:
            self._restorers.clear()
            self._detectors.clear()

    def _sha256(self, source: str) -> str:
        if source.startswith(BUILTIN_PREFIX):
            return tiny_face_fingerprint(source.removeprefix(BUILTIN_PREFIX))
        if source.startswith("hf://"):
            return self._hasher.file_sha256(str(_hub_file(source, source, None)))
        return self._hasher.file_sha256(str(Path(source).expanduser()))

    def _loaded(self, model_id: str, started: float) -> None:
        if self._on_load is not None:
            self._on_load(model_id, time.monotonic() - started)
