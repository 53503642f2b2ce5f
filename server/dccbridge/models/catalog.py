"""The model catalog: which model ids exist, where their weights are, and their generation defaults.

Read from a TOML file the operator writes (or a built-in preset). Mistakes in it are ValueErrors that name
the file and the key, raised at startup rather than at the first request.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..domain import ControlType
from ..errors import ModelNotFound
from .adapter_catalog import AdapterCatalog, parse_adapter_tables
from .ip_adapter_catalog import IpAdapterEntry, parse_ip_adapters
from .face_catalog import FACE_TABLES, FaceCatalog, parse_face_tables
from .profile import parse_profile_table
from .schedulers import SCHEDULERS
from .sources import (  # noqa: F401 - re-exported: loading, hub and the CLI read them from here
    BUILTIN_PREFIX,
    HUB_FILE_PREFIX,
    HUB_REPO_ID,
    SINGLE_FILE_KINDS,
    PICKLE_SUFFIXES,
    SourceKind,
    classify_source,
    is_hub_file,
    is_public_source,
    parse_hub_file,
    resolve_source,
)

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class FamilyDefaults:
    width: int
    height: int
    steps: int
    guidance_scale: float
    scheduler: str


# Families other than sd15 are stored so catalogs can name them, but only sd15 loads today.
FAMILY_DEFAULTS = {
    "sd15": FamilyDefaults(512, 512, 20, 7.5, "unipc"),
    "sd2-depth": FamilyDefaults(512, 512, 20, 7.5, "unipc"),
    "sdxl": FamilyDefaults(1024, 1024, 30, 5.0, "dpmpp_2m_karras"),
}
FALLBACK_DEFAULTS = FAMILY_DEFAULTS["sd15"]
# Single-file checkpoints carry weights only; the component configs come from this diffusers repo.
FAMILY_REFERENCE_REPOS = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
}

MODEL_KEYS = {
    "family", "source", "config", "description", "controlnets", "default_width", "default_height",
    "default_steps", "default_guidance_scale", "default_scheduler", "variant", "inpainting", "inpaint_model",
    "preview_vae", "profile", "fp16_vae", "ip_adapters",
}

# What an [upscalers.ID] table's `kind` selects: a spandrel-loaded single-image SR model (ESRGAN family),
# or a diffusers StableDiffusionUpscalePipeline (SD x4).
UPSCALER_KINDS = ("esrgan", "sd_x4")
UPSCALER_KEYS = {"kind", "source", "description"}
# [estimators.KIND] tables: the weights behind server-side preprocessors (a transformers depth model, or a folder
# of controlnet_aux annotator files).
ESTIMATOR_KINDS = ("depth", "openpose", "lineart", "softedge")
ESTIMATOR_KEYS = {"source"}


@dataclass(frozen=True)
class ModelEntry:
    id: str
    family: str
    source: str  # "builtin:NAME", an absolute path, or a hub repo id
    description: str = ""
    controlnets: dict[ControlType, str] = field(default_factory=dict)
    default_width: int = 512
    default_height: int = 512
    default_steps: int = 20
    default_guidance_scale: float = 7.5
    default_scheduler: str = "unipc"
    # For single .safetensors files: a local diffusers folder (or cached hub id) whose configs describe the
    # components. Empty: the family's reference repo in the local Hugging Face cache.
    config: str = ""
    # Folders and hub repos: the weights variant to load, e.g. "fp16" for diffusion_pytorch_model.fp16.safetensors.
    variant: str = ""
    # A 9-channel inpainting checkpoint (its UNet also sees the mask and the masked image): it runs inpaint and
    # outpaint only.
    inpainting: bool = False
    # The id of the catalog's inpainting model of this model's family that outpaint (and nothing else) uses in
    # this model's place; empty: outpaint runs this model's own inpaint view with the mask.
    inpaint_model: str = ""

    def check_controlnet_id(self, control_type: ControlType, controlnet_id: str, field: str) -> None:
        """A request's controlnet_id for this model's ControlNet of a type: empty, the type's name ("depth") or
        the catalog source. A local path is accepted when sent but never listed (clients never see host paths).
        Anything else is ModelNotFound naming `field`."""
        source = self.controlnets.get(control_type)
        if not controlnet_id or source is None or controlnet_id in (control_type.value, source):
            return
        public = [control_type.value] + ([source] if is_public_source(source) else [])
        raise ModelNotFound(controlnet_id, public, kind=f"{control_type.value} ControlNet", field=field)
    # A TAESD (AutoencoderTiny) that decodes step previews; "" = the linear latent map (models/preview_decoder.py).
    preview_vae: str = ""
    # This model's switches of the execution profile (models/profile.py PROFILE_KEYS), e.g. {"compile": False}.
    profile: dict = field(default_factory=dict)
    # A VAE id (the catalog's [vaes.*] or VAE folder) the model decodes with when it runs in float16, e.g. SDXL's
    # sdxl-vae-fp16-fix: SDXL's own VAE overflows in float16 and diffusers then decodes in float32 (slower).
    fp16_vae: str = ""
    # IP-Adapters for REFERENCE control units, by id, in catalog order (the first is the default).
    ip_adapters: dict[str, IpAdapterEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class UpscalerEntry:
    id: str
    kind: str    # one of UPSCALER_KINDS
    source: str  # "builtin:NAME", an absolute path, or a hub repo id
    description: str = ""


def single_file_config(entry: ModelEntry) -> str:
    """Where a single-file model's component configs come from: its `config` (a folder or a hub repo id), else its
    family's reference repo; "" for a family without one."""
    return entry.config or FAMILY_REFERENCE_REPOS.get(entry.family, "")


