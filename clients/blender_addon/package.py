"""Build the Blender add-on's two zips into clients/blender_addon/dist/:

  dccbridge_blender-<version>.zip            legacy add-on (Blender 3.4+: Preferences → Add-ons → Install…):
                                             the package folder with bl_info; grpcio/protobuf/numpy come from a
                                             folder set in the preferences (or $DCCBRIDGE_BLENDER_DEPS, or a
                                             _vendor/ folder: --vendor fills it for this machine's platform).
  dccbridge_blender-<version>-extension.zip  Blender 4.2+ extension: blender_manifest.toml + the package at the
                                             zip root + wheels/ (grpcio, protobuf, numpy, typing-extensions for
                                             CPython 3.11) listed in the manifest, for the platforms fetched.

    python clients/blender_addon/package.py                      # both zips, wheels for every platform
    python clients/blender_addon/package.py --no-wheels          # extension without wheels (offline; tests)
    python clients/blender_addon/package.py --platform linux-x64 # wheels for one platform

The vendored gRPC stubs are regenerated from protos/ first when grpc_tools is importable (--check-stubs only
checks). Wheels are cached in dist/wheels/<platform>/.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE / "dccbridge_blender"
DIST = HERE / "dist"
REQUIREMENTS = ("grpcio>=1.85.1", "protobuf>=7.35.1", "numpy")
# Blender extension platform -> pip --platform tags (CPython 3.11 is what Blender 4.1+ embeds).
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "linux-arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_11_0_arm64"),
    "macos-x64": ("macosx_10_15_x86_64", "macosx_10_14_x86_64", "macosx_10_9_x86_64"),
    "windows-x64": ("win_amd64",),
}
SKIP = ("__pycache__", ".pyc", "_vendor")


def version() -> str:
    match = re.search(r'"version":\s*\((\d+),\s*(\d+),\s*(\d+)\)', (PACKAGE / "__init__.py").read_text())
    return ".".join(match.groups())


def package_files():
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_dir() or any(part in SKIP or part.endswith(".pyc") for part in rel.parts):
            continue
        if rel.name == "blender_manifest.toml":
            continue
        yield path, rel


def refresh_stubs(check_only: bool) -> None:
    sys.path.insert(0, str(HERE / "tools"))
    try:
        import gen_stubs
    except ImportError:
        return
    try:
        expected = gen_stubs.generate()
    except ImportError:
        print("grpc_tools not installed: using the committed stubs")
        return
    stale = gen_stubs.stale(expected)
    if stale and check_only:
        sys.exit("stale vendored stubs: " + ", ".join(stale) + "; run tools/gen_stubs.py")
    if stale:
        gen_stubs.write(expected)
        print("regenerated stubs: " + ", ".join(stale))


def download_wheels(platform: str, requirements=REQUIREMENTS) -> list[pathlib.Path]:
    target = DIST / "wheels" / platform
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--python-version", "3.11",
           "--implementation", "cp", "--dest", str(target), "--quiet"]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    subprocess.run(cmd + list(requirements), check=True)
    return sorted(target.glob("*.whl"))


def build_legacy(out: pathlib.Path, vendor: pathlib.Path | None = None) -> pathlib.Path:
    path = out / f"dccbridge_blender-{version()}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file, rel in package_files():
            zf.write(file, f"dccbridge_blender/{rel.as_posix()}")
        if vendor is not None:
            for file in sorted(vendor.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    zf.write(file, f"dccbridge_blender/_vendor/{file.relative_to(vendor).as_posix()}")
    return path


def manifest(wheels: list[str], platforms: list[str]) -> str:
    text = (PACKAGE / "blender_manifest.toml").read_text()
    text = re.sub(r'^version = ".*"$', f'version = "{version()}"', text, flags=re.M)
    text = re.sub(r"^# package\.py fills in.*\n# wheels = \[\.\.\.\]\n?", "", text, flags=re.M)
    extra = ""
    if platforms:
        extra += "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]\n"
    if wheels:
        extra += "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]\n"
    # Top-level keys must come before the first [table].
    head, sep, tail = text.partition("[permissions]")
    return head.rstrip("\n") + "\n" + extra + "\n" + sep + tail


def build_extension(out: pathlib.Path, wheel_paths: list[pathlib.Path], platforms: list[str]) -> pathlib.Path:
    path = out / f"dccbridge_blender-{version()}-extension.zip"
    unique = {w.name: w for w in wheel_paths}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("blender_manifest.toml", manifest(sorted(unique), platforms))
        for file, rel in package_files():
            zf.write(file, rel.as_posix())
        for name, wheel in sorted(unique.items()):
            zf.write(wheel, f"wheels/{name}", compress_type=zipfile.ZIP_STORED)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=DIST)
    parser.add_argument("--no-wheels", action="store_true", help="extension zip without bundled wheels")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="wheel platform(s) for the extension (default: all)")
    parser.add_argument("--no-numpy", action="store_true",
                        help="leave numpy out of the extension (Blender 4.2+ ships its own)")
    parser.add_argument("--vendor", type=pathlib.Path, default=None,
                        help="a folder of installed packages (pip install --target) to put in the legacy zip's _vendor/")
    parser.add_argument("--check-stubs", action="store_true", help="fail instead of regenerating stale stubs")
    args = parser.parse_args(argv)
    refresh_stubs(args.check_stubs)
    args.out.mkdir(parents=True, exist_ok=True)
    legacy = build_legacy(args.out, args.vendor)
    print(f"legacy add-on: {legacy} ({legacy.stat().st_size // 1024} KiB)")
    wheels, platforms = [], []
    if not args.no_wheels:
        requirements = [r for r in REQUIREMENTS if not (args.no_numpy and r.startswith("numpy"))]
        for platform in args.platform or sorted(PLATFORMS):
            try:
                wheels += download_wheels(platform, requirements)
                platforms.append(platform)
            except subprocess.CalledProcessError as error:
                print(f"warning: no wheels for {platform} ({error}); left out of the extension", file=sys.stderr)
    extension = build_extension(args.out, wheels, platforms)
    print(f"extension: {extension} ({extension.stat().st_size // 1024} KiB; {len(set(w.name for w in wheels))} wheels"
          f" for {', '.join(platforms) or 'no platform'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
