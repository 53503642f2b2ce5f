"""What the operator chooses for a cluster, and what every replica builds (plain, picklable data)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..models.profile import ProfileOptions
from ..ops.limits import Limits

APP_NAME = "dccbridge"
DIRECTORY_NAME = "dccbridge-replicas"
NAMESPACE = "dccbridge"
DEFAULT_MAX_TRIES = 3
# One request per replica: the ingress starts a job only when a live replica is free (RayOpRunner.capacity), so a
# job waits in the engine's fair queue, not behind another job on a busy replica, and a replica that holds the model
# but is busy makes Serve route to another one (its multiplexing falls back to the replicas with fewest models).
REQUESTS_PER_REPLICA = 1
MAX_PARALLEL_JOBS = 64  # the engine's worker threads in cluster mode; the live replica count gates them


@dataclass(frozen=True)
class ReplicaSettings:
    """How each replica builds its ModelManager: the same catalog as the ingress (a --models path must exist on
    every node), on the replica's own device."""

    models: str | None = None
    preset: str = "tiny"
    device: str = "auto"
    dtype: str = "auto"
    profile: ProfileOptions = field(default_factory=ProfileOptions)
    prompt_cache_size: int = 64
    allow_pickle: bool = False
    allow_download: bool = False
    limits: Limits = field(default_factory=Limits)
    preload_default: bool = True  # load the catalog's default model before the replica takes jobs


@dataclass(frozen=True)
class ClusterConfig:
    """`dccbridge serve --ray ADDRESS ...`: where the Ray cluster is and the shape of the Worker deployment."""

    address: str = "auto"   # a Ray cluster address (host:port, ray://..., "auto" = the local head)
    app_name: str = APP_NAME
    replicas: int = 1       # replicas at deploy time; the lower autoscaling bound when max_replicas is larger
    max_replicas: int = 0   # 0: no autoscaling (replicas is fixed); else Serve scales between the two
    replica_cpus: float = 1.0
    replica_gpus: float = 0.0  # 1 per replica on GPU boxes (each replica then owns one card)
    max_tries: int = DEFAULT_MAX_TRIES  # runs of one job on replicas that die under it, then ReplicaLost
    models_per_replica: int = 2  # Serve's multiplexing: models a replica keeps for routing (LRU beyond)
    deploy: bool = True     # False: attach to the running application only (another ingress deployed it)

    def __post_init__(self):
        if self.replicas < 1:
            raise ValueError(f"--ray-replicas must be 1 or more, got {self.replicas}")
        if self.max_replicas and self.max_replicas < self.replicas:
            raise ValueError(f"--ray-max-replicas must be 0 (fixed) or at least --ray-replicas ({self.replicas}), "
                             f"got {self.max_replicas}")
        if self.max_tries < 1:
            raise ValueError(f"--ray-max-tries must be 1 or more, got {self.max_tries}")
        if self.models_per_replica < 1:
            raise ValueError(f"--ray-models-per-replica must be 1 or more, got {self.models_per_replica}")

    @property
    def most_replicas(self) -> int:
        return max(self.replicas, self.max_replicas)

    def parallel_jobs(self) -> int:
        """Worker threads at the ingress: enough for any replica count the deployment grows to (scaled or
        autoscaled); how many jobs actually run is gated by the live replicas."""
        return max(MAX_PARALLEL_JOBS, self.most_replicas * REQUESTS_PER_REPLICA)


def settings_version(settings: ReplicaSettings) -> str:
    """The Worker's code version: equal settings give equal versions, so redeploying with another replica count is
    a lightweight update (running replicas stay) and a second ingress with the same settings changes nothing."""
    from .. import __version__

    text = json.dumps(asdict(settings), sort_keys=True, default=str)
    return f"{__version__}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
