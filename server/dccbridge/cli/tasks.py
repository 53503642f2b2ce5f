"""The task commands that send one job to a server: generate, depth2img, texture, preprocess, upscale."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import (DEFAULT_SERVER, adapter_flags, adapters_from_args, connection_flags, control_flags,
                     control_unit_from_spec, control_units_from_args, depth_flags, diffusion_flags, run_task,
                     sampling_from_args)
from .faces import restoration_from_args, restore_faces_flags


# -- generate ---------------------------------------------------------------------------------------


def add_generate_parser(commands) -> None:
    p = commands.add_parser("generate", help="txt2img / img2img / inpaint with ControlNet units, on a server")
    diffusion_flags(p)
    p.add_argument("--init", type=Path, help="init image (img2img)")
    p.add_argument("--strength", type=float)
    p.add_argument("--mask", type=Path, help="inpaint mask (white = repaint)")
    control_flags(p)
    restore_faces_flags(p)
    p.set_defaults(handler=_generate)


def _generate(args) -> int:
    from ..client import image_message
    from ..v1 import tasks_pb2

    try:
        task = tasks_pb2.GenerateTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, control_units=control_units_from_args(args), sampling=sampling_from_args(args),
            adapters=adapters_from_args(args),
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
    if restoration_from_args(args) is not None:
        task.restore_faces.CopyFrom(restoration_from_args(args))
    return run_task(args, tasks_pb2.Task(generate=task), "generate", args.preview_every)


# -- depth2img, texture, preprocess -----------------------------------------------------------------

PROJECTIONS = ("perspective", "orthographic")
PREPROCESSORS = ("canny", "depth_estimate", "openpose_detect", "lineart", "softedge")


def add_depth2img_parser(commands) -> None:
    p = commands.add_parser("depth2img", help="re-imagine an image keeping its depth (a depth pass, or estimated)")
    diffusion_flags(p)
    p.add_argument("--init", type=Path, required=True, help="the image to transform")
    p.add_argument("--strength", type=float)
    p.add_argument("--depth", type=Path, help=".npy / .exr / 16-bit .png depth pass (default: estimated on the server)")
    depth_flags(p)
    p.set_defaults(handler=_depth2img)


def _depth2img(args) -> int:
    from ..client import depth_pass_from_file, image_message
    from ..v1 import tasks_pb2

    try:
        task = tasks_pb2.Depth2ImgTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, sampling=sampling_from_args(args), init_image=image_message(args.init),
            adapters=adapters_from_args(args),
        )
        if args.strength is not None:
            task.strength = args.strength
        if args.depth:
            task.depth_pass.CopyFrom(depth_pass_from_file(args.depth, args.depth_encoding, args.depth_near,
                                                          args.depth_far, normalization=args.depth_norm))
    except (OSError, ValueError) as error:
        print(f"dccbridge depth2img: {error}", file=sys.stderr)
        return 2
    return run_task(args, tasks_pb2.Task(depth2img=task), "depth2img", args.preview_every)


def add_texture_parser(commands) -> None:
    p = commands.add_parser("texture", help="a seamless texture, PBR maps, or a texture to project from a camera")
    diffusion_flags(p)
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
    control_flags(p)
    p.set_defaults(handler=_texture)


def _texture(args) -> int:
    from ..client import depth_pass_from_file, image_message
    from ..v1 import tasks_pb2

    tiling = {"none": tasks_pb2.TILING_AXES_NONE, "x": tasks_pb2.TILING_AXES_X, "y": tasks_pb2.TILING_AXES_Y,
              "both": tasks_pb2.TILING_AXES_BOTH}[args.tiling]
    normal = {"opengl": tasks_pb2.NORMAL_CONVENTION_OPENGL, "directx": tasks_pb2.NORMAL_CONVENTION_DIRECTX}
    try:
        task = tasks_pb2.TextureTask(
            model_id=args.model, prompt=args.prompt, negative_prompt=args.negative, width=args.width,
            height=args.height, sampling=sampling_from_args(args), tiling=tiling, pbr_maps=args.pbr,
            normal_convention=normal[args.normal], control_units=control_units_from_args(args),
            adapters=adapters_from_args(args),
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
    return run_task(args, tasks_pb2.Task(texture=task), "texture", args.preview_every)


def camera_message(path: Path):
    """A v1 Camera from JSON in the shape a texture result's extra_json["projection"]["camera"] has."""
    import json

    from google.protobuf import json_format

    from ..v1 import tasks_pb2

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


def add_preprocess_parser(commands) -> None:
    p = commands.add_parser("preprocess", help="the control map a ControlNet unit would use, computed on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    p.add_argument("--control", required=True, metavar="TYPE=FILE[,low=L,high=H]",
                   help="canny=IMG | depth=.npy/.exr/16-bit .png | openpose=.json | TYPE=IMG with --preprocessor")
    p.add_argument("--preprocessor", choices=PREPROCESSORS,
                   help="run this server-side preprocessor on the image (e.g. depth=photo.png --preprocessor "
                        "depth_estimate)")
    depth_flags(p)
    p.add_argument("--width", type=int, default=0, help="map size (default: the source's)")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    p.set_defaults(handler=_preprocess)


def _preprocess(args) -> int:
    from ..v1 import control_pb2, media_pb2, tasks_pb2

    try:
        unit = control_unit_from_spec(args.control, args)
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
    return run_task(args, tasks_pb2.Task(preprocess=task), "preprocess")


# -- upscale ----------------------------------------------------------------------------------------

UPSCALE_METHODS = ("auto", "lanczos", "esrgan", "sd_x4", "tiled")


def add_upscale_parser(commands) -> None:
    p = commands.add_parser("upscale", help="upscale an image (Lanczos, ESRGAN, SD x4, tiled diffusion), on a server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
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
    adapter_flags(p)  # tiled
    restore_faces_flags(p)
    p.add_argument("--preview-every", type=int, default=0, help="write a preview JPEG every N tiles")
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    p.set_defaults(handler=_upscale)


def _upscale(args) -> int:
    from ..client import image_message
    from ..v1 import tasks_pb2

    method = {
        "auto": tasks_pb2.UPSCALE_METHOD_UNSPECIFIED, "lanczos": tasks_pb2.UPSCALE_METHOD_LANCZOS,
        "esrgan": tasks_pb2.UPSCALE_METHOD_ESRGAN, "sd_x4": tasks_pb2.UPSCALE_METHOD_SD_X4,
        "tiled": tasks_pb2.UPSCALE_METHOD_TILED_DIFFUSION,
    }[args.method]
    try:
        task = tasks_pb2.UpscaleTask(
            image=image_message(args.input), method=method, upscaler_id=args.upscaler, model_id=args.model,
            prompt=args.prompt, negative_prompt=args.negative, tile_size=args.tile, tile_overlap=args.overlap,
            sampling=tasks_pb2.Sampling(scheduler=args.scheduler, seed=args.seed), adapters=adapters_from_args(args),
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
    if restoration_from_args(args) is not None:
        task.restore_faces.CopyFrom(restoration_from_args(args))
    return run_task(args, tasks_pb2.Task(upscale=task), "upscale", args.preview_every)
