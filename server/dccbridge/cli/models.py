"""`dccbridge models`, `doctor` and `jobs`: catalogs, cached weights, this machine, a server's jobs."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import DEFAULT_SERVER, connect, connection_flags, write_results
from .jobs_filters import add_filter_flags, list_request


# -- models and jobs --------------------------------------------------------------------------------


def add_models_parser(commands) -> None:
    p = commands.add_parser("models", help="list a catalog's models (or a running server's); pull / list cached "
                                           "hub weights")
    p.add_argument("--models", type=Path, help="catalog TOML (default: the --preset)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--server", help="ask a running server instead (HOST:PORT)")
    connection_flags(p)
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
    from ..models import Catalog
    from ..models.catalog import HUB_REPO_ID, PRESETS_DIR, is_hub_file
    from ..models.hub import HubError, HubUnreachable, Need, User, catalog_needs, pull, source_for

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
    from ..models import Catalog
    from ..models.catalog import PRESETS_DIR
    from ..models.hub import cache_dir, catalog_needs, cached_repos

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


def add_doctor_parser(commands) -> None:
    p = commands.add_parser("doctor", help="device, VRAM, library versions, and which presets are ready")
    p.add_argument("--models", type=Path, help="also check this catalog TOML")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--store", metavar="URL", help="also open this job store (sqlite:///PATH, postgresql://...)")
    p.set_defaults(handler=_doctor)


def _doctor(args) -> int:
    from ..doctor import report

    try:
        for line in report(args.device, args.models, args.store):
            print(line)
    except ValueError as error:
        print(f"dccbridge doctor: {error}", file=sys.stderr)
        return 2
    return 0


def _models(args) -> int:
    if args.server:
        from ..v1 import control_pb2

        with connect(args) as client:
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
    from ..models import Catalog

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


def add_jobs_parser(commands) -> None:
    p = commands.add_parser("jobs", help="list jobs on a server, or fetch a job's results")
    p.add_argument("action", choices=("list", "fetch", "cancel"))
    p.add_argument("job_id", nargs="?")
    p.add_argument("--server", default=DEFAULT_SERVER)
    connection_flags(p)
    p.add_argument("-o", "--output", type=Path, help="fetch: output PNG")
    add_filter_flags(p)
    p.set_defaults(handler=_jobs)


def _jobs(args) -> int:
    import grpc

    from ..v1 import jobs_pb2

    with connect(args) as client:
        try:
            if args.action == "list":
                for job in client.list_jobs(**list_request(args)).jobs:
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