class Catalog:
    def __init__(self, entries: list[ModelEntry], default_id: str = "", origin: str = "<catalog>",
                 upscalers: tuple[UpscalerEntry, ...] | list[UpscalerEntry] = (),
                 estimators: dict[str, str] | None = None, adapters: AdapterCatalog | None = None,
                 faces: FaceCatalog | None = None):
        if not entries:
            raise ValueError(f"{origin}: the catalog has no models; add a [models.NAME] table")
        self._entries = {entry.id: entry for entry in entries}
        self.default_id = default_id or entries[0].id
        if self.default_id not in self._entries:
            raise ValueError(
                f"{origin}: default = '{self.default_id}' is not one of the models: {', '.join(self._entries)}"
            )
        for entry in entries:
            _check_inpaint_model(entry, self._entries, f"{origin}: models.{entry.id}.inpaint_model")
        self.origin = origin
        self._upscalers = {entry.id: entry for entry in upscalers}
        self.estimators: dict[str, str] = dict(estimators or {})  # kind (ESTIMATOR_KINDS) -> source
        self.adapters = adapters or AdapterCatalog()  # LoRAs, embeddings and VAEs per family
        self.faces = faces or FaceCatalog()  # face restorers and detectors (face_catalog.py)

    @classmethod
    def from_toml(cls, path: str | Path) -> Catalog:
        path = Path(path)
        try:
            with path.open("rb") as file:
                document = tomllib.load(file)
        except OSError as error:
            raise ValueError(f"{path}: cannot read the catalog ({error.strerror or error})") from error
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not valid TOML: {error}") from error
        return cls.from_dict(document, base_dir=path.parent, origin=str(path))

    @classmethod
    def preset(cls, name: str) -> Catalog:
        preset_file = PRESETS_DIR / f"{name}.toml"
        if not preset_file.is_file():
            available = sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))
            raise ValueError(f"unknown catalog preset '{name}'; available: {', '.join(available)}")
        return cls.from_toml(preset_file)

    @classmethod
    def from_dict(cls, document: dict, base_dir: Path, origin: str) -> Catalog:
        unknown = set(document) - {"default", "models", "upscalers", "estimators", "families", "vaes", *FACE_TABLES}
        if unknown:
            raise ValueError(f"{origin}: unknown top-level key(s) {sorted(unknown)}; expected 'default', [models.*], "
                             "[upscalers.*], [estimators.*], [families.*], [vaes.*], [restorers.*] and "
                             "[face_detectors.*]")
        default_id = document.get("default", "")
        if not isinstance(default_id, str):
            raise ValueError(f"{origin}: 'default' must be a model id string")
        models = document.get("models", {})
        if not isinstance(models, dict):
            raise ValueError(f"{origin}: 'models' must be tables like [models.my-model]")
        entries = [_parse_entry(model_id, table, base_dir, f"{origin}: models.{model_id}")
                   for model_id, table in models.items()]
        upscaler_tables = document.get("upscalers", {})
        if not isinstance(upscaler_tables, dict):
            raise ValueError(f"{origin}: 'upscalers' must be tables like [upscalers.my-upscaler]")
        upscalers = [_parse_upscaler(upscaler_id, table, base_dir, f"{origin}: upscalers.{upscaler_id}")
                     for upscaler_id, table in upscaler_tables.items()]
        estimators = _parse_estimators(document.get("estimators", {}), base_dir, f"{origin}: estimators")
        adapters = parse_adapter_tables(document, base_dir, origin)
        faces = parse_face_tables(document, base_dir, origin)
        return cls(entries, default_id, origin, upscalers, estimators, adapters, faces)

    def ids(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def get(self, model_id: str, field: str = "model_id") -> ModelEntry:
        """The entry for an id; "" means the default model. An unknown id is ModelNotFound naming `field`."""
        entry = self._entries.get(model_id or self.default_id)
        if entry is None:
            raise ModelNotFound(model_id, self.ids(), field=field)
        return entry

    def upscalers(self) -> list[UpscalerEntry]:
        return list(self._upscalers.values())

    def upscaler(self, upscaler_id: str, field: str = "upscaler_id") -> UpscalerEntry:
        entry = self._upscalers.get(upscaler_id)
        if entry is None:
            raise ModelNotFound(upscaler_id, list(self._upscalers), kind="upscaler", field=field)
        return entry


def _parse_entry(model_id: str, table, base_dir: Path, where: str) -> ModelEntry:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table")
    unknown = set(table) - MODEL_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(MODEL_KEYS))}")
    if "source" not in table:
        raise ValueError(f"{where}.source: missing; give a folder, a .safetensors file, a hub id or builtin:NAME")
    family = _string(table, "family", where, default="sd15")
    defaults = FAMILY_DEFAULTS.get(family, FALLBACK_DEFAULTS)
    scheduler = _string(table, "default_scheduler", where, default=defaults.scheduler)
    if scheduler not in SCHEDULERS:
        raise ValueError(f"{where}.default_scheduler: unknown scheduler '{scheduler}'; choose one of: "
                         f"{', '.join(SCHEDULERS)}")
    config = _string(table, "config", where, default="")
    preview_vae = _string(table, "preview_vae", where, default="")
    return ModelEntry(
        id=model_id,
        family=family,
        source=resolve_source(_string(table, "source", where), base_dir),
        description=_string(table, "description", where, default=""),
        controlnets=_parse_controlnets(table.get("controlnets", {}), base_dir, f"{where}.controlnets"),
        default_width=_size(table, "default_width", where, defaults.width),
        default_height=_size(table, "default_height", where, defaults.height),
        default_steps=_positive_int(table, "default_steps", where, defaults.steps),
        default_guidance_scale=_number(table, "default_guidance_scale", where, defaults.guidance_scale),
        default_scheduler=scheduler,
        config=resolve_source(config, base_dir) if config else "",
        variant=_string(table, "variant", where, default=""),
        inpainting=_bool(table, "inpainting", where, default=False),
        inpaint_model=_string(table, "inpaint_model", where, default=""),
        preview_vae=resolve_source(preview_vae, base_dir) if preview_vae else "",
        profile=parse_profile_table(table.get("profile", {}), f"{where}.profile"),
        fp16_vae=_string(table, "fp16_vae", where, default=""),
        ip_adapters=parse_ip_adapters(table.get("ip_adapters", {}), base_dir, f"{where}.ip_adapters"),
    )


