"""A model's IP-Adapters in the catalog: what a REFERENCE control unit may name (no torch here: api/ lists them).

    [models.sd15.ip_adapters.ip-adapter_sd15]
    kind = "ip-adapter"                          # or "ip-adapter-plus" (Resampler, patch embeddings)
    source = "h94/IP-Adapter"                    # a hub repo, a local folder, a .safetensors file or builtin:NAME
    subfolder = "models"                         # in a repo or folder source
    weight_name = "ip-adapter_sd15.safetensors"  # in a repo or folder source
    image_encoder = "h94/IP-Adapter"             # the CLIP vision encoder: a hub repo, a folder or builtin:NAME
    image_encoder_subfolder = "models/image_encoder"
    description = "..."

The weights are `.safetensors` only unless the server runs with --allow-pickle (then `.bin` files load with
weights_only=True). A hub source is read from the local Hugging Face cache, never downloaded while serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput, shown
from .sources import classify_source, resolve_source

IP_ADAPTER_KINDS = {"ip-adapter": "IP-Adapter", "ip-adapter-plus": "IP-Adapter Plus"}
IP_ADAPTER_KEYS = {"kind", "source", "subfolder", "weight_name", "image_encoder", "image_encoder_subfolder",
                   "description"}


@dataclass(frozen=True)
class IpAdapterEntry:
    id: str
    kind: str            # a key of IP_ADAPTER_KINDS
    source: str          # builtin:NAME, a hub repo id, a folder or a weights file (resolved to absolute paths)
    image_encoder: str   # builtin:NAME, a hub repo id or a folder
    subfolder: str = ""
    weight_name: str = ""
    image_encoder_subfolder: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.id} ({IP_ADAPTER_KINDS[self.kind]})"

    @property
    def weights_location(self) -> str:
        """Where the weights file is, for messages: the source with its subfolder and file name."""
        return "/".join(part for part in (self.source, self.subfolder, self.weight_name) if part)


def find_ip_adapter(entry, adapter_id: str, field: str) -> IpAdapterEntry:
    """The model's IP-Adapter named `adapter_id` ("" = its first). A model without any, or an unknown id, is an
    InvalidInput naming `field` and listing what exists."""
    adapters = entry.ip_adapters
    if not adapters:
        raise InvalidInput(field, f"model '{entry.id}' has no IP-Adapter, so it takes no reference units; "
                                  "GetCapabilities lists each model's reference_adapters")
    if not adapter_id:
        return next(iter(adapters.values()))
    found = adapters.get(adapter_id)
    if found is None:
        raise InvalidInput(field, f"unknown IP-Adapter '{shown(adapter_id)}' for model '{entry.id}'; it has: "
                                  f"{', '.join(adapters)}")
    return found


def parse_ip_adapters(tables, base_dir: Path, where: str) -> dict[str, IpAdapterEntry]:
    """A model's [models.X.ip_adapters.ID] tables. Mistakes are ValueErrors naming the key."""
    if not isinstance(tables, dict):
        raise ValueError(f"{where}: must be tables like [{where.split(': ')[-1]}.ip-adapter_sd15]")
    found = {}
    for adapter_id, table in tables.items():
        at = f"{where}.{adapter_id}"
        if not isinstance(table, dict):
            raise ValueError(f"{at}: must be a table with kind, source and image_encoder")
        unknown = set(table) - IP_ADAPTER_KEYS
        if unknown:
            raise ValueError(f"{at}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(IP_ADAPTER_KEYS))}")
        for key in table:
            if not isinstance(table[key], str):
                raise ValueError(f"{at}.{key}: must be a string")
        kind = table.get("kind", "")
        if kind not in IP_ADAPTER_KINDS:
            raise ValueError(f"{at}.kind: must be one of {', '.join(IP_ADAPTER_KINDS)}, got {kind!r}")
        for key in ("source", "image_encoder"):
            if not table.get(key):
                raise ValueError(f"{at}.{key}: missing; give a hub repo id, a folder or builtin:NAME")
        source = resolve_source(table["source"], base_dir)
        weight_name = table.get("weight_name", "")
        if weight_name and not weight_name.lower().endswith((".safetensors", ".bin")):
            raise ValueError(f"{at}.weight_name: must name a .safetensors (or, with --allow-pickle, .bin) file")
        if not weight_name and _needs_weight_name(source):
            raise ValueError(f"{at}.weight_name: a repo or folder source needs the weights file's name, e.g. "
                             "ip-adapter_sd15.safetensors")
        found[adapter_id] = IpAdapterEntry(
            id=adapter_id, kind=kind, source=source,
            image_encoder=resolve_source(table["image_encoder"], base_dir),
            subfolder=table.get("subfolder", ""), weight_name=weight_name,
            image_encoder_subfolder=table.get("image_encoder_subfolder", ""),
            description=table.get("description", ""),
        )
    return found


def _needs_weight_name(source: str) -> bool:
    try:
        return classify_source(source) in ("hub", "folder")
    except ValueError:
        return False  # a path that does not exist (yet): loading says so
