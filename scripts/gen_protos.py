"""Generate the Python stubs for protos/dccbridge/v1 into server/ (or --out DIR): messages (*_pb2),
gRPC (*_pb2_grpc) and Connect / gRPC-Web (*_connect, served by connectrpc) side by side.

Run after editing a .proto:  python scripts/gen_protos.py
tests/test_contract.py fails when the committed stubs are stale.
"""

import argparse
import os
import pathlib
import shutil
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "dccbridge" / "v1").glob("*.proto"))


def connect_plugin() -> str:
    """protoc-gen-connectrpc from this interpreter's environment first (a venv need not be on PATH)."""
    search = os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])
    plugin = shutil.which("protoc-gen-connectrpc", path=search)
    if plugin is None:
        sys.exit("protoc-gen-connectrpc not found; install the dev extra: pip install -e .[dev]")
    return plugin


def generate(out: pathlib.Path) -> None:
    import grpc_tools

    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-connectrpc={connect_plugin()}",
        f"--connectrpc_out={out}",
        "--connectrpc_opt=protobuf=google",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "server")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
