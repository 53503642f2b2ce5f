"""What a catalog needs from the Hugging Face hub: which files, whether they are cached, and fetching them.

Only `dccbridge models pull` (and `serve --allow-download`) touch the network; the server's loaders call
`cached_folder` / `cached_file`, which read the local cache only.

A hub source is a repo id (`owner/name`, a diffusers pipeline or a single model folder) or one file in a repo
(`hf://owner/name/path/file.safetensors`). Only the files a loader reads are fetched:
- a pipeline (the repo has model_index.json): model_index.json, and for each component it lists (the safety
  checker excepted) its *.json / *.txt files and its `.safetensors` weights of the wanted variant;
- a model folder (ControlNet, depth estimator): config.json, preprocessor_config.json and the root weights;
- a single file: that file;
- configs only (the component configs a single-file checkpoint of that family is built from): model_index.json and
  each component's *.json / *.txt files, no weights.
Never the `.ckpt`/`.bin` duplicates, other variants or the repo's single-file checkpoints.

Downloads go through huggingface_hub into its cache. Large (LFS) files are fetched first into
`blobs/<etag>.dccbridge-partial` with HTTP Range requests, so a pull that is killed resumes where it stopped
(huggingface_hub 2.x resumes within one process only: its temporary files are per-process), then verified
(sha256) and moved to `blobs/<etag>`, where snapshot_download links them. Every file is then checked against
the repo's tree listing: sha256 for LFS files, the git blob sha1 for small ones.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import (
    HfApi,
    constants,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    scan_cache_dir,
    snapshot_download,
)
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get, repo_folder_name
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import build_hf_headers, disable_progress_bars, filter_repo_objects
from huggingface_hub.utils.sha import git_hash, sha_fileobj

from .catalog import SINGLE_FILE_KINDS, HUB_FILE_PREFIX, classify_source, is_hub_file, parse_hub_file, \
    single_file_config

log = logging.getLogger("dccbridge.hub")

DEFAULT_REVISION = "main"
SKIPPED_COMPONENTS = frozenset({"safety_checker"})  # the server loads pipelines with safety_checker=None
WEIGHT_NAMES = ("diffusion_pytorch_model", "model")
SHARD = "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]"  # as fnmatch: "-00001-of-00002"
ROOT_CONFIGS = ("config.json", "preprocessor_config.json")
PARTIAL_SUFFIX = ".dccbridge-partial"


class HubError(Exception):
    """A pull that cannot complete; the message says what to do."""


class VerificationFailed(HubError):
    pass


class HubUnreachable(HubError):
    pass


@dataclass(frozen=True)
class HubSource:
    """One thing to fetch from the hub: a repo (with a weights variant) or one file in it."""
    repo_id: str
    filename: str = ""  # set: only this file (hf://owner/name/filename)
    variant: str = ""
    revision: str = DEFAULT_REVISION
    configs_only: bool = False  # a repo's component configs, for single-file checkpoints: no weights

    @property
    def label(self) -> str:
        name = f"{HUB_FILE_PREFIX}{self.repo_id}/{self.filename}" if self.filename else self.repo_id
        return name + (f" (variant {self.variant})" if self.variant else "") \
            + (" (configs only)" if self.configs_only else "")

    @property
    def pull_command(self) -> str:
        target = f"{HUB_FILE_PREFIX}{self.repo_id}/{self.filename}" if self.filename else self.repo_id
        return f"dccbridge models pull {target}" + (f" --variant {self.variant}" if self.variant else "") \
            + (" --configs-only" if self.configs_only else "")


@dataclass(frozen=True)
class User:
    """A catalog item a hub source serves. kind: model, controlnet (detail: its control type), configs (a
    single-file model's component configs), upscaler, vae, estimator (id: its kind), preview (a model's TAESD
    preview_vae), or source (a repo named on the
    command line)."""
    kind: str
    id: str
    detail: str = ""

    def __str__(self) -> str:  # for people only: match on the fields
        return {"model": self.id, "source": self.id, "controlnet": f"{self.id} {self.detail} ControlNet",
                "configs": self.id, "upscaler": f"upscaler {self.id}", "vae": f"VAE {self.id}",
                "estimator": f"{self.id} estimator", "preview": f"{self.id} preview VAE",
                "ip_adapter": f"{self.id} IP-Adapter {self.detail}",
                "image_encoder": f"{self.id} IP-Adapter {self.detail} image encoder"}[self.kind]


# What `models pull --models CATALOG ID` fetches for an id: everything its model, upscaler or VAE entry names.
PULLABLE_BY_ID = ("model", "controlnet", "configs", "upscaler", "vae", "preview", "ip_adapter", "image_encoder")
# A transformers model folder inside a repo, named by its weights file (an IP-Adapter's image encoder,
# hf://h94/IP-Adapter/models/image_encoder/model.safetensors): its config.json comes with it.
WITH_CONFIG_SUFFIX = "image_encoder/model.safetensors"


@dataclass
class Need:
    """A hub source and the catalog items it serves."""
    source: HubSource
    users: list[User] = field(default_factory=list)

    def serves(self, catalog_id: str) -> bool:
        return any(user.kind in PULLABLE_BY_ID and user.id == catalog_id for user in self.users)

    @property
    def users_label(self) -> str:
        return ", ".join(map(str, self.users))


@dataclass(frozen=True)
class Readiness:
    need: Need
    missing: str = ""  # empty: everything the loader reads is cached

    @property
    def ready(self) -> bool:
        return not self.missing


def source_for(source: str, variant: str = "", configs_only: bool = False) -> HubSource:
    """The HubSource for a catalog source string that is a repo id or an hf:// file."""
    if is_hub_file(source):
        repo_id, filename = parse_hub_file(source)
        return HubSource(repo_id, filename)
    return HubSource(source, variant=variant, configs_only=configs_only)