def _check_inpaint_model(entry: ModelEntry, entries: dict[str, ModelEntry], where: str) -> None:
    """An entry's inpaint_model must be another catalog model, of the same family, marked inpainting = true."""
    if not entry.inpaint_model:
        return
    target = entries.get(entry.inpaint_model)
    if target is None:
        raise ValueError(f"{where}: '{entry.inpaint_model}' is not one of the models: {', '.join(entries)}")
    if not target.inpainting:
        raise ValueError(f"{where}: model '{target.id}' is not an inpainting model; mark it inpainting = true")
    if target.family != entry.family:
        raise ValueError(f"{where}: model '{target.id}' is family '{target.family}', not '{entry.family}'")


def _parse_upscaler(upscaler_id: str, table, base_dir: Path, where: str) -> UpscalerEntry:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table")
    unknown = set(table) - UPSCALER_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(UPSCALER_KEYS))}")
    kind = table.get("kind")
    if kind not in UPSCALER_KINDS:
        raise ValueError(f"{where}.kind: must be one of {', '.join(UPSCALER_KINDS)}, got {kind!r}")
    return UpscalerEntry(
        id=upscaler_id,
        kind=kind,
        source=resolve_source(_string(table, "source", where), base_dir),
        description=_string(table, "description", where, default=""),
    )


