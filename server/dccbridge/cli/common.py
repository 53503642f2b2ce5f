"""What the commands share: connection flags, diffusion/adapter/control flags, following a job's events
with a progress bar, writing results."""

from __future__ import annotations

import os
import sys
from pathlib import Path


DEFAULT_SERVER = "127.0.0.1:50051"
TOKEN_ENV = "DCCBRIDGE_TOKEN"


# -- connecting to a server (generate, models --server, jobs) -----------------------------------------


def connection_flags(p) -> None:
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                   help=f"the server's token (default: ${TOKEN_ENV})")
    p.add_argument("--tls-ca", type=Path, metavar="PATH", help="connect with TLS, trusting this PEM CA certificate")


def connect(args, client_name: str = ""):
    from ..client import Client

    ca = args.tls_ca.read_bytes() if args.tls_ca else None
    return Client(args.server, client_name=client_name, token=args.token, root_certificates=ca)


def diffusion_flags(p) -> None:
    """The flags generate, depth2img and texture share: server, model, prompt, size, sampling, output."""
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    p.add_argument("--model", default="", help="model id (default: the server's default)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative", default="")
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--scheduler", default="")
    p.add_argument("--seed", type=int, default=-1, help="-1 = random (reported)")
    p.add_argument("--batch", type=int, default=1)
    adapter_flags(p)
    p.add_argument("--preview-every", type=int, default=0, help="write a preview JPEG every N steps")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output PNG (batch: OUT-1.png, ...; other roles such as PBR maps: OUT-ROLE.png)")


def adapter_flags(p) -> None:
    p.add_argument("--lora", action="append", default=[], metavar="ID[:WEIGHT]",
                   help="a LoRA for this job, weight -4..4 (default 1); repeat for several ('dccbridge models --server')")
    p.add_argument("--embedding", action="append", default=[], metavar="ID",
                   help="a textual-inversion embedding; write its id in the prompt where it applies (repeatable)")
    p.add_argument("--vae", default="", metavar="ID", help="a VAE to decode with instead of the model's own")


def adapters_from_args(args):
    from ..client import adapters_message

    return adapters_message(args.lora, args.embedding, args.vae)


def depth_flags(p) -> None:
    p.add_argument("--depth-encoding", default="linear", choices=("linear", "inverse", "normalized"))
    p.add_argument("--depth-near", type=float, default=0.0)
    p.add_argument("--depth-far", type=float, default=0.0)
    p.add_argument("--depth-norm", default="auto", choices=("auto", "percentile", "minmax", "nearfar"),
                   help="how the depth pass is scaled: auto = the model family's default (min-max, as the depth "
                        "ControlNets' annotators), percentile (2nd..98th), nearfar (fixed 1/far..1/near); "
                        "per unit: --control depth=z.exr,norm=...")


def control_flags(p) -> None:
    p.add_argument("--control", action="append", default=[], metavar="TYPE=FILE[,weight=W,start=S,end=E,norm=N]",
                   help="canny=IMG | depth=.npy/.exr/16-bit .png | openpose=.json | TYPE=ready map image")
    depth_flags(p)


def sampling_from_args(args):
    from ..v1 import tasks_pb2

    sampling = tasks_pb2.Sampling(scheduler=args.scheduler, seed=args.seed, num_images_per_prompt=args.batch)
    if args.steps is not None:
        sampling.num_inference_steps = args.steps
    if args.guidance is not None:
        sampling.guidance_scale = args.guidance
    return sampling


def control_units_from_args(args) -> list:
    return [control_unit_from_spec(spec, args) for spec in args.control]


def control_unit_from_spec(spec: str, args):
    from ..client import control_unit_from_file

    kind, path, options = parse_control(spec)
    return control_unit_from_file(
        kind, path, weight=options.get("weight"), start=options.get("start"), end=options.get("end"),
        depth_encoding=args.depth_encoding, near=args.depth_near, far=args.depth_far,
        canny_low=int(options["low"]) if "low" in options else None,
        canny_high=int(options["high"]) if "high" in options else None,
        depth_normalization=options.get("norm", args.depth_norm),
    )


