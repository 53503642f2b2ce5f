"""`dccbridge restore-faces IMAGE`: restore the faces of an image on a server; and the `--restore-faces` flags
that generate and upscale share (the finishing step). docs/face-restoration.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import DEFAULT_SERVER, connect, connection_flags, follow


def restore_faces_flags(p, finishing: bool = True) -> None:
    """Flags of the face restoration step; with finishing, --restore-faces switches it on."""
    if finishing:
        p.add_argument("--restore-faces", action="store_true", help="restore faces in the result (finishing step)")
    prefix = "face-" if finishing else ""
    p.add_argument(f"--{prefix}restorer", default="", help="restorer id (default: the server's default)")
    p.add_argument(f"--{prefix}strength", type=float, help="share of the restored face, 0..1 (default 1)")
    p.add_argument(f"--{prefix}fidelity", type=float, help="CodeFormer's fidelity weight w, 0..1 (default 0.5)")
    p.add_argument("--face-threshold", type=float, help="minimum detector score, 0..1 (default 0.5)")
    p.add_argument("--max-faces", type=int, help="at most this many faces, largest first (default 16)")
    p.add_argument("--face-detector", default="", help="face detector id (default: the server's default)")


def restoration_from_args(args):
    """The FaceRestoration option for a generate/upscale task, or None without --restore-faces."""
    if not getattr(args, "restore_faces", False):
        return None
    from ..client import face_restoration

    return face_restoration(args.face_restorer, strength=args.face_strength, fidelity=args.face_fidelity,
                            detector_id=args.face_detector, threshold=args.face_threshold, max_faces=args.max_faces)


def add_parser(commands) -> None:
    p = commands.add_parser("restore-faces", help="restore the faces of an image (GFPGAN / CodeFormer / "
                                                  "RestoreFormer), on a server")
    p.add_argument("image", type=Path, help="the image (PNG, JPEG or WebP)")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    restore_faces_flags(p, finishing=False)
    p.add_argument("-o", "--output", type=Path, help="output PNG (default: IMAGE-restored.png)")
    p.set_defaults(handler=run)


def run(args) -> int:
    import grpc

    from ..client import restore_faces_task
    from ..v1 import jobs_pb2

    task = restore_faces_task(args.image, args.restorer, strength=args.strength, fidelity=args.fidelity,
                              detector_id=args.face_detector, threshold=args.face_threshold,
                              max_faces=args.max_faces)
    output = args.output or args.image.with_name(f"{args.image.stem}-restored.png")
    found = []

    def tap(events):  # keep the result's face count to print it
        for event in events:
            if event.WhichOneof("event") == "result" and event.result.extra_json:
                found.append(json.loads(event.result.extra_json))
            yield event

    with connect(args, client_name="cli") as client:
        try:
            code = follow(tap(client.run(task, jobs_pb2.JobOptions(label="cli"))), output, "restore-faces")
        except grpc.RpcError as error:
            print(f"dccbridge restore-faces: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    if code == 0 and found:
        info = found[0]
        count = info.get("faces", 0)
        print(f"{count} face{'' if count == 1 else 's'} restored with {info.get('restorer_id', '?')}"
              + (f" ({info['notice']}: the image is unchanged)" if info.get("notice") else ""))
    return code
