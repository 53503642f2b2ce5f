"""What a catalog source string is (builtin, folder, single file, hub repo, file in a hub repo) and how a path in a
catalog resolves. Shared by the model catalog and the adapter catalog, which both import this module (and the
adapter catalog nothing else of the model catalog's), so the two catalogs import in one direction only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from .weights_hash import PICKLE_SUFFIXES

SourceKind = Literal["builtin", "folder", "single_file", "pickle_file", "hub", "hub_file"]
SINGLE_FILE_KINDS = ("single_file", "pickle_file")  # a local checkpoint file: weights only, configs elsewhere

BUILTIN_PREFIX = "builtin:"
# One .safetensors file inside a hub repo (e.g. an ESRGAN upscaler): hf://OWNER/NAME/PATH/FILE.safetensors
HUB_FILE_PREFIX = "hf://"
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
def classify_source(source: str) -> SourceKind:
    """How a source string is loaded. Raises ValueError for something that is none of the kinds."""
    if source.startswith(BUILTIN_PREFIX):
        return "builtin"
    if is_hub_file(source):
        parse_hub_file(source)
        return "hub_file"
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    lowered = source.lower()
    if lowered.endswith(".safetensors"):
        return "single_file"
    if lowered.endswith(PICKLE_SUFFIXES):
        return "pickle_file"
    if not path.is_absolute() and HUB_REPO_ID.match(source):
        return "hub"
    raise ValueError(
        f"'{source}' is not an existing folder, a .safetensors file, a hub repo id (owner/name), "
        f"a file in a hub repo ({HUB_FILE_PREFIX}OWNER/NAME/FILE.safetensors) or '{BUILTIN_PREFIX}NAME'"
    )


def is_public_source(source: str) -> bool:
    """Whether a source may be shown to clients: a builtin or hub id, not a path on the server."""
    if source.startswith(BUILTIN_PREFIX) or is_hub_file(source):
        return True
    return not Path(source).is_absolute() and bool(HUB_REPO_ID.match(source))


def is_hub_file(source: str) -> bool:
    return source.startswith(HUB_FILE_PREFIX)


def parse_hub_file(source: str) -> tuple[str, str]:
    """`hf://owner/name/path/file.safetensors` -> ("owner/name", "path/file.safetensors")."""
    parts = source.removeprefix(HUB_FILE_PREFIX).split("/", 2)
    if len(parts) < 3 or not all(parts) or not HUB_REPO_ID.match(f"{parts[0]}/{parts[1]}") \
            or not parts[2].lower().endswith(".safetensors"):
        raise ValueError(f"'{source}' is not {HUB_FILE_PREFIX}OWNER/NAME/PATH/FILE.safetensors")
    return f"{parts[0]}/{parts[1]}", parts[2]


def resolve_source(source: str, base_dir: Path) -> str:
    """Paths relative to the catalog file become absolute; builtins and hub ids stay as written.

    "owner/name" is ambiguous: it is a path if that exists next to the catalog, else a hub repo id.
    """
    if source.startswith(BUILTIN_PREFIX):
        return source
    if is_hub_file(source):
        parse_hub_file(source)  # a malformed one stops the server at start, naming the key
        return source
    path = Path(source).expanduser()
    if path.is_absolute():
        return str(path)
    relative = base_dir / path
    names_weights_file = source.lower().endswith((".safetensors", *PICKLE_SUFFIXES))
    if HUB_REPO_ID.match(source) and not names_weights_file and not relative.exists():
        return source
    return str(relative.resolve())
