"""`models pull` / `models list` / `doctor` / `serve --preset` against a stand-in hub: the real huggingface_hub
client (in a subprocess with HF_ENDPOINT, or in this process with its constants patched: `in_process_hub`, pointing
at tests/hub_stub.py) downloads into a temporary cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import constants

from huggingface_hub.utils import filter_repo_objects
from safetensors.torch import save_file

from conftest import generate_task, pixels, result_of, running_server, run_to_end
from dccbridge.cli import main
from dccbridge.cli.models import _needs_of_id
from dccbridge.client import Client
from dccbridge.doctor import report
from dccbridge.errors import ModelUnavailable
from dccbridge.models import Catalog, ModelManager, hub
from dccbridge.models.weights_hash import WeightsHasher, short_hash
from dccbridge.v1 import jobs_pb2, tasks_pb2
from hub_stub import HubStub, StubRepo
from test_models import generate, original_sd_checkpoint, tiny_pipeline

DCCBRIDGE = [sys.executable, "-m", "dccbridge.cli"]
CHUNK = constants.DOWNLOAD_CHUNK_SIZE  # huggingface_hub writes to disk in chunks of this size
TINY_REPO = "stub/tiny-sd15"
VAE_REPO = "stub/tiny-vae"  # a diffusers VAE folder, named by a [vaes.hub-vae] table
PICKLES_AND_EXTRAS = {  # what a real repo carries beside the files the server loads: never fetched
    "unet/diffusion_pytorch_model.bin": b"pickle duplicate",
    "v1-5-pruned-emaonly.ckpt": b"single-file pickle",
    "unet/diffusion_pytorch_model.fp16.safetensors": b"another variant",
    "safety_checker/config.json": b"{}",
    "safety_checker/model.safetensors": b"safety checker weights",
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from diffusers import StableDiffusionPipeline

    from dccbridge.models.tiny import build_tiny_sd15

    folder = tmp_path_factory.mktemp("tiny-sd15")
    StableDiffusionPipeline(**build_tiny_sd15(), requires_safety_checker=False).save_pretrained(
        folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory):
    from test_adapters import make_vae

    folder = tmp_path_factory.mktemp("tiny-vae")
    make_vae(7).save_pretrained(folder)
    return folder


@pytest.fixture
def stub(tiny_folder, vae_folder):
    hub = HubStub()
    hub.add(TINY_REPO, StubRepo.from_folder(tiny_folder, PICKLES_AND_EXTRAS))
    hub.add(VAE_REPO, StubRepo.from_folder(vae_folder, {"diffusion_pytorch_model.bin": b"pickle duplicate"}))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(tmp_path, stub):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(HF_ENDPOINT=stub.url, HF_HUB_CACHE=str(tmp_path / "hub-cache"), HF_HOME=str(tmp_path / "hf-home"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_ETAG_TIMEOUT="10", HF_HUB_DOWNLOAD_TIMEOUT="10")
    return env


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text(f'[models.tiny-hub]\nfamily = "sd15"\nsource = "{TINY_REPO}"\n\n'
                    f'[vaes.hub-vae]\nfamily = "sd15"\nsource = "{VAE_REPO}"\n')
    return path


@pytest.fixture
def in_process_hub(stub, tmp_path, monkeypatch):
    """huggingface_hub in this process talks to the stand-in hub (online) and caches in a temporary folder."""
    monkeypatch.setattr(constants, "ENDPOINT", stub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", stub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    return {"HF_HUB_CACHE": constants.HF_HUB_CACHE}


def cli(env, *args, timeout=180):
    return subprocess.run([*DCCBRIDGE, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def cached_files(env, repo_id) -> list[str]:
    snapshots = os.path.join(env["HF_HUB_CACHE"], "models--" + repo_id.replace("/", "--"), "snapshots")
    return sorted(os.path.relpath(os.path.join(root, name), os.path.join(snapshots, commit))
                  for commit in os.listdir(snapshots)
                  for root, _, names in os.walk(os.path.join(snapshots, commit)) for name in names)


def test_pull_fetches_only_what_the_loader_reads_and_a_server_generates_from_it(stub, hub_env, catalog, tmp_path,
                                                                                monkeypatch):
    before = cli(hub_env, "doctor", "--models", catalog)
    assert before.returncode == 0, before.stderr
    assert "NOT READY" in before.stdout and f"dccbridge models pull --models {catalog}" in before.stdout
    assert "torch" in before.stdout and hub_env["HF_HUB_CACHE"] in before.stdout

    pulled = cli(hub_env, "models", "pull", "--models", catalog)
    assert pulled.returncode == 0, pulled.stderr
    assert "verified" in pulled.stdout and hub_env["HF_HUB_CACHE"] in pulled.stdout
    files = cached_files(hub_env, TINY_REPO)
    assert "unet/diffusion_pytorch_model.safetensors" in files and "model_index.json" in files
    assert "tokenizer/tokenizer_config.json" in files
    fetched = {path for method, path, _ in stub.requests if method == "GET"}
    for extra in PICKLES_AND_EXTRAS:
        assert extra not in files and not any(p.endswith(extra) for p in fetched), extra
    assert cached_files(hub_env, VAE_REPO) == ["config.json", "diffusion_pytorch_model.safetensors"]

    listed = cli(hub_env, "models", "list", "--models", catalog)
    assert listed.returncode == 0, listed.stderr
    assert TINY_REPO in listed.stdout and f"{catalog}:tiny-hub" in listed.stdout
    assert f"{catalog}:VAE hub-vae" in listed.stdout
    after = cli(hub_env, "doctor", "--models", catalog)
    assert f"catalog {catalog}: ready (2 hub source(s) cached)" in after.stdout, after.stdout

    # The server (in this process, HF_HUB_OFFLINE as in CI) loads the pulled snapshots from the cache.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", hub_env["HF_HUB_CACHE"])
    with running_server(tmp_path / "data", models=catalog) as server:
        assert server.load_error is None, server.load_error
        with Client(f"127.0.0.1:{server.port}") as client:
            result = result_of(run_to_end(client, generate_task(size=64, steps=2)))
            task = generate_task(size=64, steps=2, adapters=tasks_pb2.Adapters(vae_id="hub-vae"))
            with_vae = result_of(run_to_end(client, task)).images[0]
    assert result.images[0].image.data.startswith(b"\x89PNG")
    assert "VAE: hub-vae" in with_vae.parameters
    assert (pixels(with_vae.image.data) != pixels(result.images[0].image.data)).any()


def test_pull_by_id_takes_a_vae_id(catalog):
    loaded = Catalog.from_toml(catalog)
    [need] = _needs_of_id(hub.catalog_needs(loaded), loaded, "hub-vae")
    assert (need.source.repo_id, need.users_label) == (VAE_REPO, "VAE hub-vae")


def test_pull_by_id_matches_the_id_not_words_of_other_items_labels(tmp_path):
    path = tmp_path / "collide.toml"
    path.write_text("""
