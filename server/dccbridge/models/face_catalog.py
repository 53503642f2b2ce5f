"""Face restorers and face detectors a catalog names (docs/face-restoration.md).

    [restorers.gfpgan-v1.4]             # a spandrel FaceSR model: GFPGAN, CodeFormer, RestoreFormer(++)
    source = "~/.cache/dccbridge/faces/GFPGANv1.4.safetensors"
    license = "Apache-2.0"
    commercial_use = true
    description = "GFPGAN v1.4"
    face_size = 512                     # side of the aligned square face it restores (default 512)

    [face_detectors.yunet]              # OpenCV's FaceDetectorYN: a YuNet .onnx file
    source = "~/.cache/dccbridge/faces/face_detection_yunet_2023mar.onnx"
    license = "MIT"
    commercial_use = true

The first table of each kind is the default unless one says `default = true`. No torch here: the api layer lists
these in GetCapabilities with their licences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelNotFound
from .sources import resolve_source

FACE_TABLES = ("restorers", "face_detectors")  # the catalog document keys this module reads
RESTORER_KEYS = {"source", "description", "license", "commercial_use", "face_size", "default", "architecture"}
DETECTOR_KEYS = {"source", "description", "license", "commercial_use", "default"}
MIN_FACE_SIZE, MAX_FACE_SIZE = 64, 1024


@dataclass(frozen=True)
class RestorerEntry:
    id: str
    source: str          # "builtin:NAME", a .safetensors (or, with --allow-pickle, .pth) file, or hf://.../x.safetensors
    license: str
    commercial_use: bool
    description: str = ""
    face_size: int = 512
    # What the catalog says it is ("GFPGAN", "CodeFormer", "RestoreFormer"); spandrel's detection on load decides.
    architecture: str = ""


@dataclass(frozen=True)
class FaceDetectorEntry:
    id: str
    source: str          # "builtin:NAME" or a YuNet .onnx file
    license: str
    commercial_use: bool
    description: str = ""
    architecture: str = "yunet"


@dataclass
class FaceCatalog:
    restorers: dict[str, RestorerEntry] = field(default_factory=dict)
    detectors: dict[str, FaceDetectorEntry] = field(default_factory=dict)
    default_restorer: str = ""
    default_detector: str = ""

    def restorer(self, restorer_id: str, field_name: str = "restorer_id") -> RestorerEntry:
        """The entry for an id; "" = the default. Unknown: ModelNotFound listing the restorers."""
        entry = self.restorers.get(restorer_id or self.default_restorer)
        if entry is None:
            raise ModelNotFound(restorer_id, list(self.restorers), kind="face restorer", field=field_name)
        return entry

    def detector(self, detector_id: str, field_name: str = "detection.detector_id") -> FaceDetectorEntry:
        entry = self.detectors.get(detector_id or self.default_detector)
        if entry is None:
            raise ModelNotFound(detector_id, list(self.detectors), kind="face detector", field=field_name)
        return entry


def parse_face_tables(document: dict, base_dir: Path, origin: str) -> FaceCatalog:
    """[restorers.ID] and [face_detectors.ID] tables of a catalog document."""
    restorers = {
        rid: RestorerEntry(
            id=rid,
            source=resolve_source(_text(t, "source", where), base_dir),
            license=_text(t, "license", where),
            commercial_use=_flag(t, "commercial_use", where),
            description=_text(t, "description", where, ""),
            face_size=_face_size(t, where),
            architecture=_text(t, "architecture", where, ""),
        )
        for rid, t, where in _tables(document, "restorers", RESTORER_KEYS, origin)
    }
    detectors = {
        did: FaceDetectorEntry(
            id=did,
            source=resolve_source(_text(t, "source", where), base_dir),
            license=_text(t, "license", where),
            commercial_use=_flag(t, "commercial_use", where),
            description=_text(t, "description", where, ""),
        )
        for did, t, where in _tables(document, "face_detectors", DETECTOR_KEYS, origin)
    }
    return FaceCatalog(restorers, detectors, _default(document, "restorers", origin),
                       _default(document, "face_detectors", origin))


def _tables(document: dict, key: str, allowed: set[str], origin: str):
    tables = document.get(key, {})
    if not isinstance(tables, dict):
        raise ValueError(f"{origin}: '{key}' must be tables like [{key}.my-id]")
    for table_id, table in tables.items():
        where = f"{origin}: {key}.{table_id}"
        if not isinstance(table, dict):
            raise ValueError(f"{where}: must be a table with a source and a license")
        unknown = set(table) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
        _flag(table, "default", where, False)
        yield table_id, table, where


def _default(document: dict, key: str, origin: str) -> str:
    tables = document.get(key, {})
    marked = [table_id for table_id, table in tables.items() if table.get("default") is True]
    if len(marked) > 1:
        raise ValueError(f"{origin}: more than one of [{key}.*] says default = true: {', '.join(marked)}")
    return marked[0] if marked else next(iter(tables), "")


def _text(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise ValueError(f"{where}.{key}: is required")
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: must be a string, got {value!r}")
    return value


def _flag(table: dict, key: str, where: str, default: bool | None = None) -> bool:
    value = table.get(key, default)
    if value is None:
        raise ValueError(f"{where}.{key}: is required (true or false): may the weights be used commercially?")
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def _face_size(table: dict, where: str) -> int:
    value = table.get("face_size", 512)
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_FACE_SIZE <= value <= MAX_FACE_SIZE \
            or value % 32:
        raise ValueError(f"{where}.face_size: must be a multiple of 32 between {MIN_FACE_SIZE} and "
                         f"{MAX_FACE_SIZE}, got {value!r}")
    return value
