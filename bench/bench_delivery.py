"""Result delivery: what it costs to get a 2048x2048 result from the server's worker to pixels in the client.

Pieces, each timed on its own: (a) the PNG encode the engine does (imaging.encode_png, fast path, with the
provenance text chunks), (b) GetJob of a finished job whose result is that PNG (the server reads the file, the
bytes cross gRPC loopback, the client parses the response), (c) decoding on the client. Their sum is the delivery
cost. For reference, a Preprocess job through the real server (a ready 2048x2048 control map in, the same map
out) is timed end to end; it also pays the upload and the server-side decode. Two images: a render-like one
(smooth gradients + mild noise) and pure random noise (the worst case for PNG).

    .venv/bin/python bench/bench_delivery.py [--size 2048] [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from _common import (OtherProcessesCpu, add_server_arguments, describe_machine, print_machine, print_table,
                     running_server, write_json)
from dccbridge import imaging
from dccbridge.client import Client, image_message
from dccbridge.v1 import control_pb2, tasks_pb2

DELIVERY_GOAL_S = 0.25
IMAGE_KINDS = ("render-like", "random noise")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="result width and height (default: 2048)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per piece (default: 5)")
    parser.add_argument("--seed", type=int, default=0)
    add_server_arguments(parser)
    return parser.parse_args()


def render_like_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour gradients, a soft-lit disc and mild sensor-like noise: how a rendered frame compresses."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    disc = np.clip(1.0 - ((x - 0.6) ** 2 + (y - 0.45) ** 2) / 0.08, 0.0, 1.0) ** 0.5
    rgb = np.stack([40 + 150 * x + 60 * disc, 60 + 120 * y + 50 * disc, 180 - 100 * x * y + 30 * disc], axis=2)
    rgb += rng.normal(0.0, 2.0, rgb.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


def random_noise_image(size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def median_seconds(action, repeats: int) -> tuple[float, object]:
    """Median wall time of `repeats` calls after one untimed warm-up call; also the last call's value."""
    value = action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def pil_default_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")  # PIL's defaults: compress_level 6, optimize off
    return buffer.getvalue()


def preprocess_task(pixels: np.ndarray) -> tasks_pb2.Task:
    """A ready control map as the unit's source: the server decodes it and returns it as the job's result."""
    unit = control_pb2.ControlUnit(control_type=control_pb2.CONTROL_TYPE_DEPTH,
                                   image=image_message(imaging.encode_png(pixels)))
    return tasks_pb2.Task(preprocess=tasks_pb2.PreprocessTask(unit=unit))


def run_to_result(client: Client, task: tasks_pb2.Task):
    """Run a task to its end; the job id and its result (with image bytes)."""
    job_id, result = "", None
    for event in client.run(task):
        kind = event.WhichOneof("event")
        job_id = event.job_id
        if kind == "result":
            result = event.result
        elif kind in ("failed", "cancelled"):
            raise RuntimeError(f"the preprocess job ended {kind}: {getattr(event, kind)}")
    return job_id, result


def measure(client: Client, pixels: np.ndarray, repeats: int) -> dict:
    task = preprocess_task(pixels)

    def end_to_end():
        _, result = run_to_result(client, task)
        return imaging.decode_image(result.images[0].image.data, "result")

    end_to_end_s, delivered = median_seconds(end_to_end, repeats)
    job_id, result = run_to_result(client, task)
    server_png = result.images[0].image.data
    text = imaging.read_png_text(server_png)  # the provenance chunks the engine wrote

    encode_s, encoded = median_seconds(lambda: imaging.encode_png(pixels, text), repeats)
    get_job_s, job = median_seconds(lambda: client.get_job(job_id), repeats)
    received = job.result.images[0].image.data
    decode_s, decoded = median_seconds(lambda: imaging.decode_image(received, "result"), repeats)
    pil_encode_s, pil_png = median_seconds(lambda: pil_default_png(pixels), repeats)

    return {
        "encode_s": encode_s,
        "get_job_s": get_job_s,
        "decode_s": decode_s,
        "delivery_s": encode_s + get_job_s + decode_s,
        "end_to_end_preprocess_s": end_to_end_s,
        "pil_default_encode_s": pil_encode_s,
        "pil_over_fast_encode": pil_encode_s / encode_s,
        "png_bytes": len(server_png),
        "pil_png_bytes": len(pil_png),
        "encode_matches_server_file": encoded == server_png,
        "lossless_round_trip": np.array_equal(decoded, pixels) and np.array_equal(delivered, pixels),
    }


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    images = {"render-like": render_like_image(args.size, rng), "random noise": random_noise_image(args.size, rng)}

    with running_server(args) as server, Client(f"127.0.0.1:{server.port}", client_name="bench") as client:
        machine = describe_machine(server)
        with OtherProcessesCpu() as others:
            figures = {kind: measure(client, images[kind], args.repeats) for kind in IMAGE_KINDS}

    def row(label, key, scale=1000.0, fmt="{:.1f}"):
        return [label] + [fmt.format(figures[kind][key] * scale) for kind in IMAGE_KINDS]

    def check(key):
        return "yes" if all(figures[kind][key] for kind in IMAGE_KINDS) else "no"

    print_machine(machine)
    print(others.describe())
    print(f"{args.size}x{args.size} RGB result, median of {args.repeats} runs per piece, times in ms\n")
    print_table(
        ["piece"] + list(IMAGE_KINDS),
        [
            row("(a) encode_png, fast path + text chunks", "encode_s"),
            row("(b) GetJob: read file + gRPC loopback + parse", "get_job_s"),
            row("(c) decode on the client", "decode_s"),
            row(f"delivery = a + b + c (goal <= {DELIVERY_GOAL_S * 1000:.0f})", "delivery_s"),
            row("Preprocess end to end (+ upload, server decode)", "end_to_end_preprocess_s"),
            row("PIL default save (compress_level 6)", "pil_default_encode_s"),
            row("PIL default / fast path encode (x)", "pil_over_fast_encode", 1.0, "{:.1f}"),
            row("PNG size, fast path (MB)", "png_bytes", 1e-6, "{:.2f}"),
            row("PNG size, PIL default (MB)", "pil_png_bytes", 1e-6, "{:.2f}"),
        ],
    )
    print(f"\nfast-path encode equals the server's result file: {check('encode_matches_server_file')}")
    print(f"pixels round-trip losslessly: {check('lossless_round_trip')}")

    write_json(args.json, {
        "benchmark": "delivery",
        "machine": machine,
        "noise": others.as_dict(),
        "settings": {"size": args.size, "repeats": args.repeats, "seed": args.seed},
        "goal_delivery_s": DELIVERY_GOAL_S,
        "images": figures,
    })


if __name__ == "__main__":
    main()