[models.depth]
source = "acme/model-depth"
[models.depth.controlnets]
canny = "acme/canny"
[models.VAE]
source = "acme/model-vae"
[upscalers.upscaler]
kind = "sd_x4"
source = "acme/x4"
[estimators.depth]
source = "acme/dpt"
[vaes.other]
family = "sd15"
source = "acme/vae"
""")
    loaded = Catalog.from_toml(path)
    needs = hub.catalog_needs(loaded)

    def repos_for(catalog_id):
        return sorted(need.source.repo_id for need in _needs_of_id(needs, loaded, catalog_id))

    # "depth estimator", "VAE other" and "upscaler upscaler" are labels of other items, not these ids.
    assert repos_for("depth") == ["acme/canny", "acme/model-depth"]
    assert repos_for("VAE") == ["acme/model-vae"]
    assert repos_for("upscaler") == ["acme/x4"]
    assert repos_for("other") == ["acme/vae"]


def test_weight_patterns_select_diffusers_and_transformers_names_of_the_variant_only():
    names = {
        "plain": ["diffusion_pytorch_model.safetensors", "model.safetensors"],
        "plain shards": ["diffusion_pytorch_model-00001-of-00002.safetensors",
                         "diffusion_pytorch_model-00002-of-00002.safetensors",
                         "diffusion_pytorch_model.safetensors.index.json"],
        "fp16": ["diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors"],
        # diffusers/transformers save_pretrained(variant="fp16") of a sharded model today ...
        "fp16 shards": ["model.fp16-00001-of-00002.safetensors", "model.fp16-00002-of-00002.safetensors",
                        "model.safetensors.index.fp16.json"],
        # ... and as older versions wrote it (diffusers still loads both: variant_compatible_siblings)
        "fp16 shards, older": ["diffusion_pytorch_model-00001-of-00002.fp16.safetensors",
                               "diffusion_pytorch_model-00002-of-00002.fp16.safetensors",
                               "diffusion_pytorch_model.safetensors.fp16.index.json"],
        "never": ["diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin", "model.safetensors.index.bf16.json",
                  "diffusion_pytorch_model.bf16.safetensors", "diffusion_pytorch_model-extra.safetensors",
                  "sd_xl_base_1.0.safetensors", "pytorch_model-00001-of-00002.bin"],
    }
    every_name = sum(names.values(), [])

    def selected(repo_files, variant, model_index=None):
        patterns = hub.allow_patterns(hub.HubSource("acme/x", variant=variant), repo_files, lambda: model_index)
        return set(filter_repo_objects(repo_files, allow_patterns=patterns))

    # A model folder (a ControlNet): the root weights and index files, beside its config.
    folder = ["config.json", *every_name]
    assert selected(folder, "") == {"config.json", *names["plain"], *names["plain shards"]}
    assert selected(folder, "fp16") == {"config.json", *names["fp16"], *names["fp16 shards"],
                                        *names["fp16 shards, older"]}
    # A pipeline: the same names in each component's folder, the safety checker's never.
    pipeline = ["model_index.json", *(f"{component}/{name}" for component in ("unet", "safety_checker")
                                      for name in every_name)]
    model_index = {"unet": ["diffusers", "UNet2DConditionModel"],
                   "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}
    weights = {path.removeprefix("unet/") for path in selected(pipeline, "fp16", model_index)
               if path.endswith(".safetensors")}
    assert weights == {name for name in names["fp16"] + names["fp16 shards"] + names["fp16 shards, older"]
                       if name.endswith(".safetensors")}
    assert not any(path.startswith("safety_checker/") for path in selected(pipeline, "", model_index))


FP16_REPO = "stub/tiny-sd15-fp16"


@pytest.fixture(scope="module")
def tiny_fp16_folder(tmp_path_factory):
    """The tiny pipeline saved as the fp16 variant (the name is what matters: its weights stay float32)."""
    folder = tmp_path_factory.mktemp("tiny-sd15-fp16")
    tiny_pipeline().save_pretrained(folder, safe_serialization=True, variant="fp16")
    return folder


def test_a_pulled_variant_model_serves_jobs_that_record_its_weights_hash(stub, in_process_hub, tiny_fp16_folder,
                                                                        tmp_path, monkeypatch):
    plain_weights = {"unet/diffusion_pytorch_model.safetensors": b"the non-variant weights, never fetched",
                     "text_encoder/model.safetensors": b"the non-variant weights, never fetched"}
    stub.add(FP16_REPO, StubRepo.from_folder(tiny_fp16_folder, plain_weights))
    catalog = tmp_path / "variant.toml"
    catalog.write_text(f'[models.tiny-fp16]\nfamily = "sd15"\nsource = "{FP16_REPO}"\nvariant = "fp16"\n')
    assert main(["models", "pull", "--models", str(catalog)]) == 0
    files = cached_files(in_process_hub, FP16_REPO)
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files and not set(plain_weights) & set(files)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # serving never downloads
    with running_server(tmp_path / "data", models=catalog) as server:
        assert server.load_error is None, server.load_error
        with Client(f"127.0.0.1:{server.port}") as client:
            events = run_to_end(client, generate_task(size=64, steps=2))
    assert events[-1].WhichOneof("event") == "result", events[-1]
    [snapshot] = (Path(in_process_hub["HF_HUB_CACHE"]) / "models--stub--tiny-sd15-fp16" / "snapshots").iterdir()
    expected = short_hash(WeightsHasher().folder_sha256(snapshot))
    assert f"Model hash: {expected}" in result_of(events).images[0].parameters


def test_single_file_models_pull_their_configs_and_load(stub, in_process_hub, catalog, tmp_path, monkeypatch):
    pipe = tiny_pipeline()
    save_file(original_sd_checkpoint(pipe), tmp_path / "tiny.safetensors")
    single = tmp_path / "single.toml"  # its configs come from a hub repo: the tiny pipeline's
    single.write_text(f'[models.single]\nfamily = "sd15"\nsource = "tiny.safetensors"\nconfig = "{TINY_REPO}"\n')
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    doctor = report("cpu", single)
    assert f"catalog {single}: NOT READY" in "\n".join(doctor)
    assert f"    {TINY_REPO} (configs only) (for single)" in "\n".join(doctor)
    assert "preset tiny: ready (no hub sources)" in doctor
    with pytest.raises(ModelUnavailable) as caught:
        ModelManager(Catalog.from_toml(single), device="cpu").load("single")
    assert f"`dccbridge models pull {TINY_REPO} --configs-only`" in caught.value.message
    assert "config = " in caught.value.message

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert main(["models", "pull", "--models", str(single)]) == 0
    files = cached_files(in_process_hub, TINY_REPO)
    assert "model_index.json" in files and "unet/config.json" in files and "tokenizer/tokenizer.json" in files
    assert not [name for name in files if not name.endswith((".json", ".txt"))], files
    assert f"catalog {single}: ready (1 hub source(s) cached)" in report("cpu", single)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = ModelManager(Catalog.from_toml(single), device="cpu").load("single")
    assert (generate(loaded.pipeline) == generate(pipe)).all()  # the weights: the single file's
    # A catalog that also loads the repo whole pulls it once: its full pull holds the configs.
    both = tmp_path / "both.toml"
    both.write_text(single.read_text() + catalog.read_text())
    [need] = [n for n in hub.catalog_needs(Catalog.from_toml(both)) if n.source.repo_id == TINY_REPO]
    assert not need.source.configs_only and need.users_label == "tiny-hub, single"


def test_allow_download_fetches_a_missing_hub_model_on_first_load(stub, in_process_hub, catalog):
    manager = ModelManager(Catalog.from_toml(catalog), device="cpu", allow_download=True)
    assert not (Path(in_process_hub["HF_HUB_CACHE"]) / "models--stub--tiny-sd15").exists()
    loaded = manager.load("tiny-hub")
    assert loaded.pipeline.unet is not None and len(loaded.weights_hash) == 10
    files = cached_files(in_process_hub, TINY_REPO)
    assert "unet/diffusion_pytorch_model.safetensors" in files and not set(PICKLES_AND_EXTRAS) & set(files)


def test_a_missing_model_names_the_pull_command(tmp_path, catalog, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with running_server(tmp_path / "data", models=catalog) as server:
        assert server.load_error is not None
        assert f"dccbridge models pull {TINY_REPO}" in str(server.load_error)
        with Client(f"127.0.0.1:{server.port}") as client:
            failed = run_to_end(client, generate_task(size=64, steps=2))[-1]
    assert failed.failed.code == jobs_pb2.ERROR_CODE_FAILED_PRECONDITION
    assert f"`dccbridge models pull {TINY_REPO}`" in failed.failed.message


def test_serve_preset_with_missing_weights_says_which_command_fetches_them(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(tmp_path / "empty-cache"), HF_HUB_OFFLINE="1")
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([*DCCBRIDGE, "serve", "--preset", "sd15", "--port", "0", "--http-port", "0",
                                    "--data-dir", str(tmp_path / "data"), "--device", "cpu"],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            assert "listening on" in process.stdout.readline()
            deadline = time.monotonic() + 60
            while "did not load" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(30)
    text = log.read_text()
    assert "`dccbridge models pull sd15`" in text
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in text and "did not load" in text


BIG_REPO = "stub/big-controlnet"
BIG_WEIGHTS = "diffusion_pytorch_model.safetensors"


def add_big_repo(stub) -> bytes:
    """A repo with a file larger than one download chunk: bytes reach the disk a chunk at a time."""
    big = os.urandom(CHUNK + 1024 * 1024)
    stub.add(BIG_REPO, StubRepo({"config.json": b'{"_class_name": "ControlNetModel"}', BIG_WEIGHTS: big}))
    return big


def assert_pulled_intact(hub_env, big: bytes) -> None:
    assert cached_files(hub_env, BIG_REPO) == ["config.json", BIG_WEIGHTS]
    snapshots = os.path.join(hub_env["HF_HUB_CACHE"], "models--stub--big-controlnet", "snapshots")
    [commit] = os.listdir(snapshots)
    with open(os.path.join(snapshots, commit, BIG_WEIGHTS), "rb") as file:
        assert hashlib.sha256(file.read()).digest() == hashlib.sha256(big).digest()


def test_a_killed_pull_resumes_with_a_range_request(stub, hub_env):
    big = add_big_repo(stub)
    stub.stall_after[BIG_WEIGHTS] = CHUNK
    blobs = os.path.join(hub_env["HF_HUB_CACHE"], "models--stub--big-controlnet", "blobs")
    partial = os.path.join(blobs, hashlib.sha256(big).hexdigest() + ".dccbridge-partial")
    first = subprocess.Popen([*DCCBRIDGE, "models", "pull", BIG_REPO], env=hub_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (os.path.exists(partial) and os.path.getsize(partial) == CHUNK) and time.monotonic() < deadline:
        time.sleep(0.1)
    first.kill()  # the process dies in the middle of the file
    first.wait(10)
    assert os.path.getsize(partial) == CHUNK

    second = cli(hub_env, "models", "pull", BIG_REPO)
    assert second.returncode == 0, second.stderr
    assert stub.ranges_for(BIG_WEIGHTS) == ["", f"bytes={CHUNK}-"]
    assert_pulled_intact(hub_env, big)
    assert not os.path.exists(partial)


def test_a_dropped_connection_resumes_within_the_pull(stub, hub_env):
    big = add_big_repo(stub)
    stub.hang_up_after[BIG_WEIGHTS] = CHUNK + 1000
    pulled = cli(hub_env, "models", "pull", BIG_REPO)
    assert pulled.returncode == 0, pulled.stderr
    assert stub.ranges_for(BIG_WEIGHTS) == ["", f"bytes={CHUNK}-"]
    assert_pulled_intact(hub_env, big)


def test_corrupted_bytes_fail_verification_and_are_not_kept(stub, hub_env):
    weights = "unet/diffusion_pytorch_model.safetensors"
    stub.corrupt.add(weights)
    pulled = cli(hub_env, "models", "pull", TINY_REPO)
    assert pulled.returncode == 1
    assert "failed verification" in pulled.stderr and weights in pulled.stderr
    blob = hashlib.sha256(stub.repos[TINY_REPO].files[weights]).hexdigest()
    blobs = os.path.join(hub_env["HF_HUB_CACHE"], "models--stub--tiny-sd15", "blobs")
    assert not any(name.startswith(blob) for name in os.listdir(blobs))


def test_an_unreachable_hub_names_the_repo_the_cache_and_local_files(hub_env, catalog):
    hub_env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: nothing listens
    pulled = cli(hub_env, "models", "pull", "--models", catalog)
    assert pulled.returncode == 1
    assert TINY_REPO in pulled.stderr and hub_env["HF_HUB_CACHE"] in pulled.stderr
    assert "local diffusers folder" in pulled.stderr
