"""`dccbridge live`: send a folder of frames (PNG/JPEG/WebP, in name order) through one live session, as a host's
viewport would, and write each computed or reused result as OUT/NNNNNN.png (docs/live.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import DEFAULT_SERVER, connect, connection_flags

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def add_parser(commands) -> None:
    p = commands.add_parser("live", help="send a folder of frames through a live session")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    p.add_argument("--input", type=Path, required=True, help="a folder of frames (sorted by name)")
    p.add_argument("-o", "--output", type=Path, required=True, help="a folder for the results")
    p.add_argument("--model", default="")
    p.add_argument("--prompt", required=True)
    p.add_argument("--width", type=int, default=0, help="0 = the first frame's size")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--steps", type=int)
    p.add_argument("--strength", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--similarity", type=float, help="reuse threshold 0..1 (default 0.98; 0 = off)")
    p.add_argument("--feedback", type=float, help="blend the previous result into each frame (0..1)")
    p.add_argument("--throughput", action="store_true", help="stream batch (LIVE_PRIORITY_THROUGHPUT)")
    p.add_argument("--fps", type=float, default=0.0, help="pace the frames (default: as fast as they can be sent)")
    p.set_defaults(handler=run)


def run(args) -> int:
    import grpc

    from ..client_live import live_session

    frames = sorted(f for f in args.input.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)
    if not frames:
        print(f"dccbridge live: no frames ({', '.join(FRAME_SUFFIXES)}) in {args.input}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    counts = {"result": 0, "superseded": 0, "frame_failed": 0}
    started = time.monotonic()
    with connect(args, client_name="dccbridge-cli") as client:
        try:
            live = live_session(client, prompt=args.prompt, model_id=args.model, width=args.width,
                                height=args.height, steps=args.steps, strength=args.strength, seed=args.seed,
                                similarity_threshold=args.similarity, feedback=args.feedback,
                                throughput=args.throughput, label=args.input.name)
        except grpc.RpcError as error:
            print(f"dccbridge live: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        with live:
            for number, path in enumerate(frames, start=1):
                live.send(number, image_bytes=path.read_bytes())
                if args.fps:
                    time.sleep(1 / args.fps)
            for event in live.events_until(len(frames)):
                kind = event.WhichOneof("event")
                counts[kind] += 1
                if kind == "result":
                    (args.output / f"{event.result.frame:06d}.png").write_bytes(event.result.image.data)
                elif kind == "frame_failed":
                    failure = event.frame_failed.failure
                    print(f"frame {event.frame_failed.frame}: {failure.message}", file=sys.stderr)
    closed = live.closed
    seconds = time.monotonic() - started
    print(f"{len(frames)} frames in {seconds:.1f} s: {counts['result']} results "
          f"({closed.frames_reused if closed else 0} reused), {counts['superseded']} superseded, "
          f"{counts['frame_failed']} failed; results in {args.output}")
    return 1 if counts["frame_failed"] else 0
