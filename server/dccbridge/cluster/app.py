"""Connecting an ingress to Ray, deploying (or attaching to) the Worker application, scaling it, and what
GetCapabilities shows of it."""

from __future__ import annotations

import logging
import os
import threading

import ray
from ray import serve

from .config import NAMESPACE, REQUESTS_PER_REPLICA, ClusterConfig, ReplicaSettings, settings_version
from .directory import live_replicas
from .worker import Worker

log = logging.getLogger("dccbridge.cluster")
REFRESH_S = 0.5  # how often the ingress re-reads the replica listing (its job capacity follows it)


def connect(address: str) -> None:
    """Join the Ray cluster as a driver (once per process)."""
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)


def worker_deployment(config: ClusterConfig, settings: ReplicaSettings):
    """The Worker deployment with the config's replicas, resources and autoscaling bounds."""
    options = {
        "ray_actor_options": {"num_cpus": config.replica_cpus, "num_gpus": config.replica_gpus},
        "max_ongoing_requests": REQUESTS_PER_REPLICA,
        # A replica loads its default model before it is ready: give it time on a slow disk.
        "health_check_timeout_s": 60,
        "graceful_shutdown_timeout_s": 30,
    }
    if config.max_replicas > config.replicas:
        options["autoscaling_config"] = {
            "min_replicas": config.replicas,
            "max_replicas": config.max_replicas,
            "target_ongoing_requests": 1,
            "upscale_delay_s": 2,
            "downscale_delay_s": 120,
        }
    else:
        options["num_replicas"] = config.replicas
    # A fixed version (internal option): redeploying equal settings with another replica count keeps the running
    # replicas (a lightweight update) instead of replacing them all.
    return Worker.options(version=settings_version(settings), _internal=True, **options)


def deploy(config: ClusterConfig, settings: ReplicaSettings):
    """Deploy (or update) the application; returns the Worker handle once its replicas run."""
    deployment = worker_deployment(config, settings)
    # Our ingress is the dccbridge server itself (its gRPC and HTTP faces): Serve's own HTTP proxies stay off.
    # Only the first start on a cluster applies this; later calls connect to the running Serve.
    serve.start(proxy_location="Disabled")
    return serve.run(deployment.bind(settings), name=config.app_name, route_prefix=None)


def attach(config: ClusterConfig):
    return serve.get_deployment_handle("Worker", app_name=config.app_name)


class ClusterLink:
    """The ingress's side of the cluster: the Worker handle (deployed in the background at start, so the faces
    answer at once, NOT_SERVING until then) and the replica listing for GetCapabilities."""

    def __init__(self, config: ClusterConfig, settings: ReplicaSettings):
        self.config = config
        self.settings = settings
        self._handle = None
        self.ready = threading.Event()
        self.error: Exception | None = None
        self.live: list[dict] = []  # the replicas' latest reports, refreshed in the background
        self._closed = threading.Event()

    def start(self) -> None:
        """Connect and deploy (blocking); raises when Ray or the application cannot be reached."""
        try:
            connect(self.config.address)
            self._handle = deploy(self.config, self.settings) if self.config.deploy else attach(self.config)
        except Exception as error:
            self.error = error
            raise
        finally:
            self.ready.set()
        self.refresh()
        threading.Thread(target=self._keep_fresh, name="dccbridge-replicas", daemon=True).start()

    def refresh(self) -> list[dict]:
        try:
            self.live = live_replicas()
        except Exception as error:  # noqa: BLE001 - the last listing stays; jobs still run
            log.warning("could not list the cluster's replicas: %s", error)
        return self.live

    def _keep_fresh(self) -> None:
        while not self._closed.wait(REFRESH_S):
            self.refresh()

    def capacity(self) -> int:
        """Jobs that may run now: one per live replica that has loaded and takes jobs."""
        return sum(1 for info in self.live if info.get("state") in ("idle", "busy")) * REQUESTS_PER_REPLICA

    def close(self) -> None:
        self._closed.set()

    def handle(self):
        self.ready.wait()
        if self._handle is None:
            raise RuntimeError(f"the cluster application is not available: {self.error}")
        return self._handle

    def scale(self, replicas: int):
        """Redeploy with another replica count (the running replicas stay)."""
        config = ClusterConfig(**{**self.config.__dict__, "replicas": replicas,
                                  "max_replicas": max(self.config.max_replicas, replicas)
                                  if self.config.max_replicas else 0})
        self._handle = deploy(config, self.settings)
        self.config = config
        self.refresh()
        return self._handle

    def replicas(self) -> list[dict]:
        if not self.ready.is_set() or self._handle is None:
            return []
        return self.refresh()