def run_task(args, task, command: str, preview_every: int = 0) -> int:
    """Run a task on the server with a progress bar and write its results to args.output."""
    import grpc

    from ..v1 import jobs_pb2

    options = jobs_pb2.JobOptions(preview_every_n_steps=preview_every, label="cli")
    with connect(args, client_name="cli") as client:
        try:
            return follow(client.run(task, options), args.output, command)
        except grpc.RpcError as error:
            print(f"dccbridge {command}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1


def parse_control(spec: str) -> tuple[str, Path, dict]:
    kind, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise ValueError(f"--control '{spec}': expected TYPE=FILE[,weight=W,start=S,end=E]")
    path, *options = rest.split(",")
    parsed = {}
    for option in options:
        key, _, value = option.partition("=")
        if key == "norm":  # a depth pass's normalisation: auto, percentile, minmax, nearfar
            parsed[key] = value
            continue
        if key not in ("weight", "start", "end", "low", "high"):
            raise ValueError(f"--control '{spec}': unknown option '{key}' (weight, start, end, low, high, norm)")
        parsed[key] = float(value)
    return kind.strip().lower(), Path(path), parsed


def follow(events, output: Path, command: str = "generate") -> int:
    """Show a progress bar for a Run stream and write the results."""
    from tqdm import tqdm

    bar = None
    job_id = ""
    try:
        for event in events:
            job_id = event.job_id
            kind = event.WhichOneof("event")
            if kind == "queued":
                print(f"job {job_id}: queued at position {event.queued.position}", file=sys.stderr)
            elif kind == "progress":
                p = event.progress
                if bar is None or bar.desc != p.stage:
                    if bar is not None:
                        bar.close()
                    bar = tqdm(total=p.total or None, desc=p.stage, unit="step", file=sys.stderr)
                bar.total = p.total or None
                bar.n = p.step
                bar.refresh()
                if p.preview.data:
                    output.with_suffix(".preview.jpg").write_bytes(p.preview.data)
            elif kind == "result":
                if bar is not None:
                    bar.close()
                paths = write_results(event.result, output)
                seeds = ", ".join(str(i.seed) for i in event.result.images)
                for path in paths:
                    print(path)
                print(f"job {job_id}: done (seed {seeds})", file=sys.stderr)
                return 0
            elif kind == "failed":
                if bar is not None:
                    bar.close()
                f = event.failed
                print(f"dccbridge {command}: {error_code_name(f.code)}: {f.message}", file=sys.stderr)
                return 1
            elif kind == "cancelled":
                print(f"job {job_id}: cancelled ({event.cancelled.reason})", file=sys.stderr)
                return 1
    finally:
        if bar is not None:
            bar.close()
    print(f"dccbridge {command}: the stream ended early; fetch the result with 'dccbridge jobs fetch {job_id}'",
          file=sys.stderr)
    return 1


def error_code_name(code: int) -> str:
    from ..v1 import jobs_pb2

    return jobs_pb2.ErrorCode.Name(code).removeprefix("ERROR_CODE_")


# Roles written under the output name itself; others (PBR maps, ...) get "-ROLE" added.
PRIMARY_ROLES = ("image", "albedo", "")


def write_results(result, output: Path) -> list[Path]:
    """One image: OUT.png. Several: a batch adds -N (OUT-1.png), other roles add -ROLE (OUT-normal.png,
    OUT-2-normal.png)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    images = list(result.images)
    batch = len({image.index for image in images}) > 1
    paths = []
    for image in images:
        path = output
        if len(images) > 1:
            stem = f"{output.stem}-{image.index + 1}" if batch else output.stem
            role = "" if image.role in PRIMARY_ROLES else f"-{image.role}"
            path = output.with_name(f"{stem}{role}{output.suffix}")
        path.write_bytes(image.image.data)
        paths.append(path)
    return paths
