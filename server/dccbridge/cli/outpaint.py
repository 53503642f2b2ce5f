"""`dccbridge outpaint`: extend an image by margins or to an aspect ratio, on a server (the shared flags and the result
writer are in cli/common.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    DEFAULT_SERVER, adapter_flags, adapters_from_args, connect, connection_flags, follow, sampling_from_args,
)

FILLS = ("edge", "telea", "ns")
ANCHORS = ("center", "top_left", "top", "top_right", "left", "right", "bottom_left", "bottom", "bottom_right")


def parse_margins(text: str) -> tuple[int, int, int, int]:
    """'L,T,R,B' pixels, or one number for all four sides. Negative numbers pass: the server names the side."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not L,T,R,B (integers) or one integer") from None
    if len(values) == 1:
        values *= 4
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"'{text}' has {len(values)} numbers; give L,T,R,B or one for all sides")
    return tuple(values)


def parse_aspect(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not W:H, e.g. 16:9") from None
    return width, height


def add_parser(commands) -> None:

    p = commands.add_parser("outpaint", help="extend an image by margins or to an aspect ratio, on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    p.add_argument("--input", type=Path, required=True, help="the image to extend")
    extent = p.add_mutually_exclusive_group(required=True)
    extent.add_argument("--margins", type=parse_margins, metavar="L,T,R,B", help="pixels to add per side")
    extent.add_argument("--aspect", type=parse_aspect, metavar="W:H", help="grow to this aspect ratio")
    p.add_argument("--anchor", choices=ANCHORS, default="", help="where the original sits (--aspect; default center)")
    p.add_argument("--feather", type=int, help="blend band in pixels inside the original (default 32)")
    p.add_argument("--fill", choices=FILLS, default="edge", help="start for the new area (default edge)")
    p.add_argument("--strength", type=float, help="default 1.0 with an inpainting model, 0.85 without")
    p.add_argument("--model", default="", help="model id (default: the server's default)")
    p.add_argument("--prompt", default="")
    p.add_argument("--negative", default="")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--scheduler", default="")
    p.add_argument("--seed", type=int, default=-1, help="-1 = random (reported)")
    p.add_argument("--batch", type=int, default=1)
    adapter_flags(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG (batch: OUT-1.png, ...)")
    p.set_defaults(handler=run)


def run(args) -> int:
    import grpc

    from ..client import outpaint_task
    from ..v1 import jobs_pb2

    task = outpaint_task(args.input, args.prompt, margins=args.margins, aspect=args.aspect, anchor=args.anchor,
                         feather=args.feather, fill=args.fill, strength=args.strength, model_id=args.model,
                         negative_prompt=args.negative, sampling=sampling_from_args(args),
                         adapters=adapters_from_args(args))
    placements = []

    def tap(events):  # keep the result's placement to print it
        for event in events:
            if event.WhichOneof("event") == "result" and event.result.extra_json:
                placements.append(json.loads(event.result.extra_json))
            yield event

    with connect(args, client_name="cli") as client:
        try:
            code = follow(tap(client.run(task, jobs_pb2.JobOptions(label="cli"))), args.output, "outpaint")
        except grpc.RpcError as error:
            print(f"dccbridge outpaint: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    if code == 0 and placements:
        p = placements[0]
        print(f"the original is at offset {p['offset_x']},{p['offset_y']} in the {p['width']}x{p['height']} result",
              file=sys.stderr)
    return code
