"""`dccbridge`: serve, generate, depth2img, texture, preprocess, upscale, outpaint, models, doctor, jobs."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from . import cli_outpaint

DEFAULT_SERVER = "127.0.0.1:50051"
TOKEN_ENV = "DCCBRIDGE_TOKEN"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dccbridge", description="Stable Diffusion for Blender, Photoshop and Unity")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    _generate_parser(commands)
    _depth2img_parser(commands)
    _texture_parser(commands)
    _preprocess_parser(commands)
    _upscale_parser(commands)
    cli_outpaint.add_parser(commands)
    _models_parser(commands)
    _doctor_parser(commands)
    _jobs_parser(commands)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except OSError as error:  # a file named on the command line is missing or unreadable
        print(f"dccbridge {args.command}: {error}", file=sys.stderr)
        return 2


# -- serve ------------------------------------------------------------------------------------------


def _serve_parser(commands) -> None:
    p = commands.add_parser("serve", help="run the inference server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (0 = pick a free one)")
    p.add_argument("--http-port", type=int, default=50052,
                   help="HTTP/1.1 port for Connect and gRPC-Web (0 = pick a free one)")
    p.add_argument("--no-http", action="store_true", help="serve gRPC only")
    p.add_argument("--token", help=f"require 'authorization: Bearer TOKEN' (prefer --token-file or ${TOKEN_ENV}: "
                                   "a command line is visible to other users)")
    p.add_argument("--token-file", type=Path, help="read the token from a file")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate (chain): both faces speak TLS")
    p.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    p.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                   help="an Origin allowed to call the HTTP face from a browser-like runtime (repeat; default: *)")
    p.add_argument("--models", type=Path, help="model catalog TOML (default: the --preset)")
    p.add_argument("--preset", default="tiny", help="built-in catalog when --models is not given (default: tiny)")
    p.add_argument("--data-dir", type=Path, help="where results and the job index live")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--dtype", default="auto", choices=("auto", "float16", "bfloat16", "float32"),
                   help="model precision (default: float16 on CUDA and MPS, float32 on CPU)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                   help="keep UNet, ControlNets and VAE in the default memory format (channels_last is on for CUDA)")
    p.add_argument("--attention", choices=("sdpa", "default"),
                   help="attention kernels: PyTorch SDPA (default) or diffusers' plain processor")
    p.add_argument("--vae-tiling", type=int, metavar="PX",
                   help="the VAE works in tiles when a side exceeds PX (default 2048 on GPUs, off on CPU; 0 = off)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile UNet and ControlNets, warmed up at load (cache: DATA_DIR/compile-cache)")
    p.add_argument("--compile-mode", default="default",
                   choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
                   help="torch.compile mode with --compile (reduce-overhead: CUDA graphs, fastest at batch 1)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    p.add_argument("--prompt-cache", type=int, default=64, metavar="N",
                   help="prompt embeddings cached per model (default 64; 0 = off)")
    p.add_argument("--max-message-mb", type=int, default=64, help="largest message on both faces, MiB (default 64)")
    p.add_argument("--max-queue", type=int, default=16, help="jobs that may wait (default 16)")
    p.add_argument("--max-input-pixels", type=_pixel_count, metavar="N|WxH",
                   help="largest input image (init, mask, control, view, 16-bit depth), refused from its header "
                        "before decoding (default 4096x4096)")
    p.add_argument("--max-upscale-input-pixels", type=_pixel_count,
                   metavar="N|WxH", help="largest image an upscale job takes (default 16384x16384)")
    p.add_argument("--max-queued-mb", type=int, default=1024,
                   help="MiB of inputs waiting jobs may hold, in memory and in the index (default 1024)")
    p.add_argument("--max-streams", type=int, default=1000,
                   help="open Watch/Run streams and long-polls, both faces together (default 1000)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds the running job gets at shutdown; queued jobs stay queued for the next start")
    p.add_argument("--batch-window-ms", type=_non_negative_int, default=30,
                   help="how long a job that could run in a cross-request batch waits for compatible jobs "
                        "(default 30; 0 = no batching)")
    p.add_argument("--max-batch-jobs", type=_positive_int, default=8,
                   help="most jobs in one batch (default 8; the device's free memory may allow fewer)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load .ckpt/.pt/.pth/.bin weights (with weights_only=True); off by default")
    p.add_argument("--allow-download", action="store_true",
                   help="fetch hub weights that are not cached when a job first needs them (off by default: "
                        "use 'dccbridge models pull' before serving)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(handler=_serve)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _serve(args) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .models.profile import ProfileOptions
    from .ops import Limits
    from .serve import ServeConfig, default_data_dir, serve_forever

    try:
        token = _serve_token(args)
    except OSError as error:
        print(f"dccbridge serve: --token-file: {error}", file=sys.stderr)
        return 2
    if args.prompt_cache < 0:
        print(f"dccbridge serve: --prompt-cache must be 0 (off) or more, got {args.prompt_cache}", file=sys.stderr)
        return 2
    try:
        profile = ProfileOptions(channels_last=args.channels_last, attention=args.attention,
                                 vae_tiling_px=args.vae_tiling, compile=args.compile, threads=args.threads,
                                 compile_mode=args.compile_mode)
    except ValueError as error:
        print(f"dccbridge serve: {error}", file=sys.stderr)
        return 2
    try:
        config = ServeConfig(
            host=args.host,
            port=args.port,
            http_port=None if args.no_http else args.http_port,
            token=token,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            cors_origins=tuple(args.cors_origin or ("*",)),
            models=args.models,
            preset=args.preset,
            data_dir=args.data_dir or default_data_dir(),
            device=args.device,
            dtype=args.dtype,
            profile=profile,
            prompt_cache_size=args.prompt_cache,
            max_message_bytes=args.max_message_mb * 1024 * 1024,
            max_queue=args.max_queue,
            max_queued_input_bytes=args.max_queued_mb * 1024 * 1024,
            max_streams=args.max_streams,
            allow_pickle=args.allow_pickle,
            allow_download=args.allow_download,
            grace_s=args.grace,
            batch_window_ms=args.batch_window_ms,
            max_batch_jobs=args.max_batch_jobs,
            limits=Limits(**{name: getattr(args, name) for name in ("max_input_pixels", "max_upscale_input_pixels")
                             if getattr(args, name) is not None}),
        )
        return serve_forever(config)
    except (ValueError, OSError) as error:
        print(f"dccbridge serve: {error}", file=sys.stderr)
        return 2


def _pixel_count(text: str) -> int:
    """A pixel budget: a count ("16777216") or a size ("4096x4096")."""
    try:
        parts = [int(part) for part in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a pixel count or WIDTHxHEIGHT, got '{text}'")
    return math.prod(parts)


def _serve_token(args) -> str | None:
    """--token, else --token-file, else $DCCBRIDGE_TOKEN."""
    if args.token:
        return args.token
    if args.token_file:
        return args.token_file.read_text().strip()
    return os.environ.get(TOKEN_ENV) or None


# -- connecting to a server (generate, models --server, jobs) -----------------------------------------


def _connection_flags(p) -> None:
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                   help=f"the server's token (default: ${TOKEN_ENV})")
    p.add_argument("--tls-ca", type=Path, metavar="PATH", help="connect with TLS, trusting this PEM CA certificate")


def _client(args, client_name: str = ""):
    from .client import Client

    ca = args.tls_ca.read_bytes() if args.tls_ca else None
    return Client(args.server, client_name=client_name, token=args.token, root_certificates=ca)


# -- generate ---------------------------------------------------------------------------------------


def _generate_parser(commands) -> None:
    p = commands.add_parser("generate", help="txt2img / img2img / inpaint with ControlNet units, on a server")
    _diffusion_flags(p)
    p.add_argument("--init", type=Path, help="init image (img2img)")
    p.add_argument("--strength", type=float)
    p.add_argument("--mask", type=Path, help="inpaint mask (white = repaint)")
    _control_flags(p)
    p.set_defaults(handler=_generate)


def _diffusion_flags(p) -> None:
    """The flags generate, depth2img and texture share: server, model, prompt, size, sampling, output."""
    p.add_argument("--server", default=DEFAULT_SERVER)
    _connection_flags(p)
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
    _adapter_flags(p)
    p.add_argument("--preview-every", type=int, default=0, help="write a preview JPEG every N steps")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output PNG (batch: OUT-1.png, ...; other roles such as PBR maps: OUT-ROLE.png)")


def _adapter_flags(p) -> None:
    p.add_argument("--lora", action="append", default=[], metavar="ID[:WEIGHT]",
                   help="a LoRA for this job, weight -4..4 (default 1); repeat for several ('dccbridge models --server')")
    p.add_argument("--embedding", action="append", default=[], metavar="ID",
                   help="a textual-inversion embedding; write its id in the prompt where it applies (repeatable)")
    p.add_argument("--vae", default="", metavar="ID", help="a VAE to decode with instead of the model's own")


def _adapters(args):
    from .client import adapters_message

    return adapters_message(args.lora, args.embedding, args.vae)


def _depth_flags(p) -> None:
    p.add_argument("--depth-encoding", default="linear", choices=("linear", "inverse", "normalized"))
    p.add_argument("--depth-near", type=float, default=0.0)
    p.add_argument("--depth-far", type=float, default=0.0)
    p.add_argument("--depth-norm", default="auto", choices=("auto", "percentile", "minmax", "nearfar"),
                   help="how the depth pass is scaled: auto = the model family's default (min-max, as the depth "
                        "ControlNets' annotators), percentile (2nd..98th), nearfar (fixed 1/far..1/near); "
                        "per unit: --control depth=z.exr,norm=...")


def _control_flags(p) -> None:
    p.add_argument("--control", action="append", default=[], metavar="TYPE=FILE[,weight=W,start=S,end=E,norm=N]",
                   help="canny=IMG | depth=.npy/.exr/16-bit .png | openpose=.json | TYPE=ready map image")
    _depth_flags(p)


def _sampling(args):
    from .v1 import tasks_pb2

    sampling = tasks_pb2.Sampling(scheduler=args.scheduler, seed=args.seed, num_images_per_prompt=args.batch)
    if args.steps is not None:
        sampling.num_inference_steps = args.steps
    if args.guidance is not None:
        sampling.guidance_scale = args.guidance
    return sampling


def _control_units(args) -> list:
    return [_control_unit(spec, args) for spec in args.control]


def _control_unit(spec: str, args):
    from .client import control_unit_from_file

    kind, path, options = parse_control(spec)
    return control_unit_from_file(
        kind, path, weight=options.get("weight"), start=options.get("start"), end=options.get("end"),
        depth_encoding=args.depth_encoding, near=args.depth_near, far=args.depth_far,
        canny_low=int(options["low"]) if "low" in options else None,
        canny_high=int(options["high"]) if "high" in options else None,
        depth_normalization=options.get("norm", args.depth_norm),
    )


def _run_task(args, task, command: str, preview_every: int = 0) -> int:
    """Run a task on the server with a progress bar and write its results to args.output."""
    import grpc

    from .v1 import jobs_pb2

    options = jobs_pb2.JobOptions(preview_every_n_steps=preview_every, label="cli")
    with _client(args, client_name="cli") as client:
        try:
            return _follow(client.run(task, options), args.output, command)
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


def _generate(args) -> int:
    from .client import image_message
    from .v1 import tasks_pb2

    try:
        task = tasks_pb2.GenerateTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, control_units=_control_units(args), sampling=_sampling(args),
            adapters=_adapters(args),
        )
        if args.init:
            task.init_image.CopyFrom(image_message(args.init))
        if args.strength is not None:
            task.strength = args.strength
        if args.mask:
            task.mask_image.CopyFrom(image_message(args.mask))
    except (OSError, ValueError) as error:
        print(f"dccbridge generate: {error}", file=sys.stderr)
        return 2
    return _run_task(args, tasks_pb2.Task(generate=task), "generate", args.preview_every)


def _follow(events, output: Path, command: str = "generate") -> int:
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
    from .v1 import jobs_pb2

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


# -- depth2img, texture, preprocess -----------------------------------------------------------------

PROJECTIONS = ("perspective", "orthographic")
PREPROCESSORS = ("canny", "depth_estimate", "openpose_detect", "lineart", "softedge")


def _depth2img_parser(commands) -> None:
    p = commands.add_parser("depth2img", help="re-imagine an image keeping its depth (a depth pass, or estimated)")
    _diffusion_flags(p)
    p.add_argument("--init", type=Path, required=True, help="the image to transform")
    p.add_argument("--strength", type=float)
    p.add_argument("--depth", type=Path, help=".npy / .exr / 16-bit .png depth pass (default: estimated on the server)")
    _depth_flags(p)
    p.set_defaults(handler=_depth2img)


def _depth2img(args) -> int:
    from .client import depth_pass_from_file, image_message
    from .v1 import tasks_pb2

    try:
        task = tasks_pb2.Depth2ImgTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, sampling=_sampling(args), init_image=image_message(args.init),
            adapters=_adapters(args),
        )
        if args.strength is not None:
            task.strength = args.strength
        if args.depth:
            task.depth_pass.CopyFrom(depth_pass_from_file(args.depth, args.depth_encoding, args.depth_near,
                                                          args.depth_far, normalization=args.depth_norm))
    except (OSError, ValueError) as error:
        print(f"dccbridge depth2img: {error}", file=sys.stderr)
        return 2
    return _run_task(args, tasks_pb2.Task(depth2img=task), "depth2img", args.preview_every)


def _texture_parser(commands) -> None:
    p = commands.add_parser("texture", help="a seamless texture, PBR maps, or a texture to project from a camera")
    _diffusion_flags(p)
    p.add_argument("--tiling", default="none", choices=("none", "x", "y", "both"), help="seamless along these axes")
    p.add_argument("--pbr", action="store_true", help="also height, normal, roughness and ao maps (OUT-ROLE.png)")
    p.add_argument("--normal", default="opengl", choices=("opengl", "directx"),
                   help="normal map green channel: opengl = +Y up (Blender, Unity), directx flips it")
    p.add_argument("--projection-depth", type=Path, help="the camera view's depth pass (.npy / .exr / 16-bit .png)")
    p.add_argument("--view", type=Path, help="the camera view's colour image (adds a canny unit)")
    p.add_argument("--camera", type=Path,
                   help="camera JSON: camera_to_world (16 numbers, row-major), projection (perspective | "
                        "orthographic), fov_y_degrees or ortho_height, near, far, width, height, host")
    p.add_argument("--init", type=Path, help="init image (img2img)")
    p.add_argument("--strength", type=float)
    _control_flags(p)
    p.set_defaults(handler=_texture)


def _texture(args) -> int:
    from .client import depth_pass_from_file, image_message
    from .v1 import tasks_pb2

    tiling = {"none": tasks_pb2.TILING_AXES_NONE, "x": tasks_pb2.TILING_AXES_X, "y": tasks_pb2.TILING_AXES_Y,
              "both": tasks_pb2.TILING_AXES_BOTH}[args.tiling]
    normal = {"opengl": tasks_pb2.NORMAL_CONVENTION_OPENGL, "directx": tasks_pb2.NORMAL_CONVENTION_DIRECTX}
    try:
        task = tasks_pb2.TextureTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, sampling=_sampling(args), tiling=tiling, pbr_maps=args.pbr,
            normal_convention=normal[args.normal], control_units=_control_units(args), adapters=_adapters(args),
        )
        if args.init:
            task.init_image.CopyFrom(image_message(args.init))
        if args.strength is not None:
            task.strength = args.strength
        if args.projection_depth:
            task.projection.depth_pass.CopyFrom(depth_pass_from_file(
                args.projection_depth, args.depth_encoding, args.depth_near, args.depth_far,
                normalization=args.depth_norm))
        if args.view:
            task.projection.view_image.CopyFrom(image_message(args.view))
        if args.camera:
            task.projection.camera.CopyFrom(camera_message(args.camera))
    except (OSError, ValueError) as error:
        print(f"dccbridge texture: {error}", file=sys.stderr)
        return 2
    return _run_task(args, tasks_pb2.Task(texture=task), "texture", args.preview_every)


def camera_message(path: Path):
    """A v1 Camera from JSON in the shape a texture result's extra_json["projection"]["camera"] has."""
    import json

    from google.protobuf import json_format

    from .v1 import tasks_pb2

    data = json.loads(path.read_text())
    projection = data.pop("projection", "perspective")
    if projection not in PROJECTIONS:
        raise ValueError(f"{path}: projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    camera = tasks_pb2.Camera(projection=getattr(tasks_pb2, f"CAMERA_PROJECTION_{projection.upper()}"))
    try:
        json_format.ParseDict(data, camera)
    except json_format.ParseError as error:
        raise ValueError(f"{path}: {error}") from None
    return camera


def _preprocess_parser(commands) -> None:
    p = commands.add_parser("preprocess", help="the control map a ControlNet unit would use, computed on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    _connection_flags(p)
    p.add_argument("--control", required=True, metavar="TYPE=FILE[,low=L,high=H]",
                   help="canny=IMG | depth=.npy/.exr/16-bit .png | openpose=.json | TYPE=IMG with --preprocessor")
    p.add_argument("--preprocessor", choices=PREPROCESSORS,
                   help="run this server-side preprocessor on the image (e.g. depth=photo.png --preprocessor "
                        "depth_estimate)")
    _depth_flags(p)
    p.add_argument("--width", type=int, default=0, help="map size (default: the source's)")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    p.set_defaults(handler=_preprocess)


def _preprocess(args) -> int:
    from .v1 import control_pb2, media_pb2, tasks_pb2

    try:
        unit = _control_unit(args.control, args)
        if args.preprocessor:
            if unit.WhichOneof("source") not in ("image", "preprocess"):
                raise ValueError("--preprocessor needs an image file (not a depth pass or pose JSON)")
            image = media_pb2.Image()
            image.CopyFrom(unit.image if unit.HasField("image") else unit.preprocess.image)
            unit.preprocess.image.CopyFrom(image)
            unit.preprocess.preprocessor = getattr(control_pb2, f"PREPROCESSOR_{args.preprocessor.upper()}")
    except (OSError, ValueError) as error:
        print(f"dccbridge preprocess: {error}", file=sys.stderr)
        return 2
    task = tasks_pb2.PreprocessTask(unit=unit, width=args.width, height=args.height)
    return _run_task(args, tasks_pb2.Task(preprocess=task), "preprocess")


# -- upscale ----------------------------------------------------------------------------------------

UPSCALE_METHODS = ("auto", "lanczos", "esrgan", "sd_x4", "tiled")


def _upscale_parser(commands) -> None:
    p = commands.add_parser("upscale", help="upscale an image (Lanczos, ESRGAN, SD x4, tiled diffusion), on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    _connection_flags(p)
    p.add_argument("--input", type=Path, required=True, help="the image to upscale (PNG, JPEG, WebP)")
    p.add_argument("--method", default="auto", choices=UPSCALE_METHODS,
                   help="auto (default) = esrgan if the server has an ESRGAN upscaler, else lanczos")
    p.add_argument("--upscaler", default="", help="upscaler id (see 'dccbridge models --server')")
    p.add_argument("--scale", type=float, help="1..8 (default 2); the output is round(size x scale)")
    p.add_argument("--model", default="", help="tiled: the SD model id (default: the server's default)")
    p.add_argument("--prompt", default="", help="sd_x4 / tiled")
    p.add_argument("--negative", default="")
    p.add_argument("--strength", type=float, help="tiled: denoising strength (default 0.3); sd_x4: noise level share")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--scheduler", default="")
    p.add_argument("--seed", type=int, default=-1, help="-1 = random (reported)")
    p.add_argument("--tile", type=int, default=0, help="tile size in output pixels (0 = server default)")
    p.add_argument("--overlap", type=int, default=0, help="context around each tile, output pixels (0 = default)")
    _adapter_flags(p)  # tiled
    p.add_argument("--preview-every", type=int, default=0, help="write a preview JPEG every N tiles")
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    p.set_defaults(handler=_upscale)


def _upscale(args) -> int:
    from .client import image_message
    from .v1 import tasks_pb2

    method = {
        "auto": tasks_pb2.UPSCALE_METHOD_UNSPECIFIED, "lanczos": tasks_pb2.UPSCALE_METHOD_LANCZOS,
        "esrgan": tasks_pb2.UPSCALE_METHOD_ESRGAN, "sd_x4": tasks_pb2.UPSCALE_METHOD_SD_X4,
        "tiled": tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION,
    }[args.method]
    try:
        task = tasks_pb2.UpscaleTask(
            image=image_message(args.input), method=method, upscaler_id=args.upscaler, model_id=args.model,
            prompt=args.prompt, negative_prompt=args.negative, tile_size=args.tile, tile_overlap=args.overlap,
            sampling=tasks_pb2.Sampling(scheduler=args.scheduler, seed=args.seed), adapters=_adapters(args),
        )
    except ValueError as error:
        print(f"dccbridge upscale: {error}", file=sys.stderr)
        return 2
    for field, value in (("scale", args.scale), ("strength", args.strength)):
        if value is not None:
            setattr(task, field, value)
    if args.steps is not None:
        task.sampling.num_inference_steps = args.steps
    if args.guidance is not None:
        task.sampling.guidance_scale = args.guidance
    return _run_task(args, tasks_pb2.Task(upscale=task), "upscale", args.preview_every)


# -- models and jobs --------------------------------------------------------------------------------


def _models_parser(commands) -> None:
    p = commands.add_parser("models", help="list a catalog's models (or a running server's); pull / list cached "
                                           "hub weights")
    p.add_argument("--models", type=Path, help="catalog TOML (default: the --preset)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--server", help="ask a running server instead (HOST:PORT)")
    _connection_flags(p)
    p.set_defaults(handler=_models)
    actions = p.add_subparsers(dest="models_action", metavar="{pull,list}")
    pull = actions.add_parser("pull", help="download a preset's, a catalog's or one repo's weights into the "
                                           "Hugging Face cache (resumable, verified)")
    pull.add_argument("target", nargs="?", default="",
                      help="a preset (sd15, sdxl), a model/upscaler id of --models, a hub repo id, or "
                           "hf://OWNER/NAME/FILE.safetensors (default with --models: the whole catalog)")
    pull.add_argument("--models", dest="pull_models", type=Path, help="pull what this catalog TOML needs")
    pull.add_argument("--variant", default="", help="with a repo id: the weights variant, e.g. fp16")
    pull.add_argument("--configs-only", action="store_true",
                      help="with a repo id: only its component configs (*.json, *.txt), which a single-file "
                           "checkpoint of that family is built from")
    pull.set_defaults(handler=_models_pull)
    listing = actions.add_parser("list", help="what the Hugging Face cache holds, its size and the catalog ids "
                                              "it serves")
    listing.add_argument("--models", dest="list_models", type=Path, help="also map this catalog's ids")
    listing.set_defaults(handler=_models_list)


def _models_pull(args) -> int:
    from .models import Catalog
    from .models.catalog import HUB_REPO_ID, PRESETS_DIR, is_hub_file
    from .models.hub import HubError, HubUnreachable, Need, User, catalog_needs, pull, source_for

    try:
        if args.pull_models:
            catalog = Catalog.from_toml(args.pull_models)
            needs = _needs_of_id(catalog_needs(catalog), catalog, args.target) if args.target \
                else catalog_needs(catalog)
        elif (PRESETS_DIR / f"{args.target}.toml").is_file():
            needs = catalog_needs(Catalog.preset(args.target))
        elif is_hub_file(args.target) or HUB_REPO_ID.match(args.target):
            needs = [Need(source_for(args.target, args.variant, args.configs_only), [User("source", args.target)])]
        else:
            presets = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
            raise ValueError(f"'{args.target}' is neither a preset ({presets}), a hub repo id (owner/name) nor "
                             "hf://OWNER/NAME/FILE.safetensors; for a catalog's ids add --models CATALOG.toml")
    except ValueError as error:
        print(f"dccbridge models pull: {error}", file=sys.stderr)
        return 2
    if not needs:
        print("nothing to pull: the catalog names no hub sources (builtin or local files only)")
        return 0
    failed = 0
    for need in needs:
        print(f"pulling {need.source.label} (for {need.users_label})", flush=True)
        try:
            result = pull(need.source)
        except HubUnreachable as error:  # the next sources would fail the same way
            print(f"dccbridge models pull: {error}", file=sys.stderr)
            return 1
        except HubError as error:
            print(f"dccbridge models pull: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"  {len(result.files)} files, {_size(result.verified_bytes)}, verified, in {result.folder}", flush=True)
    if failed:
        print(f"dccbridge models pull: {failed} of {len(needs)} source(s) failed; run the same command again to "
              "resume", file=sys.stderr)
        return 1
    print(f"all {len(needs)} source(s) are in the cache")
    return 0


def _needs_of_id(needs, catalog, model_id: str):
    known = catalog.ids() + [u.id for u in catalog.upscalers()] + [v.id for v in catalog.adapters.available("vaes")]
    if model_id not in known:
        raise ValueError(f"'{model_id}' is not an id of {catalog.origin}: {', '.join(known)}")
    return [need for need in needs if need.serves(model_id)]


def _models_list(args) -> int:
    from .models import Catalog
    from .models.catalog import PRESETS_DIR
    from .models.hub import cache_dir, catalog_needs, cached_repos

    catalogs = [(path.stem, Catalog.preset(path.stem)) for path in sorted(PRESETS_DIR.glob("*.toml"))]
    if args.list_models:
        try:
            catalogs.append((str(args.list_models), Catalog.from_toml(args.list_models)))
        except ValueError as error:
            print(f"dccbridge models list: {error}", file=sys.stderr)
            return 2
    serves: dict[str, list[str]] = {}
    for name, catalog in catalogs:
        for need in catalog_needs(catalog):
            serves.setdefault(need.source.repo_id, []).extend(f"{name}:{user}" for user in need.users)
    repos = cached_repos()
    if not repos:
        print(f"the Hugging Face cache ({cache_dir()}) holds no models")
        return 0
    print(f"Hugging Face cache: {cache_dir()}")
    for repo in repos:
        users = ", ".join(serves.get(repo.repo_id, [])) or "no catalog id"
        print(f"{repo.repo_id}\t{_size(repo.size_on_disk)}\t{repo.nb_files} files\tserves: {users}")
    print(f"total {_size(sum(r.size_on_disk for r in repos))}")
    return 0


def _size(num_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return ""


def _doctor_parser(commands) -> None:
    p = commands.add_parser("doctor", help="device, VRAM, library versions, and which presets are ready")
    p.add_argument("--models", type=Path, help="also check this catalog TOML")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.set_defaults(handler=_doctor)


def _doctor(args) -> int:
    from .doctor import report

    try:
        for line in report(args.device, args.models):
            print(line)
    except ValueError as error:
        print(f"dccbridge doctor: {error}", file=sys.stderr)
        return 2
    return 0


def _models(args) -> int:
    if args.server:
        from .v1 import control_pb2

        with _client(args) as client:
            caps = client.capabilities()
        for model in caps.models:
            types = ", ".join(control_pb2.ControlType.Name(t).removeprefix("CONTROL_TYPE_").lower()
                              for t in model.control_types)
            default = " (default)" if model.is_default else ""
            print(f"{model.id}{default}\t{model.family}\tcontrolnets: {types or '-'}")
        for upscaler in caps.upscalers:
            print(f"{upscaler.id}\tupscaler\t{upscaler.label}")
        for kind, listing in (("lora", caps.loras), ("embedding", caps.embeddings), ("vae", caps.vaes)):
            for item in listing:
                print(f"{item.id}\t{kind}\t{item.family}" + (f"\t{item.description}" if item.description else ""))
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
    for upscaler in catalog.upscalers():
        print(f"{upscaler.id}\tupscaler ({upscaler.kind})\t{upscaler.source}")
    for kind, label in (("loras", "lora"), ("embeddings", "embedding"), ("vaes", "vae")):
        for item in catalog.adapters.available(kind):
            print(f"{item.id}\t{label}\t{item.family}\t{item.source}")
    return 0


def _jobs_parser(commands) -> None:
    p = commands.add_parser("jobs", help="list jobs on a server, or fetch a job's results")
    p.add_argument("action", choices=("list", "fetch", "cancel"))
    p.add_argument("job_id", nargs="?")
    p.add_argument("--server", default=DEFAULT_SERVER)
    _connection_flags(p)
    p.add_argument("-o", "--output", type=Path, help="fetch: output PNG")
    p.set_defaults(handler=_jobs)


def _jobs(args) -> int:
    import grpc

    from .v1 import jobs_pb2

    with _client(args) as client:
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