def catalog_needs(catalog) -> list[Need]:
    """Every hub source a catalog names, merged, with the items each serves."""
    needs: dict[HubSource, Need] = {}

    def add(source: str, user: User, variant: str = "", configs_only: bool = False) -> None:
        if _kind(source) in ("hub", "hub_file"):
            key = source_for(source, variant, configs_only)
            needs.setdefault(key, Need(key)).users.append(user)

    for entry in catalog.entries():
        add(entry.source, User("model", entry.id), entry.variant)
        if _kind(entry.source) in (*SINGLE_FILE_KINDS, "hub_file"):  # weights only: configs from a folder or repo
            add(single_file_config(entry), User("configs", entry.id), configs_only=True)
        for control_type, source in entry.controlnets.items():
            add(source, User("controlnet", entry.id, control_type.value))
        if entry.preview_vae:
            add(entry.preview_vae, User("preview", entry.id))
        for adapter in entry.ip_adapters.values():  # only the files read: the weights and the image encoder
            for source, subfolder, name, kind in (
                    (adapter.source, adapter.subfolder, adapter.weight_name, "ip_adapter"),
                    (adapter.image_encoder, adapter.image_encoder_subfolder, "model.safetensors", "image_encoder")):
                inner = "/".join(part for part in (subfolder, name) if part)
                add(f"{HUB_FILE_PREFIX}{source}/{inner}" if _kind(source) == "hub" else source,
                    User(kind, entry.id, adapter.id))
    for upscaler in catalog.upscalers():
        add(upscaler.source, User("upscaler", upscaler.id))
    if "depth" in catalog.estimators:  # the other estimators are controlnet_aux pickles: not pulled
        add(catalog.estimators["depth"], User("estimator", "depth"))
    for vae in catalog.adapters.available("vaes"):  # [vaes.ID] tables may name hub sources; folders hold files
        add(vae.source, User("vae", vae.id))
    return _without_redundant_configs(list(needs.values()))


def _kind(source: str) -> str:
    try:
        return classify_source(source) if source else ""
    except ValueError:
        return ""