def _parse_estimators(tables, base_dir: Path, where: str) -> dict[str, str]:
    if not isinstance(tables, dict):
        raise ValueError(f"{where}: must be tables like [estimators.depth]")
    estimators = {}
    for kind, table in tables.items():
        if kind not in ESTIMATOR_KINDS:
            raise ValueError(f"{where}.{kind}: unknown estimator kind; choose from: {', '.join(ESTIMATOR_KINDS)}")
        if not isinstance(table, dict):
            raise ValueError(f"{where}.{kind}: must be a table with a source")
        unknown = set(table) - ESTIMATOR_KEYS
        if unknown:
            raise ValueError(f"{where}.{kind}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(ESTIMATOR_KEYS)}")
        estimators[kind] = resolve_source(_string(table, "source", f"{where}.{kind}"), base_dir)
    return estimators


def _parse_controlnets(table, base_dir: Path, where: str) -> dict[ControlType, str]:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table of control type = source")
    controlnets = {}
    for name, source in table.items():
        try:
            control_type = ControlType(name)
        except ValueError:
            raise ValueError(f"{where}.{name}: unknown control type; choose from: "
                             f"{', '.join(t.value for t in ControlType)}") from None
        if control_type is ControlType.REFERENCE:
            raise ValueError(f"{where}.{name}: reference units use IP-Adapters, not a ControlNet; list them as "
                             f"[{where.split(': ')[-1].removesuffix('.controlnets')}.ip_adapters.ID] tables")
        if not isinstance(source, str) or not source:
            raise ValueError(f"{where}.{name}: must be a source string")
        controlnets[control_type] = resolve_source(source, base_dir)
    return controlnets


def _string(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ValueError(f"{where}.{key}: must be a non-empty string")
    return value


def _bool(table: dict, key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def _positive_int(table: dict, key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}.{key}: must be a positive integer, got {value!r}")
    return value


def _size(table: dict, key: str, where: str, default: int) -> int:
    value = _positive_int(table, key, where, default)
    if value % 8:
        raise ValueError(f"{where}.{key}: must be a multiple of 8, got {value}")
    return value


def _number(table: dict, key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}.{key}: must be a number >= 0, got {value!r}")
    return float(value)
