"""Write the .meta files the Unity package needs (a package installed by git URL is immutable: Unity ignores
assets without a .meta). GUIDs are derived from the package path, so re-running changes nothing.

    python tests/unity/make_meta.py          # write missing .meta files
    python tests/unity/make_meta.py --check  # exit 1 and list what is missing or stale
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "unity"
TAIL = "  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
IMPORTERS = {
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
           "  icon: {instanceID: 0}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
    ".asmdef": "AssemblyDefinitionImporter:\n" + TAIL,
    ".shader": "ShaderImporter:\n  externalObjects: {}\n  defaultTextures: []\n  nonModifiableTextures: []\n"
               "  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
    ".md": "TextScriptImporter:\n" + TAIL,
    ".json": "TextScriptImporter:\n" + TAIL,
}
FOLDER = "folderAsset: yes\nDefaultImporter:\n" + TAIL


def assets(root: Path = PACKAGE) -> list[Path]:
    """Files and folders Unity imports: not hidden, not in a `~` folder, not .meta files, not the root."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p.endswith("~") for p in parts) or path.suffix == ".meta":
            continue
        found.append(path)
    return found


def expected_meta(path: Path) -> str:
    rel = path.relative_to(PACKAGE).as_posix()
    guid = hashlib.md5(f"com.dccbridge.unity/{rel}".encode()).hexdigest()
    if path.is_dir():
        body = FOLDER
    elif path.name == "package.json":
        body = "PackageManifestImporter:\n" + TAIL
    else:
        body = IMPORTERS.get(path.suffix, "DefaultImporter:\n" + TAIL)
    return f"fileFormatVersion: 2\nguid: {guid}\n{body}"


def problems() -> list[str]:
    out = []
    for path in assets():
        meta = path.with_name(path.name + ".meta")
        if not meta.exists():
            out.append(f"missing {meta.relative_to(PACKAGE)}")
        elif "guid: " not in meta.read_text():
            out.append(f"no guid in {meta.relative_to(PACKAGE)}")
    for meta in PACKAGE.rglob("*.meta"):
        if not meta.with_name(meta.name[:-5]).exists():
            out.append(f"orphan {meta.relative_to(PACKAGE)}")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        print("\n".join(found) or "all .meta files present")
        return 1 if found else 0
    for path in assets():
        meta = path.with_name(path.name + ".meta")
        if not meta.exists():
            meta.write_text(expected_meta(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
