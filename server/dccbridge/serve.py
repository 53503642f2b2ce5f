"""The composition root of `dccbridge serve`: catalog -> model manager -> ops -> job engine -> faces."""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .api.capabilities import add_replicas, build_capabilities
from .api.grpc_server import GrpcFace
from .api.http_server import HttpFace
from .api.security import AdminAccess, TlsFiles, clear_text_token_warning, require_token_off_loopback
from .api.service import DEFAULT_MAX_STREAMS, DccBridgeService, StreamSlots, request_from_payload
from .api.servicer import DccBridgeServicer
from .cluster.config import ClusterConfig, ReplicaSettings
from .jobs import Engine, EngineLimits, open_store
from .jobs.store import DEFAULT_LEASE_S
from .metrics import Metrics
from .models import Catalog, ModelManager
from .models.profile import ProfileOptions, set_compile_cache
from .models.prompt_cache import DEFAULT_PROMPT_CACHE_SIZE
from .models.schedulers import SCHEDULER_OPTIONS
from .ops import Limits, OpEnv, Ops

log = logging.getLogger("dccbridge")

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dccbridge"


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    http_port: int | None = 50052  # the HTTP/1.1 face (Connect, gRPC-Web); None = off
    token: str | None = None  # required as "authorization: Bearer <token>" on both faces when set
    tls_cert: Path | None = None  # PEM; with tls_key, both faces speak TLS only
    tls_key: Path | None = None
    cors_origins: tuple[str, ...] = ("*",)
    models: Path | None = None   # a catalog TOML; None = the preset
    preset: str = "tiny"
    data_dir: Path = field(default_factory=default_data_dir)
    device: str = "auto"
    dtype: str = "auto"  # float16 on CUDA/MPS, float32 on CPU; or float16, bfloat16, float32
    profile: ProfileOptions = field(default_factory=ProfileOptions)  # --no-channels-last, --compile, ...
    prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE  # prompt embeddings kept per model; 0 = off
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_queue: int = 16
    max_queued_input_bytes: int = EngineLimits.max_queued_input_bytes
    max_attempts: int = EngineLimits.max_attempts
    max_streams: int = DEFAULT_MAX_STREAMS  # open Watch/Run streams + long-polls, both faces together
    allow_pickle: bool = False
    allow_download: bool = False  # fetch a hub source that is not cached when a job first needs it
    grace_s: float = 30.0
    batch_window_ms: int = 30  # cross-request batching: how long a batchable job waits for company; 0 = off
    max_batch_jobs: int = 8
    max_live_sessions: int = EngineLimits.max_live_sessions  # open live sessions, both faces together
    limits: Limits = field(default_factory=Limits)
    store_url: str | None = None  # the job index: None = sqlite:///DATA_DIR/jobs.sqlite3; postgresql://... shared
    results_dir: Path | None = None  # result files: None = DATA_DIR/results; a shared path for a cluster
    node_id: str | None = None  # this process in a shared store (default: unique per process; docs/job-store.md)
    lease_s: float = DEFAULT_LEASE_S  # another node takes this node's jobs over this long after it stops renewing
    admin_token: str | None = None  # sees every client's jobs; with it set, the ordinary token sees its own only
    keep_days: float = 0.0  # retention: result files of jobs finished longer ago are removed; 0 = kept
    keep_bytes: int = 0  # retention: result files beyond this total are removed, oldest first; 0 = no limit
    retention_interval_s: float = 600.0  # how often the retention sweep runs (and once at start)
    cluster: ClusterConfig | None = None  # --ray: jobs run on Ray Serve replicas (docs/cluster.md)


