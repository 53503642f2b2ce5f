"""`dccbridge serve`: the flags and the composition of a ServeConfig."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from .common import TOKEN_ENV


# -- serve ------------------------------------------------------------------------------------------


def add_serve_parser(commands) -> None:
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
    p.add_argument("--store", metavar="URL",
                   help="the job index: sqlite:///PATH (default: DATA_DIR/jobs.sqlite3) or "
                        "postgresql://USER[:PASSWORD]@HOST:PORT/DB, shared by several servers (docs/job-store.md)")
    p.add_argument("--results-dir", type=Path, metavar="PATH",
                   help="where result files are written (default: DATA_DIR/results); with a shared --store, a "
                        "path every server mounts at the same place")
    p.add_argument("--node-id", help="this server's name in a shared store; a restart under the same name takes "
                                     "its unfinished jobs back at once (default: unique per process)")
    p.add_argument("--lease-s", type=_positive_float, default=20.0,
                   help="seconds after which other servers take over the jobs of a server that stopped renewing "
                        "its lease (default 20)")
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
    p.add_argument("--max-live-sessions", type=_positive_int, default=8,
                   help="open live sessions, both faces together (default 8; docs/live.md)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load .ckpt/.pt/.pth/.bin weights (with weights_only=True); off by default")
    p.add_argument("--allow-download", action="store_true",
                   help="fetch hub weights that are not cached when a job first needs them (off by default: "
                        "use 'dccbridge models pull' before serving)")
    add_cluster_flags(p)
    p.add_argument("--log-level", default="INFO")
    _add_history_arguments(p)
    p.set_defaults(handler=_serve)


def add_cluster_flags(p) -> None:
    """Cluster mode (docs/cluster.md): this process is the ingress, Ray Serve replicas run the jobs."""
    g = p.add_argument_group("cluster (Ray Serve)")
    g.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="run jobs on Ray Serve replicas of the cluster at ADDRESS (host:port of its head; "
                        "default 'auto': the head on this machine)")
    g.add_argument("--ray-replicas", type=_positive_int, default=1, metavar="N",
                   help="Worker replicas (default 1); the lower bound with --ray-max-replicas")
    g.add_argument("--ray-max-replicas", type=_non_negative_int, default=0, metavar="N",
                   help="autoscale between --ray-replicas and N replicas by queued jobs (default 0: fixed)")
    g.add_argument("--ray-gpus-per-replica", type=float, default=None, metavar="G",
                   help="GPUs each replica reserves (default 1 with --device cuda, else 0)")
    g.add_argument("--ray-cpus-per-replica", type=float, default=1.0, metavar="C",
                   help="CPUs each replica reserves (default 1)")
    g.add_argument("--ray-max-tries", type=_positive_int, default=3, metavar="N",
                   help="runs of a job whose replica dies under it before it fails (default 3)")
    g.add_argument("--ray-attach", action="store_true",
                   help="use the application another ingress deployed, without deploying or scaling it")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _serve(args) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..models.profile import ProfileOptions
    from ..ops import Limits
    from ..jobs.index import StoreError
    from ..serve import ServeConfig, default_data_dir, serve_forever

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
            max_live_sessions=args.max_live_sessions,
            store_url=args.store,
            results_dir=args.results_dir,
            node_id=args.node_id,
            lease_s=args.lease_s,
            limits=Limits(**{name: getattr(args, name) for name in ("max_input_pixels", "max_upscale_input_pixels")
                             if getattr(args, name) is not None}),
            cluster=_cluster_config(args),
            **_history_settings(args),
        )
        return serve_forever(config)
    except (ValueError, OSError, StoreError) as error:
        print(f"dccbridge serve: {error}", file=sys.stderr)
        return 2


def _cluster_config(args):
    """--ray and its companions -> a ClusterConfig (None without --ray)."""
    if args.ray is None:
        return None
    from ..cluster.config import ClusterConfig

    gpus = args.ray_gpus_per_replica
    if gpus is None:
        gpus = 1.0 if args.device == "cuda" else 0.0
    return ClusterConfig(address=args.ray, replicas=args.ray_replicas, max_replicas=args.ray_max_replicas,
                         replica_cpus=args.ray_cpus_per_replica, replica_gpus=gpus, max_tries=args.ray_max_tries,
                         deploy=not args.ray_attach)


def _pixel_count(text: str) -> int:
    """A pixel budget: a count ("16777216") or a size ("4096x4096")."""
    try:
        parts = [int(part) for part in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a pixel count or WIDTHxHEIGHT, got '{text}'")
    return math.prod(parts)


def _add_history_arguments(p) -> None:
    g = p.add_argument_group("history and retention (docs/operations.md)")
    g.add_argument("--admin-token", help="a second token that sees every client's jobs; with one set, callers of "
                                         "--token see only their own client's jobs (prefer --admin-token-file)")
    g.add_argument("--admin-token-file", type=Path, help="read the admin token from a file")
    g.add_argument("--keep-days", type=float, default=0.0, metavar="D",
                   help="remove result files of jobs finished more than D days ago (default 0: keep)")
    g.add_argument("--keep-bytes", default="0", metavar="SIZE",
                   help="remove the oldest jobs' result files while they take more than SIZE in all, e.g. 20G "
                        "(default 0: no limit)")
    g.add_argument("--retention-interval-s", type=_positive_float, default=600.0, metavar="S",
                   help="how often the retention sweep runs, besides once at start (default 600)")


def _history_settings(args) -> dict:
    """--admin-token(-file), --keep-days, --keep-bytes -> ServeConfig fields; ValueError names the option."""
    from ..jobs.retention import parse_size

    admin = args.admin_token or (args.admin_token_file.read_text().strip() if args.admin_token_file else None)
    try:
        keep_bytes = parse_size(args.keep_bytes)
    except ValueError as error:
        raise ValueError(f"--keep-bytes: {error}") from None
    if args.keep_days < 0:
        raise ValueError(f"--keep-days must be 0 (keep) or more, got {args.keep_days:g}")
    return {"admin_token": admin or None, "keep_days": args.keep_days, "keep_bytes": keep_bytes,
            "retention_interval_s": args.retention_interval_s}


def _serve_token(args) -> str | None:
    """--token, else --token-file, else $DCCBRIDGE_TOKEN."""
    if args.token:
        return args.token
    if args.token_file:
        return args.token_file.read_text().strip()
    return os.environ.get(TOKEN_ENV) or None