def _without_redundant_configs(needs: list[Need]) -> list[Need]:
    """A configs-only need whose repo is also pulled whole (any variant) is served by that pull."""
    whole = {(n.source.repo_id, n.source.revision): n for n in needs if not n.source.filename
             and not n.source.configs_only}
    kept = []
    for need in needs:
        full = whole.get((need.source.repo_id, need.source.revision)) if need.source.configs_only else None
        if full is None:
            kept.append(need)
        else:
            full.users.extend(need.users)
    return kept


# -- which files ----------------------------------------------------------------------------------------------


def allow_patterns(source: HubSource, repo_files: list[str], read_model_index: Callable[[], dict]) -> list[str]:
    """The repo's files a loader reads (see the module docstring)."""
    if source.filename:
        if source.filename.endswith(WITH_CONFIG_SUFFIX):
            return [source.filename, source.filename.rsplit("/", 1)[0] + "/config.json"]
        return [source.filename]

    def weights(folder: str) -> list[str]:
        return [] if source.configs_only else _weight_patterns(folder, source.variant)

    if "model_index.json" in repo_files:
        patterns = ["model_index.json"]
        for component in pipeline_components(read_model_index()):
            patterns += [f"{component}/*.json", f"{component}/*.txt", *weights(f"{component}/")]
        return patterns
    return [*ROOT_CONFIGS, *weights("")]


def pipeline_components(model_index: dict) -> list[str]:
    """The components a server-loaded pipeline reads (model_index.json's entries, the safety checker excepted)."""
    return [name for name, value in model_index.items()
            if not name.startswith("_") and isinstance(value, list) and None not in value
            and name not in SKIPPED_COMPONENTS]


def _weight_patterns(folder: str, variant: str) -> list[str]:
    """The `.safetensors` weights (single, or shards and their index) that diffusers/transformers load, named as
    their save_pretrained writes them (see diffusers' pipeline_loading_utils.variant_compatible_siblings)."""
    patterns = []
    for name in WEIGHT_NAMES:
        stem = f"{folder}{name}"
        if variant:
            patterns += [f"{stem}.{variant}.safetensors",
                         f"{stem}.{variant}{SHARD}.safetensors",  # model.fp16-00001-of-00002.safetensors
                         f"{stem}{SHARD}.{variant}.safetensors",  # older writers' model-00001-of-00002.fp16...
                         f"{stem}.safetensors.index.{variant}.json",
                         f"{stem}.safetensors.{variant}.index.json"]  # older writers' index name
        else:
            patterns += [f"{stem}.safetensors", f"{stem}{SHARD}.safetensors", f"{stem}.safetensors.index.json"]
    return patterns


def cache_dir() -> Path:
    return Path(constants.HF_HUB_CACHE)


# -- the cache, offline ---------------------------------------------------------------------------------------


def _snapshot_folder(source: HubSource) -> Path | None:
    storage = cache_dir() / repo_folder_name(repo_id=source.repo_id, repo_type="model")
    ref = storage / "refs" / source.revision
    commit = ref.read_text().strip() if ref.is_file() else source.revision
    folder = storage / "snapshots" / commit
    return folder if folder.is_dir() else None


def missing_files(source: HubSource) -> str:
    """'' when what the loader reads is in the cache; else a short description of what is missing."""
    folder = _snapshot_folder(source)
    if folder is None:
        return f"'{source.repo_id}' is not in the local cache"
    if source.filename:
        return "" if (folder / source.filename).is_file() else f"'{source.filename}' is not in the local cache"
    present = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    patterns = allow_patterns(source, present, lambda: _read_json(folder / "model_index.json"))
    if source.configs_only:
        problem = "" if "model_index.json" in present else f"no model_index.json of '{source.repo_id}' in the cache"
    else:
        problem = _missing_weights(source, folder, present, patterns)
    if problem:
        return problem
    try:  # with a cached tree listing, huggingface_hub checks that every wanted file is there
        snapshot_download(source.repo_id, revision=source.revision, allow_patterns=patterns, local_files_only=True)
    except LocalEntryNotFoundError as error:
        return str(error).split(". ")[0]
    return ""


