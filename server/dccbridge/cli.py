"""`dccbridge`: serve, generate, models, jobs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

DEFAULT_SERVER = "127.0.0.1:50051"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dccbridge", description="Stable Diffusion for Blender, Photoshop and Unity")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    _generate_parser(commands)
    _models_parser(commands)
    _jobs_parser(commands)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130


# -- serve ------------------------------------------------------------------------------------------


def _serve_parser(commands) -> None:
    p = commands.add_parser("serve", help="run the inference server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (0 = pick a free one)")
    p.add_argument("--models", type=Path, help="model catalog TOML (default: the --preset)")
    p.add_argument("--preset", default="tiny", help="built-in catalog when --models is not given (default: tiny)")
    p.add_argument("--data-dir", type=Path, help="where results and the job index live")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--max-message-mb", type=int, default=64, help="largest gRPC message, MiB (default 64)")
    p.add_argument("--max-queue", type=int, default=16, help="jobs that may wait (default 16)")
    p.add_argument("--grace", type=float, default=30.0, help="seconds the running job gets at shutdown")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load .ckpt/.pt/.pth/.bin weights (with weights_only=True); off by default")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(handler=_serve)


def _serve(args) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .serve import ServeConfig, default_data_dir, serve_forever

    config = ServeConfig(
        host=args.host,
        port=args.port,
        models=args.models,
        preset=args.preset,
        data_dir=args.data_dir or default_data_dir(),
        device=args.device,
        max_message_bytes=args.max_message_mb * 1024 * 1024,
        max_queue=args.max_queue,
        allow_pickle=args.allow_pickle,
        grace_s=args.grace,
    )
    try:
        return serve_forever(config)
    except (ValueError, OSError) as error:
        print(f"dccbridge serve: {error}", file=sys.stderr)
        return 2


# -- generate ---------------------------------------------------------------------------------------


def _generate_parser(commands) -> None:
    p = commands.add_parser("generate", help="txt2img / img2img / inpaint with ControlNet units, on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
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
    p.add_argument("--init", type=Path, help="init image (img2img)")
    p.add_argument("--strength", type=float)
    p.add_argument("--mask", type=Path, help="inpaint mask (white = repaint)")
    p.add_argument("--control", action="append", default=[], metavar="TYPE=FILE[,weight=W,start=S,end=E]",
                   help="canny=IMG | depth=.npy/.exr/16-bit .png | openpose=.json | TYPE=ready map image")
    p.add_argument("--depth-encoding", default="linear", choices=("linear", "inverse", "normalized"))
    p.add_argument("--depth-near", type=float, default=0.0)
    p.add_argument("--depth-far", type=float, default=0.0)
    p.add_argument("--preview-every", type=int, default=0, help="write a preview JPEG every N steps")
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG (batch: OUT-1.png, ...)")
    p.set_defaults(handler=_generate)


def parse_control(spec: str) -> tuple[str, Path, dict]:
    kind, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise ValueError(f"--control '{spec}': expected TYPE=FILE[,weight=W,start=S,end=E]")
    path, *options = rest.split(",")
    parsed = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in ("weight", "start", "end", "low", "high"):
            raise ValueError(f"--control '{spec}': unknown option '{key}' (weight, start, end, low, high)")
        parsed[key] = float(value)
    return kind.strip().lower(), Path(path), parsed


def _generate(args) -> int:
    import grpc

    from .client import Client, control_unit_from_file, image_message
    from .v1 import jobs_pb2, tasks_pb2

    try:
        units = []
        for spec in args.control:
            kind, path, options = parse_control(spec)
            units.append(control_unit_from_file(
                kind, path, weight=options.get("weight"), start=options.get("start"), end=options.get("end"),
                depth_encoding=args.depth_encoding, near=args.depth_near, far=args.depth_far,
                canny_low=int(options["low"]) if "low" in options else None,
                canny_high=int(options["high"]) if "high" in options else None,
            ))
        task = tasks_pb2.GenerateTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, control_units=units,
            sampling=tasks_pb2.Sampling(scheduler=args.scheduler, seed=args.seed, num_images_per_prompt=args.batch),
        )
        if args.steps is not None:
            task.sampling.num_inference_steps = args.steps
        if args.guidance is not None:
            task.sampling.guidance_scale = args.guidance
        if args.init:
            task.init_image.CopyFrom(image_message(args.init))
        if args.strength is not None:
            task.strength = args.strength
        if args.mask:
            task.mask_image.CopyFrom(image_message(args.mask))
    except (OSError, ValueError) as error:
        print(f"dccbridge generate: {error}", file=sys.stderr)
        return 2

    options = jobs_pb2.JobOptions(preview_every_n_steps=args.preview_every, label="cli")
    with Client(args.server, client_name="cli") as client:
        try:
            return _follow(client.run(tasks_pb2.Task(generate=task), options), args.output)
        except grpc.RpcError as error:
            print(f"dccbridge generate: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1


def _follow(events, output: Path) -> int:
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
                print(f"dccbridge generate: {error_code_name(f.code)}: {f.message}", file=sys.stderr)
                return 1
            elif kind == "cancelled":
                print(f"job {job_id}: cancelled ({event.cancelled.reason})", file=sys.stderr)
                return 1
    finally:
        if bar is not None:
            bar.close()
    print(f"dccbridge generate: the stream ended early; fetch the result with 'dccbridge jobs fetch {job_id}'",
          file=sys.stderr)
    return 1


def error_code_name(code: int) -> str:
    from .v1 import jobs_pb2

    return jobs_pb2.ErrorCode.Name(code).removeprefix("ERROR_CODE_")


def write_results(result, output: Path) -> list[Path]:
    output.parent.mkdir(parents=True, exist_ok=True)
    images = list(result.images)
    paths = []
    for i, image in enumerate(images):
        path = output if len(images) == 1 else output.with_name(f"{output.stem}-{i + 1}{output.suffix}")
        if image.role not in ("image", "") and len(images) > 1:
            path = output.with_name(f"{output.stem}-{image.role}{output.suffix}")
        path.write_bytes(image.image.data)
        paths.append(path)
    return paths


# -- models and jobs --------------------------------------------------------------------------------


def _models_parser(commands) -> None:
    p = commands.add_parser("models", help="list the models of a catalog (or of a running server)")
    p.add_argument("--models", type=Path, help="catalog TOML (default: the --preset)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--server", help="ask a running server instead (HOST:PORT)")
    p.set_defaults(handler=_models)


def _models(args) -> int:
    if args.server:
        from .client import Client
        from .v1 import control_pb2

        with Client(args.server) as client:
            caps = client.capabilities()
        for model in caps.models:
            types = ", ".join(control_pb2.ControlType.Name(t).removeprefix("CONTROL_TYPE_").lower()
                              for t in model.control_types)
            default = " (default)" if model.is_default else ""
            print(f"{model.id}{default}\t{model.family}\tcontrolnets: {types or '-'}")
        return 0
    from .models import Catalog

    try:
        catalog = Catalog.from_toml(args.models) if args.models else Catalog.preset(args.preset)
    except (ValueError, OSError) as error:
        print(f"dccbridge models: {error}", file=sys.stderr)
        return 2
    for model_id in catalog.ids():
        entry = catalog.get(model_id)
        default = " (default)" if model_id == catalog.default_id else ""
        types = ", ".join(t.value for t in entry.controlnets)
        print(f"{model_id}{default}\t{entry.family}\t{entry.source}\tcontrolnets: {types or '-'}")
    return 0


def _jobs_parser(commands) -> None:
    p = commands.add_parser("jobs", help="list jobs on a server, or fetch a job's results")
    p.add_argument("action", choices=("list", "fetch", "cancel"))
    p.add_argument("job_id", nargs="?")
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("-o", "--output", type=Path, help="fetch: output PNG")
    p.set_defaults(handler=_jobs)


def _jobs(args) -> int:
    import grpc

    from .client import Client
    from .v1 import jobs_pb2

    with Client(args.server) as client:
        try:
            if args.action == "list":
                for job in client.list_jobs().jobs:
                    state = jobs_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
                    print(f"{job.job_id}\t{state}\t{job.task_type}\t{job.model_id}\t{job.label}")
                return 0
            if not args.job_id:
                print("dccbridge jobs: give a job id", file=sys.stderr)
                return 2
            if args.action == "cancel":
                client.cancel(args.job_id)
                return 0
            job = client.wait_result(args.job_id)
            if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
                print(f"job {args.job_id}: {jobs_pb2.JobState.Name(job.state)} {job.failure.message}", file=sys.stderr)
                return 1
            for path in write_results(job.result, args.output or Path(f"{args.job_id}.png")):
                print(path)
            return 0
        except grpc.RpcError as error:
            print(f"dccbridge jobs: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
