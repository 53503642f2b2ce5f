"""`dccbridge`: serve, generate, depth2img, texture, preprocess, upscale, outpaint, restore-faces, models, doctor,
jobs.

One module per command group: serve.py, tasks.py (the commands that send one job), outpaint.py, models.py (models,
doctor, jobs); common.py holds what they share (connection flags, progress, writing results)."""

from __future__ import annotations

import argparse
import sys

from . import faces, live, outpaint
from .models import add_doctor_parser, add_jobs_parser, add_models_parser
from .serve import add_serve_parser
from .tasks import (add_depth2img_parser, add_generate_parser, add_preprocess_parser, add_texture_parser,
                    add_upscale_parser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dccbridge", description="Stable Diffusion for Blender, Photoshop and Unity")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(commands)
    add_generate_parser(commands)
    add_depth2img_parser(commands)
    add_texture_parser(commands)
    add_preprocess_parser(commands)
    add_upscale_parser(commands)
    outpaint.add_parser(commands)
    faces.add_parser(commands)
    add_models_parser(commands)
    add_doctor_parser(commands)
    add_jobs_parser(commands)
    live.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except OSError as error:  # a file named on the command line is missing or unreadable
        print(f"dccbridge {args.command}: {error}", file=sys.stderr)
        return 2
