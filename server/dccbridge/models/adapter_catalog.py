"""Where a catalog's LoRAs, textual-inversion embeddings and VAEs are, and which a job may name.

    [families.sd15]
    loras = "loras/sd15"            # *.safetensors; id = file stem
    embeddings = "embeddings/sd15"  # *.safetensors; id = file stem = the prompt token (A1111 style)
    vaes = "vaes/sd15"              # diffusers VAE folders (config.json + weights) or single .safetensors files

    [vaes.sdxl-vae-fp16-fix]        # a VAE named explicitly: a folder, a file, a hub repo id or hf:// file
    family = "sdxl"
    source = "madebyollin/sdxl-vae-fp16-fix"

Folders are scanned whenever the list is needed (capabilities, each job's check), so files dropped in appear
without a restart. Pickle files (.ckpt/.pt/.pth/.bin) are listed only when the server allows pickle; naming one
otherwise is refused like every other pickle weight. No torch here: the api layer lists these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..domain import AdapterSpec
from ..errors import InvalidInput, ModelNotFound, ModelUnavailable, shown
from .sources import classify_source, resolve_source
from .weights_hash import PICKLE_SUFFIXES, WEIGHT_SUFFIXES

ADAPTER_KINDS = ("loras", "embeddings", "vaes")
SAFE_SUFFIX = ".safetensors"
VAE_KEYS = {"family", "source", "description"}
LORA_WEIGHT_RANGE = (-4.0, 4.0)
MAX_LORAS = 16
MAX_EMBEDDINGS = 16
# What each kind is called in messages and in ModelNotFound ("unknown LoRA 'x'; available: ...").
KIND_NAMES = {"loras": "LoRA", "embeddings": "embedding", "vaes": "VAE"}


@dataclass(frozen=True)
class AdapterFile:
    """One LoRA, embedding or VAE: `source` is a file, a diffusers folder (VAEs) or a hub repo id (explicit VAEs)."""

    id: str
    kind: str    # one of ADAPTER_KINDS
    family: str
    source: str
    description: str = ""

    @property
    def is_pickle(self) -> bool:
        """The loaders' own test (a VAE folder named like `x.pt` is a folder, not a pickle file)."""
        try:
            return classify_source(self.source) == "pickle_file"
        except ValueError:
            return False  # not loadable at all: loading it says why


@dataclass(frozen=True)
class ResolvedAdapters:
    """A job's AdapterSpec checked against the catalog: the files it names, with the LoRA weights."""

    loras: tuple[tuple[AdapterFile, float], ...] = ()
    embeddings: tuple[AdapterFile, ...] = ()
    vae: AdapterFile | None = None

    def __bool__(self) -> bool:
        return bool(self.loras or self.embeddings or self.vae)


class AdapterCatalog:
    def __init__(self, folders: dict[str, dict[str, Path]] | None = None,
                 vaes: tuple[AdapterFile, ...] | list[AdapterFile] = ()):
        self._folders = folders or {}  # family -> kind -> folder
        self._explicit_vaes = {vae.id: vae for vae in vaes}

    def families(self) -> list[str]:
        return sorted(set(self._folders) | {vae.family for vae in self._explicit_vaes.values()})

    def available(self, kind: str, family: str | None = None, allow_pickle: bool = False) -> list[AdapterFile]:
        """What jobs may name now, sorted by family and id; one family's, or every family's."""
        families = [family] if family is not None else self.families()
        found = []
        for name in families:
            folder = self._folders.get(name, {}).get(kind)
            if folder is not None:
                found.extend(_scan(folder, kind, name, allow_pickle))
        if kind == "vaes":
            scanned = {vae.id for vae in found}
            found.extend(vae for vae in self._explicit_vaes.values()
                         if vae.family in families and vae.id not in scanned and (allow_pickle or not vae.is_pickle))
        return sorted(found, key=lambda item: (item.family, item.id))

    def resolve(self, spec: AdapterSpec, family: str, allow_pickle: bool,
                field: str = "adapters") -> ResolvedAdapters:
        """The files a job's adapters name, for a model of `family`. Raises InvalidInput naming the field (bad
        weight, duplicate, another family's adapter), ModelNotFound listing the family's ids, ModelUnavailable
        for a pickle file the server may not load."""
        if not spec:
            return ResolvedAdapters()
        if len(spec.loras) > MAX_LORAS:
            raise InvalidInput(f"{field}.loras", f"at most {MAX_LORAS} LoRAs, got {len(spec.loras)}")
        if len(spec.embeddings) > MAX_EMBEDDINGS:
            raise InvalidInput(f"{field}.embeddings", f"at most {MAX_EMBEDDINGS} embeddings, got {len(spec.embeddings)}")
        loras = []
        for i, lora in enumerate(spec.loras):
            where = f"{field}.loras[{i}]"
            low, high = LORA_WEIGHT_RANGE
            if not (math.isfinite(lora.weight) and low <= lora.weight <= high):
                raise InvalidInput(f"{where}.weight", f"must be in [{low:g}, {high:g}], got {lora.weight:g}")
            if lora.id in {spec.loras[j].id for j in range(i)}:
                raise InvalidInput(f"{where}.id", f"'{shown(lora.id)}' is named twice; give each LoRA once with its "
                                                  "weight")
            loras.append((self._find("loras", lora.id, family, allow_pickle, f"{where}.id"), lora.weight))
        embeddings = []
        for i, embedding_id in enumerate(spec.embeddings):
            where = f"{field}.embeddings[{i}]"
            if embedding_id in spec.embeddings[:i]:
                raise InvalidInput(where, f"'{shown(embedding_id)}' is named twice")
            embeddings.append(self._find("embeddings", embedding_id, family, allow_pickle, where))
        vae = self._find("vaes", spec.vae_id, family, allow_pickle, f"{field}.vae_id") if spec.vae_id else None
        return ResolvedAdapters(tuple(loras), tuple(embeddings), vae)

    def _find(self, kind: str, adapter_id: str, family: str, allow_pickle: bool, field: str) -> AdapterFile:
        # Pickle files are looked up too, so that naming one is refused as pickle rather than "unknown".
        candidates = {item.id: item for item in self.available(kind, family, allow_pickle=True)}
        found = candidates.get(adapter_id)
        if found is None:
            elsewhere = [item.family for item in self.available(kind, allow_pickle=True) if item.id == adapter_id]
            if elsewhere:
                raise InvalidInput(field, f"{KIND_NAMES[kind]} '{shown(adapter_id)}' is for {' and '.join(elsewhere)} "
                                          f"models; this job's model is family '{family}'")
            loadable = [item.id for item in candidates.values() if allow_pickle or not item.is_pickle]
            raise ModelNotFound(adapter_id, loadable, kind=f"{family} {KIND_NAMES[kind]}", field=field)
        if found.is_pickle and not allow_pickle:
            raise ModelUnavailable(
                f"{KIND_NAMES[kind]} '{adapter_id}': '{found.source}' is a pickle file (.ckpt/.pt/.pth/.bin); these "
                "can run code when loaded. Convert it to .safetensors, or start the server with --allow-pickle to "
                "load it with weights_only=True"
            )
        return found