class Server:
    """One process: the engine with its worker, the gRPC face and the HTTP face over one service.
    Used by the CLI, tests and benchmarks."""

    def __init__(self, config: ServeConfig):
        require_token_off_loopback(config.host, config.token)
        if (config.tls_cert is None) != (config.tls_key is None):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        self.config = config
        self.tls = TlsFiles(config.tls_cert, config.tls_key) if config.tls_cert else None
        warning = clear_text_token_warning(config.host, config.token, self.tls is not None)
        if warning:
            log.warning(warning)
        catalog = Catalog.from_toml(config.models) if config.models else Catalog.preset(config.preset)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.metrics = Metrics(default_model=catalog.default_id)
        if config.profile.compile or any(entry.profile.get("compile") for entry in catalog.entries()):
            set_compile_cache(config.data_dir)
        self.manager = ModelManager(catalog, device=config.device, allow_pickle=config.allow_pickle,
                                    dtype=config.dtype, hash_cache_file=Path(config.data_dir) / "weights-hashes.json",
                                    allow_download=config.allow_download, on_load=self.metrics.model_loaded,
                                    profile=config.profile, prompt_cache_size=config.prompt_cache_size)
        self.env = OpEnv(self.manager, config.limits)
        self.store = open_store(Path(config.data_dir), config.store_url, config.results_dir, config.node_id,
                                config.lease_s)
        log.info("job store: %s (node %s)", self.store.describe(), self.store.node_id)
        self.cluster = None
        runner = Ops(self.env)
        if config.cluster is not None:
            runner = self._cluster_runner(config, runner)
        limits = EngineLimits(max_queue=config.max_queue, max_queued_input_bytes=config.max_queued_input_bytes,
                              max_attempts=config.max_attempts,
                              batch_window_ms=0 if config.cluster else config.batch_window_ms,
                              max_batch=config.max_batch_jobs, max_live_sessions=config.max_live_sessions)
        self.engine = Engine(self.store, runner, limits, __version__,
                             decode_payload=request_from_payload, observer=self.metrics)
        if config.admin_token and config.admin_token == config.token:
            raise ValueError("--admin-token must differ from --token (the ordinary token would see every job)")
        token = AdminAccess(config.token, config.admin_token)
        self.service = service = DccBridgeService(self.engine, self.capabilities, token,
                                                  StreamSlots(config.max_streams), self.metrics)
        self.metrics.track(self.engine, lambda: service.streams.open, self.manager.device_memory_bytes)
        self.grpc = GrpcFace(DccBridgeServicer(service), config.max_message_bytes)
        self.http = (HttpFace(service, config.max_message_bytes, config.cors_origins, self.metrics, token)
                     if config.http_port is not None else None)
        self.port = 0
        self.http_port = 0
        self.ready = threading.Event()    # the default model is loaded: SERVING
        self.settled = threading.Event()  # the default model loaded or failed (load_error)
        self.load_error: Exception | None = None

    def _cluster_runner(self, config: ServeConfig, local_ops: Ops):
        """Cluster mode: the engine's jobs go to Ray Serve replicas built from the same settings; the ingress
        validates locally and loads no model. Batching stays off at the ingress (each replica runs one job)."""
        from .cluster.app import ClusterLink
        from .cluster.runner import RayOpRunner

        settings = ReplicaSettings(models=str(config.models) if config.models else None, preset=config.preset,
                                   device=config.device, dtype=config.dtype, profile=config.profile,
                                   prompt_cache_size=config.prompt_cache_size, allow_pickle=config.allow_pickle,
                                   allow_download=config.allow_download, limits=config.limits)
        self.cluster = ClusterLink(config.cluster, settings)
        return RayOpRunner(local_ops, self.cluster, config.cluster.max_tries,
                           config.cluster.parallel_jobs(), self.manager.catalog.default_id)

    def capabilities(self):
        response = build_capabilities(self.manager, self.config.limits, self.config.max_message_bytes,
                                      self.config.max_queue, SCHEDULER_OPTIONS, self.env.estimators,
                                      store_kind=self.store.index.kind)
        if self.cluster is not None:
            add_replicas(response, self.cluster.replicas())
        return response

    def start(self) -> "Server":
        self.port = self.grpc.bind(self.config.host, self.config.port, self.tls)
        if self.http is not None:
            self.http_port = self.http.bind(self.config.host, self.config.http_port, self.tls)
        self.engine.start()
        self.grpc.start()
        if self.http is not None:
            self.http.start()
        if not self.config.allow_download:
            self._report_missing_downloads()
        threading.Thread(target=self._load_default_model, name="dccbridge-loader", daemon=True).start()
        return self

    def _report_missing_downloads(self) -> None:
        """Name, at start, the hub weights that are not cached and the one command that fetches them."""
        from .models.hub import readiness

        missing = [item for item in readiness(self.manager.catalog) if not item.ready]
        if not missing:
            return
        if self.config.models:
            command = f"dccbridge models pull --models {self.config.models}"
        else:
            command = f"dccbridge models pull {self.config.preset}"
        for item in missing:
            log.warning("%s (for %s): %s", item.need.source.label, item.need.users_label, item.missing)
        log.warning("%d hub source(s) of the catalog are not in the local cache; jobs that need them fail until "
                    "you run `%s` (or restart with --allow-download)", len(missing), command)

    def listening(self) -> str:
        """Where each face listens, e.g. '127.0.0.1:50051 (gRPC), 127.0.0.1:50052 (HTTP: Connect, gRPC-Web)'."""
        faces = [f"{self.config.host}:{self.port} (gRPC)"]
        if self.http is not None:
            faces.append(f"{self.config.host}:{self.http_port} (HTTP: Connect, gRPC-Web)")
        notes = [note for note, on in (("TLS", self.tls), ("token required", self.config.token)) if on]
        return ", ".join(faces) + (f"; {', '.join(notes)}" if notes else "")

    def _load_default_model(self) -> None:
        """Health says NOT_SERVING until the default model is loaded (cluster mode: until the replicas run it)."""
        try:
            if self.cluster is not None:
                self.cluster.start()
            else:
                self.manager.load(self.manager.catalog.default_id)
        except Exception as error:  # noqa: BLE001 - reported, the server keeps answering
            self.load_error = error
            log.error("the default model '%s' did not load: %s", self.manager.catalog.default_id, error)
        else:
            self.grpc.set_serving(True)
            self.ready.set()
            log.info("default model '%s' loaded; SERVING", self.manager.catalog.default_id)
        finally:
            self.settled.set()

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking work, let the running job finish within the grace period, close the index. Queued jobs
        (and a running job that outlives the grace period) stay queued in the index: the next start runs them."""
        grace = self.config.grace_s if grace_s is None else grace_s
        self.grpc.health.enter_graceful_shutdown()
        self.engine.shutdown(grace)
        if self.cluster is not None:
            self.cluster.close()  # the replicas stay: the cluster outlives its ingresses
        self.grpc.stop(2.0)
        if self.http is not None:
            self.http.stop()
        self.store.close()


def serve_forever(config: ServeConfig) -> int:
    server = Server(config).start()
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: finishing the running job (grace %.0f s), then exiting",
                 signal.Signals(signum).name, config.grace_s)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Tests and scripts parse this line to find ephemeral ports; the gRPC port comes first.
    print(f"dccbridge {__version__} listening on {server.listening()}", flush=True)
    stop.wait()
    server.stop()
    print("dccbridge stopped", flush=True)
    return 0