def _missing_weights(source: HubSource, folder: Path, present: list[str], patterns: list[str]) -> str:
    weights = [p for p in filter_repo_objects(present, allow_patterns=patterns) if p.endswith(".safetensors")]
    if not weights:
        return f"no {source.variant + ' ' if source.variant else ''}.safetensors weights of '{source.repo_id}' in the cache"
    model_index = folder / "model_index.json"
    if model_index.is_file():  # a component with a model config.json (not a scheduler/tokenizer) needs weights
        lacking = [name for name in pipeline_components(_read_json(model_index)) if f"{name}/config.json" in present
                   and not any(w.startswith(name + "/") for w in weights)]
        if lacking:
            return f"'{source.repo_id}' lacks the weights of {', '.join(lacking)} in the cache"
    return ""


def cached_folder(source: HubSource) -> Path:
    """The snapshot folder of a cached repo; raises HubError naming what is missing and the pull command."""
    missing = missing_files(source)
    if missing:
        raise HubError(not_cached_message(source, missing))
    return _snapshot_folder(source)


def cached_file(source: HubSource) -> Path:
    return cached_folder(source) / source.filename


def not_cached_message(source: HubSource, missing: str) -> str:
    return (f"{missing} (Hugging Face cache: {cache_dir()}); the server never downloads while serving. "
            f"Fetch it with `{source.pull_command}` (on this machine, or on one with access and copy the cache), "
            "start the server with --allow-download, or point `source` in the catalog at a local folder or "
            ".safetensors file.")


def readiness(catalog) -> list[Readiness]:
    return [Readiness(need, missing_files(need.source)) for need in catalog_needs(catalog)]


@dataclass(frozen=True)
class CachedRepo:
    repo_id: str
    size_on_disk: int
    nb_files: int
    path: Path


def cached_repos() -> list[CachedRepo]:
    if not cache_dir().is_dir():
        return []
    info = scan_cache_dir(cache_dir())
    return sorted((CachedRepo(r.repo_id, r.size_on_disk, r.nb_files, r.repo_path)
                   for r in info.repos if r.repo_type == "model"), key=lambda r: r.repo_id)


# -- pulling ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    folder: Path
    files: list[str]
    verified_bytes: int


def pull(source: HubSource, show_progress: bool = True) -> PullResult:
    """Fetch what the loader reads into the cache, resumably, and verify it. Raises HubError."""
    if constants.HF_HUB_OFFLINE:
        raise HubUnreachable(unreachable_message(source, "HF_HUB_OFFLINE=1 is set: huggingface_hub will not go online"))
    if not show_progress:
        disable_progress_bars()  # serve --allow-download: the log says what is fetched
    api = HfApi()
    try:
        commit = api.model_info(source.repo_id, revision=source.revision).sha
        tree = {entry.path: entry for entry in api.list_repo_tree(source.repo_id, recursive=True, revision=commit)
                if isinstance(entry, RepoFile)}
        patterns = allow_patterns(source, list(tree), lambda: _read_json(hf_hub_download(
            source.repo_id, "model_index.json", revision=commit)))
        wanted = sorted(filter_repo_objects(list(tree), allow_patterns=patterns))
        if not wanted or not (source.configs_only or any(path.endswith(".safetensors") for path in wanted)):
            raise HubError(f"{source.label}: the repo has no .safetensors weights this server loads "
                           f"(looked for {', '.join(patterns)}); its files: {', '.join(sorted(tree)[:20])}")
        storage = cache_dir() / repo_folder_name(repo_id=source.repo_id, repo_type="model")
        verified = set()
        for path in wanted:
            if tree[path].lfs is not None and _fetch_lfs_resumably(source, commit, tree[path], storage):
                verified.add(path)
        folder = Path(snapshot_download(source.repo_id, revision=source.revision, allow_patterns=wanted))
    except HubError:
        raise
    except (RepositoryNotFoundError, GatedRepoError) as error:
        raise HubError(f"{source.label}: the hub at {constants.ENDPOINT} does not give access to this repo "
                       f"({type(error).__name__}); check the id, or log in (`hf auth login`) for a gated repo") from error
    except RevisionNotFoundError as error:
        raise HubError(f"{source.label}: revision '{source.revision}' not found") from error
    except (OSError, ConnectionError, HfHubHTTPError, OfflineModeIsEnabled) as error:
        raise HubUnreachable(unreachable_message(source, f"{type(error).__name__}: {error}".splitlines()[0])) from error
    except Exception as error:  # httpx2's connection and timeout errors are not OSErrors
        if type(error).__module__.startswith("httpx"):
            raise HubUnreachable(unreachable_message(source, f"{type(error).__name__}: {error}")) from error
        raise
    size = _verify(folder, wanted, tree, skip=verified)
    return PullResult(folder, wanted, size)


