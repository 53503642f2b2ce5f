"""The speed engine on the tiny preset, through a real server: the execution profile (capabilities, provenance,
catalog switches), TAESD previews, few-step sampling (LCM, TCD, a few-step LoRA, turbo), classifier-free guidance
skipped at guidance <= 1, and the prompt-embedding cache, whose hits give the pixels of an uncached run bit for bit.
"""

from __future__ import annotations

import io
import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from dccbridge.client import Client
from dccbridge.models import Catalog
from dccbridge.models.preview_decoder import PreviewDecoder, _diffusers_keys
from dccbridge.models.profile import ExecutionProfile, ProfileOptions, choose_profile
from dccbridge.models.prompt_cache import PromptEmbeddingCache
from dccbridge.models.tiny import build_tiny_taesd
from dccbridge.v1 import jobs_pb2, tasks_pb2

from conftest import generate_task, pixels, result_of, run_to_end, running_server
from test_adapters import adapters, make_lora, make_vae

CATALOG = """
default = "tiny"

[models.tiny]
family = "sd15"
source = "builtin:tiny"
preview_vae = "builtin:tiny-taesd"

[models.plain]
family = "sd15"
source = "builtin:tiny"

[models.plain.profile]
channels_last = true
vae_tiling_px = 64

[models.tiny-turbo]
family = "sd15"
source = "builtin:tiny-turbo"
default_steps = 1
default_guidance_scale = 0.0
default_scheduler = "euler_a"

[models.tiny-sdxl]
family = "sdxl"
source = "builtin:tiny-sdxl"
preview_vae = "builtin:tiny-taesdxl"

[families.sd15]
loras = "loras"
vaes = "vaes"
"""


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    (root / "loras").mkdir()
    make_lora(root / "loras" / "fewstep.safetensors", seed=11)  # stands in for an LCM-LoRA / Hyper-SD LoRA
    make_vae(12).save_pretrained(root / "vaes" / "other-vae")
    (root / "catalog.toml").write_text(CATALOG)
    return root / "catalog.toml"


@pytest.fixture(scope="module")
def speed_server(catalog_file, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("speed-data"), models=catalog_file) as srv:
        yield srv


@pytest.fixture(scope="module")
def uncached_server(catalog_file, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("uncached-data"), models=catalog_file, prompt_cache_size=0) as srv:
        yield srv


@pytest.fixture
def address(speed_server):  # conftest's `client` connects here
    return f"127.0.0.1:{speed_server.port}"


def run(client, **fields):
    result = result_of(run_to_end(client, generate_task(**fields)))
    return [pixels(image.image.data) for image in result.images], json.loads(result.metadata_json), result