def _scan(folder: Path, kind: str, family: str, allow_pickle: bool) -> list[AdapterFile]:
    """A folder's weight files (and, for VAEs, diffusers VAE folders); missing folders are empty."""
    if not folder.is_dir():
        return []
    suffixes = WEIGHT_SUFFIXES if allow_pickle else (SAFE_SUFFIX,)
    found = {}
    # Pickle files last: where a stem has both a .safetensors and a pickle file, the id is the safe file.
    for path in sorted(folder.iterdir(), key=lambda path: (path.name.lower().endswith(PICKLE_SUFFIXES), path.name)):
        if path.is_file() and path.name.lower().endswith(suffixes) and not path.name.startswith("."):
            found.setdefault(path.stem, AdapterFile(path.stem, kind, family, str(path)))
        elif kind == "vaes" and path.is_dir() and (path / "config.json").is_file():
            found.setdefault(path.name, AdapterFile(path.name, kind, family, str(path)))
    return list(found.values())


def parse_adapter_tables(document: dict, base_dir: Path, origin: str) -> AdapterCatalog:
    """[families.FAMILY] folder tables and [vaes.ID] tables of a catalog document."""
    families = document.get("families", {})
    if not isinstance(families, dict):
        raise ValueError(f"{origin}: 'families' must be tables like [families.sd15]")
    folders: dict[str, dict[str, Path]] = {}
    for family, table in families.items():
        where = f"{origin}: families.{family}"
        if not isinstance(table, dict):
            raise ValueError(f"{where}: must be a table of {', '.join(ADAPTER_KINDS)} folders")
        unknown = set(table) - set(ADAPTER_KINDS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(ADAPTER_KINDS)}")
        for kind, folder in table.items():
            if not isinstance(folder, str) or not folder:
                raise ValueError(f"{where}.{kind}: must be a folder path")
            path = Path(folder).expanduser()
            folders.setdefault(family, {})[kind] = path if path.is_absolute() else (base_dir / path).resolve()
    vae_tables = document.get("vaes", {})
    if not isinstance(vae_tables, dict):
        raise ValueError(f"{origin}: 'vaes' must be tables like [vaes.my-vae]")
    vaes = []
    for vae_id, table in vae_tables.items():
        where = f"{origin}: vaes.{vae_id}"
        if not isinstance(table, dict):
            raise ValueError(f"{where}: must be a table with family and source")
        unknown = set(table) - VAE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(VAE_KEYS))}")
        for key in ("family", "source"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise ValueError(f"{where}.{key}: must be a non-empty string")
        description = table.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}.description: must be a string")
        vaes.append(AdapterFile(vae_id, "vaes", table["family"], resolve_source(table["source"], base_dir),
                                description))
    return AdapterCatalog(folders, vaes)