def unreachable_message(source: HubSource, reason: str) -> str:
    return (f"cannot fetch '{source.label}' from the Hugging Face hub at {constants.ENDPOINT} ({reason}). "
            f"What was fetched so far stays in the cache and the next pull resumes. Cache: {cache_dir()}. Either run `{source.pull_command}` on a "
            "machine with access and copy that cache folder here (or set HF_HUB_CACHE to it), or download the "
            "files yourself and point `source` in the catalog at the local diffusers folder or .safetensors file.")


def _fetch_lfs_resumably(source: HubSource, commit: str, entry: RepoFile, storage: Path) -> bool:
    """Fetch one LFS file into blobs/<etag>, resuming a partial file left by an earlier run. True if it fetched
    and verified the file; False if it left the file to snapshot_download (already cached, or Xet storage)."""
    metadata = get_hf_file_metadata(hf_hub_url(source.repo_id, entry.path, revision=commit))
    if metadata.xet_file_data is not None or not metadata.etag:
        return False  # huggingface_hub's Xet client has its own resumable chunk cache
    blob = storage / "blobs" / metadata.etag
    if blob.exists():
        return False
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(metadata.etag + PARTIAL_SUFFIX)
    expected_size = entry.lfs.size
    if partial.exists() and partial.stat().st_size > expected_size:
        partial.unlink()
    with partial.open("ab") as file:
        resume_size = file.tell()
        if resume_size:
            log.info("%s: resuming %s at byte %d of %d", source.repo_id, entry.path, resume_size, expected_size)
        if resume_size < expected_size:
            http_get(metadata.location, file, resume_size=resume_size, expected_size=expected_size,
                     headers=build_hf_headers(), displayed_filename=entry.path)
    with partial.open("rb") as file:
        actual = sha_fileobj(file).hex()
    if actual != entry.lfs.sha256:
        partial.unlink()
        raise VerificationFailed(
            f"{source.label}: '{entry.path}' failed verification (sha256 {actual}, the hub lists "
            f"{entry.lfs.sha256}); the bad download was deleted. Run the pull again; if it fails the same way "
            "the mirror or proxy in between serves corrupted data.")
    os.replace(partial, blob)
    return True


def _verify(folder: Path, wanted: list[str], tree: dict[str, RepoFile], skip: set[str]) -> int:
    """Check each file against the tree listing; delete a bad one (blob and link) and raise."""
    total = 0
    for path in wanted:
        local = folder / path
        total += local.stat().st_size
        if path in skip:
            continue
        entry = tree[path]
        with local.open("rb") as file:
            if entry.lfs is not None:
                algorithm, expected, actual = "sha256", entry.lfs.sha256, sha_fileobj(file).hex()
            else:
                algorithm, expected, actual = "git blob sha1", entry.blob_id, git_hash(file.read())
        if actual != expected:
            blob = local.resolve()
            local.unlink()
            blob.unlink(missing_ok=True)
            raise VerificationFailed(
                f"'{path}' failed verification ({algorithm} {actual}, the hub lists {expected}); the bad file was "
                "deleted from the cache. Run the pull again.")
    return total


def _read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())