class UnetBatches:
    """The batch size of every UNet call of a loaded model while active."""

    def __init__(self, server, model_id: str):
        self.unet = server.manager.load(model_id).pipeline.unet
        self.sizes: list[int] = []

    def __enter__(self):
        self.handle = self.unet.register_forward_pre_hook(
            lambda module, args, kwargs: self.sizes.append(int(args[0].shape[0])), with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# -- the profile ------------------------------------------------------------------------------------


def test_profiles_per_device_and_flags():
    cuda = choose_profile(torch.device("cuda"), torch.float16)
    assert (cuda.channels_last, cuda.attention, cuda.vae_tiling_px, cuda.compile) == (True, "sdpa", 2048, False)
    assert choose_profile(torch.device("mps"), torch.float16).channels_last is False
    cpu = choose_profile(torch.device("cpu"), torch.float32, ProfileOptions(threads=1))
    assert (cpu.dtype, cpu.channels_last, cpu.vae_tiling_px, cpu.threads) == ("float32", False, 0, 1)
    off = choose_profile(torch.device("cuda"), torch.bfloat16,
                         ProfileOptions(channels_last=False, vae_tiling_px=0, compile=True))
    assert (off.dtype, off.channels_last, off.vae_tiling_px, off.compile) == ("bfloat16", False, 0, True)
    assert off.summary() == "cuda bfloat16, attention sdpa, vae tiling off, compile on"
    for bad, flag in ((dict(vae_tiling_px=100), "--vae-tiling"), (dict(threads=0), "--threads"),
                      (dict(attention="flash"), "--attention")):
        with pytest.raises(ValueError, match=flag):
            ProfileOptions(**bad)


@pytest.mark.parametrize(("table", "phrase"), [
    ("fast = true", "models.m.profile: unknown key(s) ['fast']"),
    ("compile = 1", "models.m.profile.compile: must be true or false"),
    ("vae_tiling_px = 100", "models.m.profile.vae_tiling_px"),
    ('attention = "xformers"', "models.m.profile.attention"),
])
def test_catalog_profile_switches_are_checked(tmp_path, table, phrase):
    path = tmp_path / "c.toml"
    path.write_text(f'[models.m]\nsource = "builtin:tiny"\n[models.m.profile]\n{table}\n')
    with pytest.raises(ValueError) as caught:
        Catalog.from_toml(path)
    assert phrase in str(caught.value)


def test_capabilities_show_the_profile_per_model(client):
    caps = client.capabilities()
    assert caps.device.profile.startswith("cpu float32, attention sdpa, vae tiling off, compile off")
    models = {m.id: m for m in caps.models}
    assert models["tiny"].profile == caps.device.profile and models["tiny"].taesd_previews
    assert "channels_last" in models["plain"].profile and "vae tiling >64 px" in models["plain"].profile
    assert not models["plain"].taesd_previews


def test_provenance_records_the_profile_and_catalog_switches_apply(client, speed_server):
    _, metadata, _ = run(client)
    assert metadata["profile"] == {"device": "cpu", "dtype": "float32", "channels_last": False, "attention": "sdpa",
                                   "vae_tiling_px": 0, "compile": False, "threads": torch.get_num_threads(),
                                   "compile_mode": "default"}
    _, plain, _ = run(client, model_id="plain", size=128)  # 128 > 64: the VAE decodes in tiles
    assert plain["profile"]["channels_last"] is True and plain["profile"]["vae_tiling_px"] == 64
    vae = speed_server.manager.load("plain").pipeline.vae
    assert vae.use_tiling and vae.tile_sample_min_size == 64 and vae.tile_latent_min_size == 8
    unet = speed_server.manager.load("plain").pipeline.unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not speed_server.manager.load("tiny").pipeline.vae.use_tiling
    # A job's VAE override decodes under the model's profile too.
    _, with_vae, _ = run(client, model_id="plain", size=128, adapters=adapters(vae_id="other-vae"))
    assert with_vae["adapters"]["vae"]["id"] == "other-vae"
    file = speed_server.manager.catalog.adapters.available("vaes", "sd15")[0]
    override = speed_server.manager.adapters.load_vae(file, vae)  # the cached one the job used
    assert override.use_tiling and override.tile_sample_min_size == 64
    assert override.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


# -- previews ---------------------------------------------------------------------------------------


def previews(client, **fields) -> list[np.ndarray]:
    events = run_to_end(client, generate_task(steps=3, **fields), jobs_pb2.JobOptions(preview_every_n_steps=1))
    found = [np.array(Image.open(io.BytesIO(e.progress.preview.data)))
             for e in events if e.WhichOneof("event") == "progress" and e.progress.preview.data]
    assert len(found) == 3, "one preview per step"
    return found


def test_taesd_previews_arrive_at_image_size_and_the_linear_map_at_latent_size(client):
    taesd = previews(client, size=64)
    assert all(p.shape == (64, 64, 3) for p in taesd)  # TAESD decodes 8x, like the VAE
    assert not np.array_equal(taesd[0], taesd[-1])    # each step's latents
    linear = previews(client, model_id="plain", size=64)
    assert all(p.shape == (16, 16, 3) for p in linear)  # the linear map: latent size x 2
    xl = previews(client, model_id="tiny-sdxl", size=64)
    assert all(p.shape == (64, 64, 3) for p in xl)


def test_the_preview_decoder_is_taesd_and_shrinks_to_the_preview_size():
    vae = build_tiny_taesd()
    decoder = PreviewDecoder(vae, "builtin:tiny-taesd")
    latents = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected = ((vae.decode(latents[-1:]).sample[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    full = decoder.decode(latents, max_side=256)
    assert np.array_equal(full, expected.permute(1, 2, 0).numpy())  # the last image of the batch, 8x
    assert decoder.decode(latents, max_side=64).shape == (64, 64, 3)  # latents shrunk before decoding
    # The original taesd repository's decoder file layout loads into diffusers' AutoencoderTiny.
    original = {f"{int(k.split('.')[2]) + 1}.{k.split('.', 3)[3]}": v for k, v in vae.state_dict().items()
                if k.startswith("decoder.layers.")}
    assert set(_diffusers_keys(original)) == {k for k in vae.state_dict() if k.startswith("decoder.")}


# -- few-step sampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["lcm", "tcd"])
def test_lcm_and_tcd_run_few_steps(client, scheduler):
    images, metadata, result = run(client, steps=2, scheduler=scheduler, guidance_scale=1.0)
    assert metadata["scheduler"] == scheduler and metadata["num_inference_steps"] == 2
    assert f"Sampler: {scheduler.upper()}" in result.images[0].parameters
    plain, _, _ = run(client, steps=2, scheduler="unipc", guidance_scale=1.0)
    assert not np.array_equal(images[0], plain[0])


def test_a_few_step_lora_from_the_catalog_with_lcm(client):
    base, _, _ = run(client, steps=4, scheduler="lcm", guidance_scale=1.0)
    with_lora, metadata, _ = run(client, steps=4, scheduler="lcm", guidance_scale=1.0,
                                 adapters=adapters("fewstep"))
    assert metadata["adapters"]["loras"][0]["id"] == "fewstep"
    assert not np.array_equal(base[0], with_lora[0])


def test_turbo_runs_one_step_with_one_unet_call(client, speed_server):
    task = tasks_pb2.Task(generate=tasks_pb2.GenerateTask(prompt="a red cube", width=64, height=64,
                                                           model_id="tiny-turbo"))
    with UnetBatches(speed_server, "tiny-turbo") as calls:
        result = result_of(run_to_end(client, task))
    metadata = json.loads(result.metadata_json)
    assert (metadata["num_inference_steps"], metadata["guidance_scale"], metadata["scheduler"]) == (1, 0.0, "euler_a")
    assert calls.sizes == [1]


@pytest.mark.parametrize(("guidance", "batch"), [(0.0, 1), (1.0, 1), (1.5, 2), (7.5, 2)])
def test_guidance_at_most_one_skips_classifier_free_guidance(client, speed_server, guidance, batch):
    with UnetBatches(speed_server, "tiny") as calls:
        run(client, steps=2, guidance_scale=guidance)
    assert calls.sizes == [batch, batch]


# -- prompt-embedding cache -------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["tiny", "tiny-sdxl"])
def test_a_cache_hit_gives_the_pixels_of_an_uncached_run(client, speed_server, uncached_server, model_id):
    fields = dict(model_id=model_id, prompt=f"cache me {model_id}", negative_prompt="blurry", num_images_per_prompt=2,
                  steps=2)
    cache = speed_server.manager.load(model_id).prompt_cache
    first, _, _ = run(client, **fields)
    hits = cache.hits
    second, _, _ = run(client, **fields)
    assert cache.hits == hits + 1  # the second job skipped the text encoders
    with Client(f"127.0.0.1:{uncached_server.port}") as other:
        uncached, _, _ = run(other, **fields)
    assert len(uncached_server.manager.load(model_id).prompt_cache) == 0
    for a, b, c in zip(first, second, uncached):
        assert np.array_equal(a, b) and np.array_equal(b, c)
    # No negative prompt: SDXL's zeroed negative embeddings, SD1.5's encoded empty prompt.
    no_negative = dict(fields, negative_prompt="")
    run(client, **no_negative)
    hit, _, _ = run(client, **no_negative)
    with Client(f"127.0.0.1:{uncached_server.port}") as other:
        assert np.array_equal(hit[0], run(other, **no_negative)[0][0])


def test_the_cache_key_holds_negative_prompt_guidance_and_text_adapters(client, speed_server):
    cache = speed_server.manager.load("tiny").prompt_cache
    run(client, prompt="keyed")
    misses = cache.misses
    run(client, prompt="keyed", negative_prompt="other")
    run(client, prompt="keyed", guidance_scale=1.0)
    with_lora, _, _ = run(client, prompt="keyed", adapters=adapters("fewstep"))
    assert cache.misses == misses + 3
    again, _, _ = run(client, prompt="keyed", adapters=adapters("fewstep"))
    assert cache.misses == misses + 3 and np.array_equal(with_lora[0], again[0])
    run(client, prompt="keyed", adapters=adapters(("fewstep", 0.5)))  # another LoRA weight: other embeddings
    assert cache.misses == misses + 4


def test_the_cache_is_a_bounded_lru():
    cache = PromptEmbeddingCache(max_entries=2)
    encoded = []

    def encoder(name):
        return lambda: (encoded.append(name) or (name,))

    for name in ("a", "b", "a", "c", "b"):
        cache.get_or_encode((name,), encoder(name))
    assert encoded == ["a", "b", "c", "b"] and len(cache) == 2  # "b" was evicted by "c" ("a" was used after it)
    off = PromptEmbeddingCache(max_entries=0)
    off.get_or_encode(("a",), encoder("x"))
    assert len(off) == 0


def test_profile_is_a_frozen_record():
    profile = ExecutionProfile("cpu", "float32", False, "sdpa", 0, False, 2)
    with pytest.raises(Exception):
        profile.compile = True  # type: ignore[misc]
    assert profile.for_model({"compile": True}).compile and not profile.compile


# -- the fp16-fix VAE -------------------------------------------------------------------------------


def test_an_fp16_vae_replaces_the_models_own_only_in_float16(tmp_path, caplog):
    from diffusers import AutoencoderKL

    from dccbridge.models import ModelManager
    from dccbridge.models.tiny import SDXL_VAE_CONFIG

    torch.manual_seed(9)
    AutoencoderKL(**dict(SDXL_VAE_CONFIG, force_upcast=False)).save_pretrained(tmp_path / "fix")
    (tmp_path / "c.toml").write_text(textwrap.dedent("""
        [models.xl]
        family = "sdxl"
        source = "builtin:tiny-sdxl"
        fp16_vae = "fix"

        [models.xl-missing]
        family = "sdxl"
        source = "builtin:tiny-sdxl"
        fp16_vae = "nope"

        [vaes.fix]
        family = "sdxl"
        source = "fix"
    """))
    catalog = Catalog.from_toml(tmp_path / "c.toml")
    half = ModelManager(catalog, device="cpu", dtype="float16")
    model = half.load("xl")
    assert model.vae_id == "fix" and model.pipeline.vae.config.force_upcast is False
    assert model.pipeline.vae.dtype == torch.float16
    with caplog.at_level("WARNING", logger="dccbridge.models"):
        missing = half.load("xl-missing")
    assert missing.vae_id == "" and "fp16_vae 'nope' not used" in caplog.text
    full = ModelManager(catalog, device="cpu").load("xl")  # float32: the model's own VAE, no upcast needed
    assert full.vae_id == "" and full.pipeline.vae.config.force_upcast is not False


# -- serve flags ------------------------------------------------------------------------------------


def test_serve_flags_set_the_profile_and_bad_ones_name_the_flag(tmp_path):
    from test_cli import DCCBRIDGE, start_server_process

    process, address = start_server_process(tmp_path / "data", "--no-http", "--no-channels-last", "--vae-tiling",
                                            "512", "--threads", "1", "--prompt-cache", "0", "--dtype", "float32")
    try:
        with Client(address) as client:
            profile = client.capabilities().device.profile
        assert profile == "cpu float32, attention sdpa, vae tiling >512 px, compile off, 1 threads"
    finally:
        process.terminate()
        process.wait(timeout=60)
    import subprocess

    bad = subprocess.run([*DCCBRIDGE, "serve", "--port", "0", "--no-http", "--data-dir", str(tmp_path / "bad"),
                          "--vae-tiling", "100"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--vae-tiling must be 0 (off) or a positive multiple of 8" in bad.stderr
